"""The one fence scanner: finds fenced code blocks and the fold in a post's Markdown.

The renderer, the fold detection, the Markdown twins and check-code all read fences
through `scan`, so a fence means the same thing everywhere. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_FOLD = re.compile(r"^[ \t]*<!--[ \t]*more[ \t]*-->[ \t]*$", re.IGNORECASE)


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
        match = _OPEN.match(lines[index])
        if match is None or (match["marker"][0] == "`" and "`" in match["info"]):
            index += 1
            continue
        fence = _read_fence(lines, index, match)
        fences.append(fence)
        index = fence.end + 1
    return fences


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


def inside(fences: list[Fence], index: int) -> bool:
    """Whether line `index` belongs to one of `fences` (fence lines included)."""
    return any(f.start <= index <= f.end for f in fences)


def is_fold(line: str) -> bool:
    """Whether `line` is a fold marker, `<!--more-->` with optional spaces."""
    return _FOLD.match(line) is not None


def find_fold(lines: list[str], fences: list[Fence]) -> int | None:
    """0-based index of the first `<!--more-->` line outside fenced blocks."""
    for index, line in enumerate(lines):
        if is_fold(line) and not inside(fences, index):
            return index
    return None
