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
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

import markdown2
import pygments

from blogkeeper.errors import BuildError, ContentError
from blogkeeper.fences import (
    Fence,
    inner_fences,
    is_fold,
    output_options,
    quote_end,
    run_options,
    scan,
    unquote,
)

# Imported where used, not here: latex2mathml, pygments.formatters, pygments.lexers and
# blogkeeper.deadline. A build whose posts are all in the cache imports this module (for
# `link_fragments` and the stylesheet) but renders nothing.

EXTRAS = {
    "footnotes": None,
    "tables": None,
    "header-ids": None,
    "strike": None,
    "task_list": None,
}
HIGHLIGHT = {"cssclass": "highlight", "wrapcode": True}
OUTPUT_LANG = "output"
# markdown2 recurses per level and hits RecursionError near 170 levels; real posts use < 10.
MAX_NESTING = 50
# A post's render is stopped after this long (markdown2 2.5.5 has exponential paths, #707).
RENDER_SECONDS = 5.0


@dataclass(frozen=True)
class Rendered:
    """A post body as HTML, its intro (above the fold) with ids removed, and the
    warnings rendering it gave."""

    html: str
    intro: str
    folded: bool
    warnings: tuple[ContentError, ...] = ()


@dataclass
class _Swaps:
    """Placeholder tokens, the HTML each stands for, and its plain form for attributes."""

    nonce: str
    html: dict[str, str]
    plain: dict[str, str] = field(default_factory=dict)

    def add(self, fragment: str, plain: str = "") -> str:
        token = f"bk{self.nonce}x{len(self.html)}z"
        self.html[token] = fragment
        # markdown2 copies heading text into ids: `# The $O(n)$ trick` -> "the-o-n-trick".
        self.plain[token] = re.sub(r"\W+", "-", plain).strip("-").lower()
        return token


def render_markdown(body: str, fold: int | None, source: str, body_line: int) -> Rendered:
    """Render `body` within RENDER_SECONDS; errors name `source` at lines from `body_line`."""
    from blogkeeper.deadline import Overrun, call_with_deadline  # multiprocessing: on a miss

    check_nesting(body, source, body_line)
    try:
        return call_with_deadline(RENDER_SECONDS, _render, body, fold, source, body_line)
    except Overrun:
        message = f"Markdown took longer than {RENDER_SECONDS:g} s to render; stopped"
        hint = "markdown2 is very slow on long runs of unclosed HTML tags like `<p a=1 a=1 …`"
        error = ContentError(source, None, message, hint + "; put such text in code")
        raise BuildError([error]) from None


def _render(body: str, fold: int | None, source: str, body_line: int) -> Rendered:
    lines = body.split("\n")
    swaps = _Swaps(hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:10], {})
    fold_token = f"bk{swaps.nonce}fold"
    fences = scan(lines)
    if fold is None:
        fold = _auto_fold(lines, [f for f in fences if not f.depth])
        folded = False
    else:
        folded = True
    prepared = _prepare(lines, fences, fold, fold_token, swaps, (source, body_line))
    try:
        converted = _convert(prepared, swaps.nonce)
    except RecursionError:
        raise BuildError(
            [ContentError(source, None, "Markdown nested too deeply to render")]
        ) from None
    except Exception as exc:  # markdown2 has no error type of its own
        raise BuildError([ContentError(source, None, f"markdown2 failed: {exc!r}")]) from None
    full = _unique_ids(_swap_in(_label_tasks(str(converted)), swaps))
    # markdown2 wraps the fold token in <p>, except inside a raw HTML block it passes through.
    marker = f"<p>{fold_token}</p>" if f"<p>{fold_token}</p>" in full else fold_token
    head, sep, _ = full.partition(marker)
    full = full.replace(marker + "\n", "").replace(marker, "")
    intro = _close_tags(head) if sep else full
    return Rendered(html=full, intro=_strip_ids(intro).strip() + "\n", folded=folded)


