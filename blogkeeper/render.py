r"""Render one post's Markdown to HTML: the one expensive step of a build.

blogkeeper owns fences, math and explicit heading ids: fenced blocks and math (`$…$`,
`$$…$$`, `\(…\)`, `\[…\]`) are replaced by placeholders, a heading's `{#id}` by a
marker, markdown2 renders the prose, then the placeholders are swapped for
Pygments-highlighted code and each formula's MathML (`tex`: latex2mathml, or for TeX it
cannot convert the TeX source and a warning) and the marked headings get their ids.
Pure: text in, HTML out, no I/O.
"""

from __future__ import annotations

import hashlib
import html
import random
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

import markdown2
import pygments

from blogkeeper import tex
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.fences import (
    Fence,
    indented_code,
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
    """Placeholder tokens, the HTML each stands for, and its plain form for attributes;
    the explicit heading ids by their marker token, the post line of each id, the
    warnings rendering gave, its errors (all of a post's are reported together), and
    the TeX macros the post's formulas defined so far."""

    nonce: str
    html: dict[str, str]
    plain: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    id_lines: dict[str, int] = field(default_factory=dict)
    warnings: list[ContentError] = field(default_factory=list)
    errors: list[ContentError] = field(default_factory=list)
    macros: list[str] = field(default_factory=list)  # TeX macros defined so far

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
        hint = (
            "markdown2 slows down badly on some long inputs: thousands of links in one post, "
            "or long runs of unclosed HTML tags like `<p a=1 a=1 …`; split the post, or put "
            "such text in code"
        )
        error = ContentError(source, None, message, hint)
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
    if swaps.errors:
        raise BuildError(swaps.errors)
    try:
        converted = _convert(prepared, swaps.nonce)
    except RecursionError:
        raise BuildError(
            [ContentError(source, None, "Markdown nested too deeply to render")]
        ) from None
    except Exception as exc:  # markdown2 has no error type of its own
        raise BuildError([_markdown2_error(lines, fences, source, body_line, exc)]) from None
    marked = _mark_heading_ids(_label_tasks(str(converted)), swaps)
    full = _unmarked(_unique_ids(_swap_in(marked, swaps), swaps.ids), swaps)
    # markdown2 wraps the fold token in <p>, except inside a raw HTML block it passes through.
    marker = f"<p>{fold_token}</p>" if f"<p>{fold_token}</p>" in full else fold_token
    head, sep, _ = full.partition(marker)
    full = full.replace(marker + "\n", "").replace(marker, "")
    intro = _close_tags(head) if sep else full
    intro = _strip_ids(intro).strip() + "\n"
    return Rendered(html=full, intro=intro, folded=folded, warnings=tuple(swaps.warnings))


def _markdown2_error(
    lines: list[str], fences: list[Fence], source: str, body_line: int, exc: Exception
) -> ContentError:
    """The error for markdown2 failing on a post: at the first HTML start tag left open at
    the end of its line when there is one (markdown2 asserts on such tags that `_block`
    cannot join: one holding a blank line, or longer than TAG_LINES lines)."""
    message = f"markdown2 failed: {exc!r}"
    code = {i for f in fences for i in range(f.start, f.end + 1)}
    for start, end in indented_code(lines, fences).items():
        code.update(range(start, end + 1))
    for index, line in enumerate(lines):
        tag = _START_TAG.match(line)
        if tag and index not in code and not _in_tag(line[tag.end() :], "")[1]:
            hint = "write the start tag on one line, its attributes and `>` included"
            where = f" on the HTML tag `{tag.group(0).strip()}` that starts here"
            return ContentError(source, body_line + index, message + where, hint)
    return ContentError(source, None, message)


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
    # Indented code is markdown2's to render as code: no math, no `{#id}` in it.
    indented = indented_code(lines, fences)
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
        elif index in indented:
            block, index = lines[index : indented[index] + 1], indented[index] + 1
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
    end = _display_math_end(lines, index, starts)
    if end is not None:
        latex = "\n".join(lines[index : end + 1]).strip()[2:-2]
        indent = line[: len(line) - len(line.lstrip())]
        shown = _math(latex, "block", swaps, (source, body_line + index), boxed=True)
        return ["", indent + swaps.add(shown, latex), ""], end + 1
    if line.startswith(">"):
        return _quote(lines, index, fences, swaps, where)
    marker = ""
    following = lines[index + 1] if index + 1 < len(lines) else ""
    if (heading := heading_id(line, following)) is not None:
        line, marker = _heading_marker(heading, swaps, source, body_line + index)
    if (tag_end := _start_tag_end(lines, index)) is not None:
        joined = _one_line_tag(lines[index : tag_end + 1])
        return [_inline_math(joined, swaps, source, body_line + index)], tag_end + 1
    end = _inline_math_end(lines, index, starts)
    text = "\n".join([line, *lines[index + 1 : end + 1]])
    return [_inline_math(text, swaps, source, body_line + index) + marker], end + 1


def _code(fence: Fence, swaps: _Swaps, where: tuple[str, int]) -> tuple[list[str], int]:
    try:
        if fence.is_python:  # check-code's options: a typo fails `build` too
            run_options(fence, where[0], where[1] + fence.start)
        elif fence.lang == OUTPUT_LANG:
            output_options(fence, where[0], where[1] + fence.start)
    except BuildError as exc:
        swaps.errors += exc.errors
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
    # A bare `>` cannot open a blockquote for markdown2 (it becomes a paragraph "&gt;"):
    # the blank line that display math or code starting the quote brings is dropped.
    quoted = prepared.lstrip("\n").split("\n")
    return [f"> {line}" if line else ">" for line in quoted], end


# An HTML start tag at the start of a line: markdown2 2.5.5 fails an assertion in its
# raw-HTML block handling when a block tag's attributes run onto the next line.
_START_TAG = re.compile(r"[ \t]{0,3}<[a-zA-Z][a-zA-Z0-9-]*(?=[\s/>]|$)")
# How many lines a start tag may run over.
TAG_LINES = 20


def _start_tag_end(lines: list[str], start: int) -> int | None:
    """The line that ends an HTML start tag opened at the start of line `start` and not
    closed on it, or None (no such tag, or no `>` within TAG_LINES non-blank lines)."""
    match = _START_TAG.match(lines[start])
    if match is None:
        return None
    quote = ""
    for index in range(start, min(len(lines), start + TAG_LINES)):
        line = lines[index][match.end() :] if index == start else lines[index]
        if index > start and not line.strip():
            return None
        quote, closed = _in_tag(line, quote)
        if closed:
            return None if index == start else index
    return None


def _in_tag(text: str, quote: str) -> tuple[str, bool]:
    """Reading `text` inside a start tag, within the quote `quote` ("" for none): the
    quote it ends within, and whether a `>` outside quotes ends the tag."""
    after_equals = False  # a quote opens a value only right after `=` (`alt=it's` has none)
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'" and after_equals:
            quote = char
        elif char == ">":
            return quote, True
        if not char.isspace():
            after_equals = char == "=" and not quote
    return quote, False


def _one_line_tag(lines: list[str]) -> str:
    """A start tag's lines as one line, meaning the same: a line break between attributes
    becomes a space, one inside a quoted value `&#10;` (the same character)."""
    out, (quote, _) = lines[0], _in_tag(lines[0], "")
    for line in lines[1:]:
        out += "&#10;" + line if quote else " " + line.lstrip()
        quote, _ = _in_tag(line, quote)
    return out


# What closes each opener of display math on its own lines.
_DISPLAY = {"$$": "$$", "\\[": "\\]"}


def _display_math_end(lines: list[str], start: int, fences: Collection[int]) -> int | None:
    """The line that closes display math (`$$` or `\\[`) opened at the start of line
    `start`, or None; a fence starting before it ends the search (that fence is code, as
    check-code sees it)."""
    first = lines[start].strip()
    opener = first[:2]
    if opener not in _DISPLAY:
        return None
    closer = _DISPLAY[opener]
    if len(first) > 2 and closer in first[2:]:
        closed_here = first.endswith(closer) and first[2:].count(closer) == 1
        if closed_here and len(first) >= 4:
            return start
        if opener == "\\[":  # `\[x\] and more` is math inside a paragraph
            return None
    # An opener alone on its line opens a block that blank lines do not end, as in
    # kramdown; the next line holding the closer must end with it.
    alone = first == opener
    for end in range(start + 1, min(len(lines), start + 200)):
        line = lines[end].rstrip()
        if line.endswith(closer):
            return end
        if end in fences or (alone and closer in line) or (not alone and not line.strip()):
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


# --- explicit heading ids ----------------------------------------------------------------

# `## Heading {#id}` (an ATX heading, or the text line of a setext one) names its own id.
_HEADING_ID = re.compile(r"(?<!\\)[ \t]*\{#([^{}]*)\}[ \t]*$")
_SETEXT = re.compile(r"(?:=+|-{2,})[ \t]*$")
ID_PUNCTUATION = "-_.:"


def heading_id(line: str, following: str = "") -> tuple[str, str] | None:
    """(`line` without its `{#id}`, the id as written) when `line` is a heading that ends
    in `{#id}`: an ATX heading (`## Title {#id}`, at the start of the line as markdown2
    reads one) or a setext heading's text (`following` is its `===` or `---`); else None."""
    if not line.startswith("#"):
        setext = bool(line.strip()) and _SETEXT.match(following) is not None
        if not setext or _LIST_ITEM.match(line) or line[:1] in " \t>|":
            return None
    found = _HEADING_ID.search(line)
    if found is None:
        return None
    return line[: found.start()], found.group(1)


def valid_id(value: str) -> bool:
    """An explicit id is letters, marks and digits of any script, and `-_.:`; non-empty."""
    return bool(value) and all(
        char in ID_PUNCTUATION or unicodedata.category(char)[0] in "LMN" for char in value
    )


def _heading_marker(
    heading: tuple[str, str], swaps: _Swaps, source: str, line_no: int
) -> tuple[str, str]:
    """The heading's text and the marker that stands for its id; for an id that cannot
    be, the text and no marker, the error (`path:line`) in `swaps.errors`."""
    text, value = heading
    problem, hint = None, None
    if not valid_id(value):
        problem = f"heading id `{{#{value}}}` is not a valid id"
        hint = "an id is letters, digits and `-_.:`, without spaces; `\\{#` shows the braces"
    elif value in RESERVED_IDS:
        problem = f"heading id `{value}` is taken by the page around the post"
    elif value in swaps.id_lines:
        problem = f"heading id `{value}` is already used on line {swaps.id_lines[value]}"
        hint = "ids must be unique within a post"
    if problem:
        swaps.errors.append(ContentError(source, line_no, problem, hint))
        return text, ""
    token = f"bk{swaps.nonce}h{len(swaps.ids)}z"
    swaps.ids[token] = value
    swaps.id_lines[value] = line_no
    return text, " " + token


_MARKED_HEADING = re.compile(r'<h([1-6]) id="[^"]*">(.*?)[ \t]*(bk[0-9a-f]{10}h\d+z)</h\1>')
_ID_MARKER = re.compile(r" ?(bk[0-9a-f]{10}h\d+z)")


def _mark_heading_ids(text: str, swaps: _Swaps) -> str:
    """markdown2's headings that end in an id marker, with the marker as their id."""
    if not swaps.ids:
        return text

    def replace(match: re.Match[str]) -> str:
        level, inner, token = match.groups()
        if token not in swaps.ids:
            return match.group(0)
        return f'<h{level} id="{token}">{inner}</h{level}>'

    return _MARKED_HEADING.sub(replace, text)


def _unmarked(text: str, swaps: _Swaps) -> str:
    """`text` with the `{#id}` of any marker left (a heading markdown2 passed through as
    raw HTML) written back as it was."""
    if not swaps.ids:
        return text

    def replace(match: re.Match[str]) -> str:
        value = swaps.ids.get(match.group(1))
        return match.group(0) if value is None else f" {{#{value}}}"

    return _ID_MARKER.sub(replace, text)


_CODE_SPAN = re.compile(r"(`+)(?:.+?)(?<!`)\1(?!`)")
# `$$…$$`, `\[…\]` (display) and `\(…\)` (inline) may run over the lines of a paragraph;
# `$…$` stays on one line, so that `$5 and` on one line and `$6` on the next stay money.
_INLINE_MATH = re.compile(
    r"(?<![\\$\w])\$\$(?P<dollars>.+?)\$\$"
    r"|(?<!\\)\\\[(?P<brackets>.+?)\\\]"
    r"|(?<!\\)\\\((?P<parens>.+?)\\\)"
    r"|(?<![\\$\w])\$(?=\S)(?P<dollar>[^$\n]*?[^\s\\])\$(?![\d$])",
    re.DOTALL,
)
_OPENER = re.compile(r"(?<!\\)\\[(\[]|(?<![\\$\w])\$\$")
# A line that starts a block of its own: the paragraph math opened in ends before it.
_NEW_BLOCK = re.compile(r"[ \t]*(?:$|#|>|\$\$|\\\[|[*+-][ \t]|\d{1,9}[.)][ \t])")
# How many lines math opened in a paragraph may run over.
MATH_LINES = 50


def _inline_math_end(lines: list[str], start: int, fences: Collection[int]) -> int:
    """The line that closes every `$$`, `\\[` and `\\(` opened on line `start` and not
    closed there, within its paragraph; `start` itself when there is none or no such line."""
    if lines[start].startswith("#") or not _open_math(lines[start]):
        return start
    for end in range(start + 1, min(len(lines), start + MATH_LINES)):
        line = lines[end]
        if end in fences or is_fold(line) or not line.strip():
            return start
        if not _open_math("\n".join(lines[start : end + 1])):
            return end  # the closing line may look like a block of its own: `$$`
        if _NEW_BLOCK.match(line):
            return start
    return start


def _open_math(text: str) -> bool:
    if "$$" not in text and "\\(" not in text and "\\[" not in text:
        return False
    outside = _INLINE_MATH.sub("", _CODE_SPAN.sub("", text))
    return _OPENER.search(outside) is not None


def _inline_math(text: str, swaps: _Swaps, source: str, line_no: int) -> str:
    """`text` (lines of one paragraph, the first at post line `line_no`) with its math
    outside code spans swapped for placeholders, and `\\$` for `$`."""
    if "$" not in text and "\\(" not in text and "\\[" not in text:
        return text
    parts = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        where = (source, line_no + text.count("\n", 0, last))
        parts.append(_math_in_text(text[last : span.start()], swaps, where))
        parts.append(span.group(0))
        last = span.end()
    where = (source, line_no + text.count("\n", 0, last))
    parts.append(_math_in_text(text[last:], swaps, where))
    return "".join(parts)


def _math_in_text(text: str, swaps: _Swaps, where: tuple[str, int]) -> str:
    def replace(match: re.Match[str]) -> str:
        inline = match["parens"] if match["parens"] is not None else match["dollar"]
        latex = inline if inline is not None else match["dollars"] or match["brackets"]
        display = "inline" if inline is not None else "block"
        line = where[1] + text.count("\n", 0, match.start())
        return swaps.add(_math(latex, display, swaps, (where[0], line)), latex)

    return _INLINE_MATH.sub(replace, text).replace("\\$", "$")


def _scrollable_math(mathml: str) -> str:
    """Display math in a box that scrolls when too wide; focusable so keys can scroll it."""
    return f'<div class="math-display" tabindex="0">{mathml}</div>'


def _math(
    latex: str, display: str, swaps: _Swaps, where: tuple[str, int], boxed: bool = False
) -> str:
    """One formula's HTML: MathML, in a scrolling box when `boxed` (display math on lines
    of its own). TeX latex2mathml cannot convert is shown as its source, with a warning
    at `where` (the post's path and the formula's line)."""
    written = tex.unescape(latex.strip())
    # As in MathJax, a macro a formula defines holds in the formulas after it.
    macros = "".join(swaps.macros)
    definitions = tex.definitions(written)
    swaps.macros += [definition for _, _, definition in definitions]
    rest = written
    for start, end, _ in reversed(definitions):
        rest = rest[:start] + rest[end:]
    if definitions and not rest.strip():
        return ""  # only definitions: nothing to show, not even an empty box
    try:
        mathml = tex.mathml(written, display, macros)
    except Exception as exc:  # latex2mathml raises a family of its own plus plain errors
        swaps.warnings.append(tex.source_warning(written, exc, where))
        return tex.source_html(written, boxed)
    return _scrollable_math(mathml) if boxed else mathml


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
# exactly what the HTML depends on, and bounded: a worker holds it for the whole build,
# and a highlighted block can be tens of kilobytes (4,096 of them grew each worker of a
# 10,000-post build by some 100 MB).
@lru_cache(maxsize=256)
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


# markdown2's footnotes (2.5.5): a reference `<sup class="footnote-ref" id="fnref-X"><a
# href="#fn-X">`, and the note `<li id="fn-X">` with its back-link `<a href="#fnref-X"
# class="footnoteBackLink"`.
_FOOTNOTE_TAG = re.compile(r'<sup class="footnote-ref" id="|<li id="fn-')
_FOOTNOTE_LINKS = re.compile(
    r'(<sup class="footnote-ref" id="[^"]*"><a href="#)([^"]*)(">)'
    r'|(<a href="#)([^"]*)(" class="footnoteBackLink")'
)


def _unique_ids(text: str, explicit: dict[str, str] | None = None) -> str:
    """`text` with every id unique: a repeated one gets `-2`, `-3`…; an explicit heading
    id (`explicit`: by its marker) is kept as written, and no other id may take it.

    A footnote's ids are uniqued like any other, in document order: a heading before it
    keeps the id its text gives (`## Fn 1` is `fn-1`, which footnote 1's note is too),
    and the footnote's links follow its ids (to `#fn-1-2`)."""
    explicit = explicit or {}
    seen: set[str] = set(RESERVED_IDS) | set(explicit.values())
    footnotes: dict[str, str] = {}  # a footnote's id as markdown2 wrote it: the one it has

    def unique(value: str, footnote: bool) -> str:
        if value in explicit:
            return explicit[value]
        candidate, number = value, 1
        while candidate in seen:
            number += 1
            candidate = f"{value}-{number}"
        seen.add(candidate)
        if footnote:  # a note referred to twice: the back-link goes to the first reference
            footnotes.setdefault(value, candidate)
        return candidate

    def in_tag(tag: re.Match[str]) -> str:
        footnote = _FOOTNOTE_TAG.match(tag.group(0)) is not None
        return _ID.sub(lambda m: f' id="{unique(m.group(1), footnote)}"', tag.group(0))

    text = _ID_TAG.sub(in_tag, text)
    if all(old == new for old, new in footnotes.items()):
        return text

    def link(match: re.Match[str]) -> str:
        start, target, end = (g for g in match.groups() if g is not None)
        return start + footnotes.get(target, target) + end

    return _FOOTNOTE_LINKS.sub(link, text)


def _strip_ids(text: str) -> str:
    return _in_tags(text, _ID_TAG, _ID, "")


def link_fragments(fragment: str, page: str) -> str:
    """`fragment` with its in-page links (`href="#…"`) pointing at `page` instead."""
    return _in_tags(fragment, _FRAGMENT_HREF_TAG, _FRAGMENT_HREF, lambda m: f"{m.group(1)}{page}#")


# Lines that cannot start the first paragraph: indented code, headings, quotes, tables,
# HTML blocks, list items, rules, setext underlines, `$$` and `\\[` math, link and footnote
# definitions.
_NOT_PROSE = re.compile(r"\s|[#>|<]|[*+-]\s|\d+[.)]\s|([-*_=][ \t]*){3,}$|\$\$|\\\[|\[[^\]]+\]:")


def _auto_fold(lines: list[str], fences: list[Fence]) -> int | None:
    """Without `<!--more-->` the intro is the first paragraph: fold right after it."""
    starts = {f.start: f.end for f in fences}
    index, in_paragraph = 0, False
    while index < len(lines):
        line = lines[index]
        ends_paragraph = (
            not line.strip()
            or index in starts
            or re.match(r"\$\$|\\\[|#{1,6}(\s|$)", line.lstrip())
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


# Elements that run on inside a line of text: their tags join the text around them
# (`<code>print</code>,` is `print,`). Every other tag (a paragraph, a list item, a
# heading, a line break, a table cell) separates the words on either side.
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "i", "ins"}
    | {"kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup"}
    | {"time", "tt", "u", "var", "wbr"}
)
# HTML's white space: a no-break space (`&nbsp;`) is text.
_WHITE_SPACE = re.compile(r"[ \t\n\r\f]+")
# A `<![` opens a comment that runs to the next `>`, as HTML reads it (HTMLParser, before
# Python 3.13, asserts on one it cannot name).
_MARKED_SECTION = re.compile(r"<!\[[^>]*>?")


class _PlainText(HTMLParser):
    """The text of an HTML fragment as a reader reads it, a formula as its TeX (its
    `alttext`): the MathML's own text runs `x^2` together as `x2`, and its annotation
    repeats the TeX."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.math = 0  # how deep inside a formula shown as its `alttext`

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.math:
            self.math += 1 if tag == "math" else 0
            return
        alttext = dict(attrs).get("alttext") if tag == "math" else None
        if alttext is not None:
            self.parts.append(alttext)
            self.math = 1
        elif tag not in _INLINE:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.math:
            self.math -= 1 if tag == "math" else 0
        elif tag not in _INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.math:
            self.parts.append(data)


def plain_text(fragment: str, limit: int = 200) -> str:
    """An HTML fragment as one line of text, cut at a word to at most `limit` characters:
    inline elements (`<code>`, `<a>`, `<em>`) join their neighbours, punctuation included;
    other elements separate words."""
    parser = _PlainText()
    parser.feed(_MARKED_SECTION.sub(" ", fragment))
    parser.close()
    text = _WHITE_SPACE.sub(" ", "".join(parser.parts)).strip()
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "…"
