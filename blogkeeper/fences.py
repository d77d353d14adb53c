"""The one fence scanner: finds fenced code blocks and the fold in a post's Markdown.

The renderer, the fold detection, the Markdown twins and check-code all read fences
through `scan` (or `_fence_at`, its one step), so a fence means the same thing
everywhere. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_FOLD = re.compile(r"^[ \t]*<!--[ \t]*more[ \t]*-->[ \t]*$", re.IGNORECASE)
# Outside a comment: a code span's backticks, or a comment's start.
_COMMENT_OR_CODE = re.compile(r"(`+)|<!--")
# A comment's end, searched from the start's second dash so that `<!-->` and `<!--->`
# end at once, as the HTML standard says.
_COMMENT_END = re.compile(r"--!?>")


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


def scan(lines: list[str]) -> list[Fence]:
    """Every fenced block in `lines`, in order. An unclosed fence runs to the end."""
    fences: list[Fence] = []
    index = 0
    while index < len(lines):
        fence = _fence_at(lines, index)
        if fence is None:
            index += 1
            continue
        fences.append(fence)
        index = fence.end + 1
    return fences


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