def _convert(text: str, seed: str) -> str:
    """markdown2's HTML for `text`, the same on every build.

    A new converter each time: markdown2 keeps tables from earlier conversions in a
    reused one. markdown2 hides an e-mail address behind entities chosen by `random`, so
    the generator is seeded from the post for the conversion and then put back as it was.
    """
    state = random.getstate()
    random.seed(seed)
    try:
        return str(markdown2.Markdown(extras=dict(EXTRAS)).convert(text))
    finally:
        random.setstate(state)


def _prepare(
    lines: list[str],
    fences: list[Fence],
    fold: int | None,
    fold_token: str,
    swaps: _Swaps,
    where: tuple[str, int],
) -> str:
    """`lines` with code and math swapped for placeholders; `fences` are `scan(lines)`,
    and `where` is the post's path and the post line of `lines[0]`."""
    top = {f.start: f for f in fences if not f.depth}
    out: list[str] = []
    index = 0
    while index < len(lines):
        if index == fold:
            out += ["", fold_token, ""]
            # An automatic fold may sit on the fence or `$$` line that ends the paragraph.
            if not lines[index].strip() or is_fold(lines[index]):
                index += 1
                continue
        if index in top:
            block, index = _code(top[index], swaps, where)
        else:
            block, index = _block(lines, index, fences, top.keys(), swaps, where)
        out += block
    return "\n".join(out)


def _block(
    lines: list[str],
    index: int,
    fences: list[Fence],
    starts: Collection[int],
    swaps: _Swaps,
    where: tuple[str, int],
) -> tuple[list[str], int]:
    """The prepared lines of the block that starts at `index`, and the index after it."""
    source, body_line = where
    line = lines[index]
    end = _display_math_end(lines, index, starts) if line.lstrip().startswith("$$") else None
    if end is not None:
        latex = "\n".join(lines[index : end + 1]).strip()[2:-2]
        indent = line[: len(line) - len(line.lstrip())]
        mathml = _math(latex, "block", source, body_line + index)
        return ["", indent + swaps.add(_scrollable_math(mathml), latex), ""], end + 1
    if line.startswith(">"):
        return _quote(lines, index, fences, swaps, where)
    return [_inline_math(line, swaps, source, body_line + index)], index + 1


def _code(fence: Fence, swaps: _Swaps, where: tuple[str, int]) -> tuple[list[str], int]:
    if fence.lang == "python":  # check-code's options: a typo fails `build` too
        run_options(fence, where[0], where[1] + fence.start)
    elif fence.lang == OUTPUT_LANG:
        output_options(fence, where[0], where[1] + fence.start)
    return ["", fence.indent + swaps.add(highlight_fence(fence)), ""], fence.end + 1


def _quote(
    lines: list[str], start: int, fences: list[Fence], swaps: _Swaps, where: tuple[str, int]
) -> tuple[list[str], int]:
    """A blockquote prepared like a post of its own (so fences in it are code), re-quoted.
    Its fences are the ones `scan` found in it: the same blockquote rules, in fences.py."""
    end = quote_end(lines, start)
    inner = [unquote(line) for line in lines[start:end]]
    inside = inner_fences(fences, start, end)
    prepared = _prepare(inner, inside, None, "", swaps, (where[0], where[1] + start))
    return [f"> {line}" if line else ">" for line in prepared.split("\n")], end


def _display_math_end(lines: list[str], start: int, fences: Collection[int]) -> int | None:
    """The line that closes a `$$` block opened on line `start`, or None; a fence starting
    before it ends the search (that fence is code, as check-code sees it)."""
    first = lines[start].strip()
    if len(first) > 2 and first.endswith("$$") and first.count("$$") == 2:
        return start if first.startswith("$$") and first.endswith("$$") else None
    for end in range(start + 1, min(len(lines), start + 200)):
        if lines[end].rstrip().endswith("$$"):
            return end
        if not lines[end].strip() or end in fences:
            return None
    return None


