"""Render one post's Markdown to HTML: the one expensive step of a build.

blogkeeper owns fences and math: fenced blocks and `$…$` / `$$…$$` are replaced by
placeholders, markdown2 renders the prose, then the placeholders are swapped for
Pygments-highlighted code and latex2mathml MathML. Pure: text in, HTML out, no I/O.
"""

from __future__ import annotations

import hashlib
import html
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser

import latex2mathml
import latex2mathml.converter
import markdown2
import pygments
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from blogkeeper.errors import BuildError, ContentError
from blogkeeper.fences import Fence, scan

# Bump when a change here changes the HTML for the same Markdown (the render cache key).
RENDER_VERSION = "2"

EXTRAS = {
    "footnotes": None,
    "tables": None,
    "header-ids": None,
    "strike": None,
    "task_list": None,
}
HIGHLIGHT = {"cssclass": "highlight", "wrapcode": True}
OUTPUT_LANG = "output"


@dataclass(frozen=True)
class Rendered:
    """A post body as HTML, and its intro (above the fold) with ids removed."""

    html: str
    intro: str
    folded: bool


@dataclass
class _Swaps:
    """Placeholder tokens and the HTML each stands for."""

    nonce: str
    html: dict[str, str]

    def add(self, fragment: str) -> str:
        token = f"bk{self.nonce}x{len(self.html)}z"
        self.html[token] = fragment
        return token


def render_markdown(body: str, fold: int | None, source: str, body_line: int) -> Rendered:
    """Render `body`; errors name `source` at lines counted from `body_line`."""
    lines = body.split("\n")
    swaps = _Swaps(hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:10], {})
    fold_token = f"bk{swaps.nonce}fold"
    if fold is None:
        fold = _auto_fold(lines, scan(lines))
        folded = False
    else:
        folded = True
    prepared = _prepare(lines, fold, fold_token, swaps, source, body_line)
    try:
        converted = _markdown().convert(prepared)
    except RecursionError:
        raise BuildError(
            [ContentError(source, None, "Markdown nested too deeply to render")]
        ) from None
    except Exception as exc:  # markdown2 has no error type of its own
        raise BuildError([ContentError(source, None, f"markdown2 failed: {exc!r}")]) from None
    full = _unique_ids(_swap_in(str(converted), swaps))
    head, sep, _ = full.partition(f"<p>{fold_token}</p>")
    full = full.replace(f"<p>{fold_token}</p>\n", "").replace(f"<p>{fold_token}</p>", "")
    intro = _close_tags(head) if sep else full
    return Rendered(html=full, intro=_strip_ids(intro).strip() + "\n", folded=folded)


class _Markdown(markdown2.Markdown):  # type: ignore[misc]
    """A reusable converter whose every `convert` starts from a clean state.

    markdown2 2.5.5 fills `_escape_table` (protected URLs) and `_code_table` (code spans)
    in `__init__` only, so a reused converter accumulates them: every later post scans
    all earlier posts' entries (quadratic), and its output could depend on what was
    rendered before it in the same process. Reset them with the rest of the state.
    """

    def reset(self) -> None:
        super().reset()
        self._escape_table = markdown2.g_escape_table.copy()
        self._code_table: dict[str, str] = {}

    def _encode_backslash_escapes(self, text: str) -> str:
        # Called for every span of text; without a backslash it replaces nothing.
        return super()._encode_backslash_escapes(text) if "\\" in text else text

    def _encode_email_address(self, addr: str) -> str:
        # markdown2 hides an address behind entities chosen at random, so the same post
        # rendered differently on every build. Choose them the same way every time.
        rng = random.Random(addr)
        chars = [_entity(ch, rng.random()) for ch in "mailto:" + addr]
        return '<a href="{}">{}</a>'.format("".join(chars), "".join(chars[7:]))


def _entity(ch: str, roll: float) -> str:
    """markdown2's rule: about 10% as is, 45% hex, 45% decimal; `@` and `_` always encoded."""
    if roll > 0.9 and ch not in "@_":
        return ch
    if roll < 0.45:
        return f"&#{hex(ord(ch))[1:]};"
    return f"&#{ord(ch)};"


def options() -> dict[str, object]:
    """Every setting that shapes the HTML, for the render cache's key."""
    return {"extras": EXTRAS, "highlight": HIGHLIGHT, "output_lang": OUTPUT_LANG}


def versions() -> dict[str, str]:
    """The versions of everything whose change can change the HTML of the same text."""
    from blogkeeper import __version__

    return {
        "render": RENDER_VERSION,
        "blogkeeper": __version__,
        "markdown2": markdown2.__version__,
        "pygments": pygments.__version__,
        "latex2mathml": latex2mathml.__version__,
    }


@lru_cache(maxsize=1)
def _markdown() -> markdown2.Markdown:
    return _Markdown(extras=dict(EXTRAS))


def _prepare(
    lines: list[str],
    fold: int | None,
    fold_token: str,
    swaps: _Swaps,
    source: str,
    body_line: int,
) -> str:
    fences = {f.start: f for f in scan(lines)}
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if index in fences:
            fence = fences[index]
            token = swaps.add(highlight_fence(fence))
            out += ["", fence.indent + token, ""]
            index = fence.end + 1
            continue
        if index == fold:
            out += ["", fold_token, ""]
        elif line.lstrip().startswith("$$") and _display_math_end(lines, index) is not None:
            end = _display_math_end(lines, index)
            assert end is not None
            latex = "\n".join(lines[index : end + 1]).strip()[2:-2]
            indent = line[: len(line) - len(line.lstrip())]
            mathml = _math(latex, "block", source, body_line + index)
            out += ["", indent + swaps.add(mathml), ""]
            index = end + 1
            continue
        else:
            out.append(_inline_math(line, swaps, source, body_line + index))
        index += 1
    return "\n".join(out)


