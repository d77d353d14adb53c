"""The one fence scanner: finds fenced code blocks and the fold in a post's Markdown.

The renderer, the fold detection, the Markdown twins and check-code all read fences
through `scan` (or `_fence_at`, its one step), so a fence means the same thing
everywhere: a fence inside a blockquote is found here too (with its quote prefix), so
what the page shows as code is what check-code runs. `Fence.is_python` decides which
fences are python blocks (```python, ```py, ...). `run_options` reads a python
fence's check-code options, for check-code and for the renderer alike, so a typo is the
same error in `build` and `check-code`. Pure functions, no I/O.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, replace

from blogkeeper.compare import OUTPUT_OPTIONS
from blogkeeper.errors import BuildError, ContentError, did_you_mean

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_FOLD = re.compile(r"^[ \t]*<!--[ \t]*more[ \t]*-->[ \t]*$", re.IGNORECASE)
_QUOTE_LEVEL = re.compile(r"^> ?")
# Deeper quotes are not searched (the renderer refuses more than 50 levels anyway); the
# bound keeps the recursion far from Python's limit whatever a post holds.
MAX_QUOTE_DEPTH = 100
# Outside a comment: a code span's backticks, or a comment's start.
_COMMENT_OR_CODE = re.compile(r"(`+)|<!--")
# A comment's end, searched from the start's second dash so that `<!-->` and `<!--->`
# end at once, as the HTML standard says.
_COMMENT_END = re.compile(r"--!?>")


# The fence languages that are Python: the names Pygments highlights with its Python lexer,
# but for those it lends that lexer to other languages (Sage, Bazel's Starlark) and to
# stubs (`pyi`), which are not programs to run. `Fence.is_python` is the one test of it, for
# the page, its proof and check-code alike; tests/test_fences.py holds it to Pygments.
PYTHON_NAMES = frozenset({"python", "py", "python3", "py3"})


@dataclass(frozen=True)
class Fence:
    """A fenced block; `start` and `end` are 0-based indexes of its fence lines."""

    start: int
    end: int
    indent: str
    lang: str
    options: tuple[str, ...]
    code: str
    closed: bool
    quote: str = ""  # the blockquote prefix of its opening line ("> ", "> > "), or ""

    @property
    def depth(self) -> int:
        """How many blockquotes the fence is inside."""
        return self.quote.count(">")

    @property
    def is_python(self) -> bool:
        """Whether this is a python block: check-code runs it, reads its options, and
        the page counts it among the code blocks checked (`PYTHON_NAMES`)."""
        return self.lang in PYTHON_NAMES

    @property
    def first_code_line(self) -> int:
        """0-based index of the first line inside the fence."""
        return self.start + 1

    def option(self, name: str) -> str | None:
        """The value of `name=value`, "" for a bare `name`, None when absent."""
        for option in self.options:
            key, _, value = option.partition("=")
            if key == name:
                return value
        return None


def scan(lines: list[str], depth: int = 0) -> list[Fence]:
    """Every fenced block in `lines`, in order, those inside blockquotes too (a blockquote
    is read like a document of its own, as the renderer reads it). An unclosed fence runs
    to the end of its document or blockquote."""
    fences: list[Fence] = []
    index = 0
    while index < len(lines):
        if lines[index].startswith(">"):
            end = quote_end(lines, index)
            if depth < MAX_QUOTE_DEPTH:
                fences += _quoted(lines, index, end, depth)
            index = end
            continue
        fence = _fence_at(lines, index)
        if fence is None:
            index += 1
            continue
        fences.append(fence)
        index = fence.end + 1
    return fences


_LIST_ITEM = re.compile(r"^ {0,3}(?:[*+-]|\d{1,9}[.)])(?:[ \t]|$)")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_BLOCK_TAGS = (
    r"(?:div|table|section|figure|details|ul|ol|dl|script|style|pre|blockquote|iframe|svg"
    r"|center|form|video|audio|p)"
)
_HTML_OPEN = re.compile(rf"<{_BLOCK_TAGS}\b(?![^>]*/>)", re.IGNORECASE)
_HTML_CLOSE = re.compile(rf"</{_BLOCK_TAGS}\s*>", re.IGNORECASE)


def indented_code(lines: list[str], fences: list[Fence]) -> dict[int, int]:
    """The indented code blocks of `lines` (blockquotes aside), start index to end index:
    lines indented by 4 spaces or a tab after a blank line, outside `fences` (`scan`'s).
    Indented lines that continue a list item, follow a paragraph line or sit inside an
    HTML block (`<div>` ... `</div>`, blank lines and all) are not code."""
    fenced = {i for fence in fences for i in range(fence.start, fence.end + 1)}
    blocks: dict[int, int] = {}
    index, in_list, depth = 0, False, 0
    while index < len(lines):
        text = lines[index]
        previous = lines[index - 1] if index else ""
        if text.strip() and not _INDENTED.match(text):  # a fence's line ends a list too
            in_list = bool(_LIST_ITEM.match(text)) or (in_list and text.startswith(" "))
        starts = _INDENTED.match(text) and text.strip() and not previous.strip()
        if starts and index not in fenced and not in_list and depth == 0:
            end = index
            while (
                end + 1 < len(lines)
                and end + 1 not in fenced
                and (not lines[end + 1].strip() or _INDENTED.match(lines[end + 1]))
            ):
                end += 1
            while not lines[end].strip():
                end -= 1
            blocks[index] = end
            index = end + 1
            continue
        if index not in fenced:
            depth = max(0, depth + len(_HTML_OPEN.findall(text)) - len(_HTML_CLOSE.findall(text)))
        index += 1
    return blocks


def quote_end(lines: list[str], start: int) -> int:
    """The index after the blockquote that starts at `start`: its lines all start with `>`."""
    end = start
    while end < len(lines) and lines[end].startswith(">"):
        end += 1
    return end


def unquote(line: str) -> str:
    """A blockquote line without its first level of quoting (`>` and one optional space)."""
    return _QUOTE_LEVEL.sub("", line, count=1)


def _quoted(lines: list[str], start: int, end: int, depth: int) -> list[Fence]:
    inner = scan([unquote(line) for line in lines[start:end]], depth + 1)
    return [_shifted(f, start, lines[start + f.start]) for f in inner]


def _shifted(fence: Fence, offset: int, line: str) -> Fence:
    prefix = line[: len(line) - len(unquote(line))]
    start, end = fence.start + offset, fence.end + offset
    return replace(fence, start=start, end=end, quote=prefix + fence.quote)


def inner_fences(fences: list[Fence], start: int, end: int) -> list[Fence]:
    """The fences of the blockquote lines[start:end], indexed into it, one level out."""
    first = bisect.bisect_left(fences, start, key=lambda f: f.start)
    last = bisect.bisect_left(fences, end, key=lambda f: f.start)
    return [
        replace(f, start=f.start - start, end=f.end - start, quote=unquote(f.quote))
        for f in fences[first:last]
        if f.depth
    ]


def _fence_at(lines: list[str], index: int) -> Fence | None:
    """The fence that opens on line `index`, or None."""
    match = _OPEN.match(lines[index])
    if match is None or (match["marker"][0] == "`" and "`" in match["info"]):
        return None
    return _read_fence(lines, index, match)


def _read_fence(lines: list[str], start: int, match: re.Match[str]) -> Fence:
    indent, marker = match["indent"], match["marker"]
    closing = re.compile(rf"^[ \t]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
    end = start + 1
    while end < len(lines) and not closing.match(lines[end]):
        end += 1
    closed = end < len(lines)
    body = [_dedent(line, indent) for line in lines[start + 1 : end]]
    words = match["info"].split()
    return Fence(
        start=start,
        end=min(end, len(lines) - 1),
        indent=indent,
        lang=words[0].lower() if words else "",
        options=tuple(words[1:]),
        code="\n".join(body) + ("\n" if body else ""),
        closed=closed,
    )


def _dedent(line: str, indent: str) -> str:
    if line.startswith(indent):
        return line[len(indent) :]
    return line.lstrip(" \t")


def is_fold(line: str) -> bool:
    """Whether `line` is a fold marker, `<!--more-->` with optional spaces."""
    return _FOLD.match(line) is not None


def find_fold(lines: list[str]) -> int | None:
    """0-based index of the first `<!--more-->` line outside code and HTML comments.

    A fold inside a comment (`<!-- draft ... <!--more--> ... -->`) is commented out: were
    it taken, the intro would end inside `<!--` and a browser would hide everything after
    it on the front page. Fences are read only down to the fold, not below it.
    """
    index, in_comment = 0, False
    while index < len(lines):
        fence = None if in_comment else _fence_at(lines, index)
        if fence is not None:
            index = fence.end + 1
            continue
        if not in_comment and is_fold(lines[index]):
            return index
        in_comment = comment_open_after(lines[index], in_comment)
        index += 1
    return None


def comment_open_after(line: str, in_comment: bool) -> bool:
    """Whether an HTML comment is open after `line`, given whether one was before it.

    `<!--` in a code span on the line starts nothing. A code span is taken to end on its
    own line, and indented code blocks are not told apart from text.
    """
    pos = 0
    while True:
        if in_comment:
            end = _COMMENT_END.search(line, pos)
            if end is None:
                return True
            in_comment, pos = False, end.end()
            continue
        found = _COMMENT_OR_CODE.search(line, pos)
        if found is None:
            return False
        if found[1]:  # a code span: skip to its closing run of as many backticks
            ticks = re.compile(rf"(?<!`){found[1]}(?!`)")
            closing = ticks.search(line, found.end())
            pos = closing.end() if closing else found.end()
        else:
            in_comment, pos = True, found.start() + 2


def fence_marker(lines: list[str], char: str) -> str:
    """The shortest fence of `char` (at least three) that no line of `lines` can close:
    longer than every run of `char` that begins a line, after its indent."""
    runs = (len(line.lstrip(" \t")) - len(line.lstrip(" \t").lstrip(char)) for line in lines)
    return char * max(3, 1 + max(runs, default=0))


RUN_OPTIONS = ("skip", "raises", "timeout", "show-last")
MAX_TIMEOUT = 24 * 3600.0  # seconds; more is a typo, and overflows the runner's timers


@dataclass(frozen=True)
class RunOptions:
    """A python fence's check-code options; `timeout` None means the site's default."""

    skip: bool
    raises: str | None
    timeout: float | None
    show_last: bool = False  # a last-line expression's value is printed, as a notebook shows it


def run_options(fence: Fence, source: str, line: int) -> RunOptions:
    """The options of a python fence at post line `line`, or a BuildError naming it."""
    errors = [
        ContentError(source, line, message, hint) for message, hint in _option_problems(fence)
    ]
    if errors:
        raise BuildError(errors)
    raises = fence.option("raises")
    timeout = fence.option("timeout")
    return RunOptions(
        fence.option("skip") is not None,
        raises or None,
        float(timeout) if timeout else None,
        fence.option("show-last") is not None,
    )


def _option_problems(fence: Fence) -> list[tuple[str, str | None]]:
    problems: list[tuple[str, str | None]] = []
    for option in fence.options:
        name = option.partition("=")[0]
        if name not in RUN_OPTIONS:
            hint = did_you_mean(name, RUN_OPTIONS) or (
                "options: skip, raises=Name, timeout=SECONDS, show-last"
            )
            problems.append((f"unknown code block option `{option}`", hint))
    raises = fence.option("raises")
    if raises is not None and not raises.isidentifier():
        problems.append(("`raises=` needs an exception name", "like `raises=ValueError`"))
    timeout = fence.option("timeout")
    if timeout is not None and not _valid_timeout(timeout):
        message = f"`timeout={timeout}` needs seconds, more than 0 and at most {MAX_TIMEOUT:g}"
        problems.append((message, None))
    return problems


def _valid_timeout(text: str) -> bool:
    try:
        seconds = float(text)
    except ValueError:
        return False
    return math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT


def output_options(fence: Fence, source: str, line: int) -> tuple[str, ...]:
    """The options of an output fence at post line `line` (how check-code compares it:
    see `compare`), or a BuildError naming the one it does not know."""
    errors = []
    for option in fence.options:
        if option not in OUTPUT_OPTIONS:
            hint = did_you_mean(option, OUTPUT_OPTIONS) or "options: ellipsis, unordered"
            errors.append(
                ContentError(source, line, f"unknown output block option `{option}`", hint)
            )
    if errors:
        raise BuildError(errors)
    return fence.options