_QUOTES = re.compile(r"(?:[ \t]*>)+")
_LIST_ITEM = re.compile(r"([ \t]*)(?:[*+-]|\d{1,9}[.)])(?:[ \t]|$)")


def check_nesting(body: str, source: str, body_line: int) -> None:
    """A `path:line` error where quotes and lists nest deeper than MAX_NESTING."""
    lines = body.split("\n")
    fenced = {i for fence in scan(lines) for i in range(fence.start, fence.end + 1)}
    indents: list[int] = []
    for index, line in enumerate(lines):
        if index in fenced:
            continue
        quotes = _QUOTES.match(line)
        depth = quotes.group(0).count(">") if quotes else 0
        rest = line[quotes.end() :] if quotes else line
        item = _LIST_ITEM.match(rest)
        if item:
            indent = len(item.group(1).expandtabs(4))
            indents = [i for i in indents if i < indent] + [indent]
        elif rest.strip() and not rest[:1].isspace():
            indents = []
        if depth + (len(indents) if item else 0) > MAX_NESTING:
            message = f"quotes and lists nest more than {MAX_NESTING} levels deep here"
            raise BuildError([ContentError(source, body_line + index, message)])


_CODE_SPAN = re.compile(r"(`+)(?:.+?)(?<!`)\1(?!`)")
_INLINE_MATH = re.compile(
    r"(?<![\\$\w])\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]*?[^\s\\])\$(?![\d$])"
)


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
        return swaps.add(_math(latex, "block" if display else "inline", source, line_no), latex)

    return _INLINE_MATH.sub(replace, text).replace("\\$", "$")


def _scrollable_math(mathml: str) -> str:
    """Display math in a box that scrolls when too wide; focusable so keys can scroll it."""
    return f'<div class="math-display" tabindex="0">{mathml}</div>'


def _math(latex: str, display: str, source: str, line_no: int) -> str:
    try:
        return _mathml(latex.strip(), display)
    except Exception as exc:  # latex2mathml raises a family of its own plus plain errors
        message = f"cannot render math ${latex.strip()}$: {type(exc).__name__} {exc}".strip()
        raise BuildError([ContentError(source, line_no, message)]) from None


@lru_cache(maxsize=4096)
def _mathml(latex: str, display: str) -> str:
    """latex2mathml's MathML for `latex`, carrying its TeX twice: as `alttext` (what
    screen readers and some readers show) and as an `application/x-tex` annotation inside
    `<semantics>` (which renderers hide), so math still reads where MathML is stripped."""
    # Posts repeat their formulas; latex2mathml costs about a millisecond for each.
    import latex2mathml.converter  # here: a build whose posts are all cached needs none

    mathml = str(latex2mathml.converter.convert(latex, display=display))
    opening, _, rest = mathml.partition(">")
    inner = rest.removesuffix("</math>")
    tex = html.escape(latex)
    annotation = f'<annotation encoding="application/x-tex">{tex}</annotation>'
    return (
        f'{opening} alttext="{tex}"><semantics><mrow>{inner}</mrow>{annotation}</semantics></math>'
    )


# Pygments objects are made once per process and shared by every post it renders.
@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter  # here: only a post rendered needs it

    return HtmlFormatter(**HIGHLIGHT)


@lru_cache(maxsize=256)
def _lexer(lang: str) -> Any:
    """Pygments' lexer for a fence's language name, or None when Pygments has none.

    Looked up by name only: a fence without a known name is plain text, never guessed.
    """
    from pygments.lexers import get_lexer_by_name  # here: only a post rendered needs it
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None