def _display_math_end(lines: list[str], start: int) -> int | None:
    """The line that closes a `$$` block opened on line `start`, or None."""
    first = lines[start].strip()
    if len(first) > 2 and first.endswith("$$") and first.count("$$") == 2:
        return start if first.startswith("$$") and first.endswith("$$") else None
    for end in range(start + 1, min(len(lines), start + 200)):
        if lines[end].rstrip().endswith("$$"):
            return end
        if not lines[end].strip():
            return None
    return None


_CODE_SPAN = re.compile(r"(`+)(?:.+?)(?<!`)\1(?!`)")
_INLINE_MATH = re.compile(r"(?<![\\$\w])\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]*?[^\s\\])\$(?![\d$])")


def _inline_math(line: str, swaps: _Swaps, source: str, line_no: int) -> str:
    if "$" not in line:
        return line
    parts = []
    last = 0
    for span in _CODE_SPAN.finditer(line):
        parts.append(_math_in_text(line[last : span.start()], swaps, source, line_no))
        parts.append(span.group(0))
        last = span.end()
    parts.append(_math_in_text(line[last:], swaps, source, line_no))
    return "".join(parts)


def _math_in_text(text: str, swaps: _Swaps, source: str, line_no: int) -> str:
    def replace(match: re.Match[str]) -> str:
        display = match.group(1) is not None
        latex = match.group(1) if display else match.group(2)
        return swaps.add(_math(latex, "block" if display else "inline", source, line_no))

    return _INLINE_MATH.sub(replace, text).replace("\\$", "$")


def _math(latex: str, display: str, source: str, line_no: int) -> str:
    try:
        return _mathml(latex.strip(), display)
    except Exception as exc:  # latex2mathml raises a family of its own plus plain errors
        message = f"cannot render math ${latex.strip()}$: {type(exc).__name__} {exc}".strip()
        raise BuildError([ContentError(source, line_no, message)]) from None


@lru_cache(maxsize=4096)
def _mathml(latex: str, display: str) -> str:
    # Posts repeat their formulas; latex2mathml costs about a millisecond for each.
    return str(latex2mathml.converter.convert(latex, display=display))


_FORMATTER = HtmlFormatter(**HIGHLIGHT)


@lru_cache(maxsize=256)
def _lexer(lang: str) -> Lexer | None:
    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None


@lru_cache(maxsize=4096)
def _highlight(lang: str, code: str) -> str:
    if lang == OUTPUT_LANG:
        return (
            '<pre class="output" tabindex="0"><samp>'
            + html.escape(code, quote=False)
            + "</samp></pre>\n"
        )
    lexer = _lexer(lang) if lang else None
    if lexer is None:
        label = f' data-lang="{html.escape(lang)}"' if lang else ""
        return (
            f'<div class="highlight"{label}><pre tabindex="0"><code>'
            + html.escape(code, quote=False)
            + "</code></pre></div>\n"
        )
    out = highlight(code, lexer, _FORMATTER)
    out = out.replace('<div class="highlight">', f'<div class="highlight" data-lang="{lang}">', 1)
    return out.replace("<pre>", '<pre tabindex="0">', 1).replace("<span></span>", "", 1)


def highlight_fence(fence: Fence) -> str:
    """A fence as HTML; its options never change how it renders."""
    return _highlight(fence.lang, fence.code)


def stylesheet() -> str:
    """Pygments colours for light mode and, under prefers-color-scheme, dark mode."""
    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="monokai").get_style_defs(".highlight")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"


# Any placeholder; one of another nonce is left as it is (compiling one per post is slow).
_TOKEN = re.compile(r"<p>(bk[0-9a-f]{10}x\d+z)</p>|(bk[0-9a-f]{10}x\d+z)")


def _swap_in(text: str, swaps: _Swaps) -> str:
    if not swaps.html:
        return text

    def replace(match: re.Match[str]) -> str:
        return swaps.html.get(match.group(1) or match.group(2), match.group(0))

    return _TOKEN.sub(replace, text)


_ID = re.compile(r'\sid="([^"]*)"')


def _unique_ids(text: str) -> str:
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        value = match.group(1)
        candidate, number = value, 1
        while candidate in seen:
            number += 1
            candidate = f"{value}-{number}"
        seen.add(candidate)
        return f' id="{candidate}"'

    return _ID.sub(replace, text)


def _strip_ids(text: str) -> str:
    return _ID.sub("", text)


def _auto_fold(lines: list[str], fences: list[Fence]) -> int | None:
    """Without `<!--more-->` the intro is the first paragraph: fold after it."""
    starts = {f.start: f.end for f in fences}
    index, in_paragraph = 0, False
    while index < len(lines):
        if index in starts:
            index = starts[index] + 1
            in_paragraph = False
            continue
        line = lines[index]
        if in_paragraph and not line.strip():
            return index
        if not in_paragraph and line.strip() and not re.match(r"\s|[#>|<*+\-]|\d+[.)]\s|\$\$", line):
            in_paragraph = True
        index += 1
    return None


_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _OpenTags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass


def _close_tags(fragment: str) -> str:
    """`fragment` with any elements left open by the fold closed again."""
    parser = _OpenTags()
    parser.feed(fragment)
    parser.close()
    return fragment + "".join(f"</{tag}>" for tag in reversed(parser.stack))