# Posts repeat blocks (install commands, outputs); the memo is per process, keyed by
# exactly what the HTML depends on, and bounded.
@lru_cache(maxsize=4096)
def _highlight(lang: str, code: str) -> str:
    if lang == OUTPUT_LANG:
        return (
            '<pre class="output" tabindex="0"><samp>'
            + html.escape(code, quote=False)
            + "</samp></pre>\n"
        )
    label = f' data-lang="{html.escape(lang)}"' if lang else ""
    lexer = _lexer(lang) if lang else None
    if lexer is None:
        return (
            f'<div class="highlight"{label}><pre tabindex="0"><code>'
            + html.escape(code, quote=False)
            + "</code></pre></div>\n"
        )
    out = str(pygments.highlight(code, lexer, _formatter()))
    out = out.replace('<div class="highlight">', f'<div class="highlight"{label}>', 1)
    return out.replace("<pre>", '<pre tabindex="0">', 1).replace("<span></span>", "", 1)


def highlight_fence(fence: Fence) -> str:
    """A fence as HTML; its options never change how it renders."""
    return _highlight(fence.lang, fence.code)


# Chosen for contrast: every token colour is at least 4.5:1 on its style's background
# (tests/test_theme.py checks it), unlike "default" (4.51) and "monokai" (3.47).
# Light rules the dark style does not redefine must not leak into dark mode.
_DARK_RESET = (
    ".highlight [class] { color: inherit; background-color: transparent;"
    " font-style: normal; font-weight: normal; text-decoration: none; border: 0 }"
)


def stylesheet(light_style: str, dark_style: str) -> str:
    """Pygments colours for light mode and, on screens that prefer it, dark mode.

    Print always uses the light colours. Only background and token rules are emitted:
    Pygments' own `pre` and line-number rules would fight the theme.
    """
    light = _style_rules(light_style)
    dark = "\n".join(f"  {rule}" for rule in [_DARK_RESET, *_style_rules(dark_style)])
    return "\n".join([*light, "@media screen and (prefers-color-scheme: dark) {", dark, "}"]) + "\n"


def _style_rules(style: str) -> list[str]:
    from pygments.formatters import HtmlFormatter  # here: pages keep the stylesheet

    formatter = HtmlFormatter(style=style)
    rules = formatter.get_background_style_defs(".highlight")
    rules += formatter.get_token_style_defs(".highlight")
    return [re.sub(r"\s*/\*.*?\*/$", "", rule) for rule in rules]


_TASK = re.compile(
    r'<li>(<p>)?(<input type="checkbox" class="task-list-item-checkbox"[^>]*>)'
    r"(.*?)(?=</li>|</p>|<p>|<ul|<ol|<div|<pre|<blockquote|<table)",
    re.DOTALL,
)


def _label_tasks(text: str) -> str:
    """Give markdown2's task-list checkboxes their item's text as an accessible label."""

    def replace(match: re.Match[str]) -> str:
        para, box, label = match.group(1) or "", match.group(2), match.group(3)
        return f'<li class="task-list-item">{para}<label>{box}{label.rstrip()}</label>'

    return _TASK.sub(replace, text)


# Any placeholder; one of another nonce is left as it is (compiling one per post is slow).
_TOKEN = re.compile(r"<p>(bk[0-9a-f]{10}x\d+z)</p>|(bk[0-9a-f]{10}x\d+z)")
_BARE_TOKEN = re.compile(r"bk[0-9a-f]{10}x\d+z")


def _swap_in(text: str, swaps: _Swaps) -> str:
    if not swaps.html:
        return text

    def replace(match: re.Match[str]) -> str:
        return swaps.html.get(match.group(1) or match.group(2), match.group(0))

    # Inside a tag a token can only be in an attribute (an id), where HTML cannot go.
    text = _in_tags(
        text, _TOKEN_TAG, _BARE_TOKEN, lambda m: swaps.plain.get(m.group(0), m.group(0))
    )
    return _TOKEN.sub(replace, text)


# Attributes are rewritten only inside start tags: code and prose may show `id="x"` as text
# (markdown2 escapes `<` there but not quotes). A start tag runs to the next `>`, as HTML
# reads it: in `<a id="main"</p>` the `</p` is part of the tag, so that id is the a's.
_TAG = re.compile(r"<[a-zA-Z][^>]*>")
_ID = re.compile(r'\sid="([^"]*)"')
_FRAGMENT_HREF = re.compile(r'(\shref=")#')


def _tags_holding(needle: str) -> re.Pattern[str]:
    """The start tags `_TAG` finds that hold `needle`: the same spans, without the many
    tags (highlighted code's spans) that a pattern needing `needle` cannot change. A needle
    that starts with a literal keeps the scan fast."""
    return re.compile(r"<(?=[a-zA-Z])[^>]*?" + needle + r"[^>]*>")


_ID_TAG = _tags_holding(r'id="')
_FRAGMENT_HREF_TAG = _tags_holding(r'href="#')
_TOKEN_TAG = _tags_holding(_BARE_TOKEN.pattern)

# Ids the built-in templates use around a post's HTML (base.html: <main id="main">).
RESERVED_IDS = frozenset({"main"})


def _in_tags(
    text: str,
    tags: re.Pattern[str],
    pattern: re.Pattern[str],
    replace: str | Callable[..., str],
) -> str:
    return tags.sub(lambda tag: pattern.sub(replace, tag.group(0)), text)


def _unique_ids(text: str) -> str:
    seen: set[str] = set(RESERVED_IDS)

    def replace(match: re.Match[str]) -> str:
        value = match.group(1)
        candidate, number = value, 1
        while candidate in seen:
            number += 1
            candidate = f"{value}-{number}"
        seen.add(candidate)
        return f' id="{candidate}"'

    return _in_tags(text, _ID_TAG, _ID, replace)


def _strip_ids(text: str) -> str:
    return _in_tags(text, _ID_TAG, _ID, "")


def link_fragments(fragment: str, page: str) -> str:
    """`fragment` with its in-page links (`href="#…"`) pointing at `page` instead."""
    return _in_tags(fragment, _FRAGMENT_HREF_TAG, _FRAGMENT_HREF, lambda m: f"{m.group(1)}{page}#")


# Lines that cannot start the first paragraph: indented code, headings, quotes, tables,
# HTML blocks, list items, rules, setext underlines, `$$` math, link and footnote definitions.
_NOT_PROSE = re.compile(r"\s|[#>|<]|[*+-]\s|\d+[.)]\s|([-*_=][ \t]*){3,}$|\$\$|\[[^\]]+\]:")


def _auto_fold(lines: list[str], fences: list[Fence]) -> int | None:
    """Without `<!--more-->` the intro is the first paragraph: fold right after it."""
    starts = {f.start: f.end for f in fences}
    index, in_paragraph = 0, False
    while index < len(lines):
        line = lines[index]
        ends_paragraph = (
            not line.strip() or index in starts or re.match(r"\$\$|#{1,6}(\s|$)", line.lstrip())
        )
        if in_paragraph and ends_paragraph:
            return index
        if index in starts:
            index = starts[index] + 1
            continue
        if not in_paragraph and line.strip() and not _NOT_PROSE.match(line):
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


# A whole comment (`<!-->` and `<!--->` are whole), as browsers read one.
_WHOLE_COMMENT = re.compile(r"<!--(?:>|->|.*?--!?>)", re.DOTALL)


def _close_tags(fragment: str) -> str:
    """`fragment` with any comment and elements left open by the fold closed again.

    The fold skips commented-out `<!--more-->` lines, but an automatic fold can still
    end a paragraph that opened a comment: an intro left inside `<!--` would hide the
    rest of the front page.
    """
    if "<!--" in _WHOLE_COMMENT.sub("", fragment):
        fragment += "-->"
    parser = _OpenTags()
    # HTMLParser (before Python 3.13) asserts on a `<![` it cannot name; HTML reads one
    # as a bogus comment, which opens nothing: the parser sees it as text.
    parser.feed(fragment.replace("<![", "&lt;!["))
    parser.close()
    return fragment + "".join(f"</{tag}>" for tag in reversed(parser.stack))
