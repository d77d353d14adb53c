"""Errors as values: a path, a line and a hint, printed together by the CLI.

This module must not print or exit; only `cli` does that.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ContentError:
    """One problem in the author's input, located as precisely as we can."""

    path: str
    line: int | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        text = f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_warning(self) -> str:
        """The problem as a warning line: `path:line: warning: message (hint)`."""
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        text = f"{where}: warning: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class BuildError(Exception):
    """Raised with every error of a build; nothing is written when it is raised."""

    def __init__(self, errors: Iterable[ContentError]) -> None:
        self.errors = tuple(sorted(set(errors), key=_sort_key))
        super().__init__("\n".join(str(e) for e in self.errors))


class DamagedCache(Exception):
    """A value a cache entry held that does not unpack, though the entry passed its
    checksum: the cache folder comes with the site, and another hand wrote this one. The
    build that meets it is run again without reading the cache (as `--no-cache`), which
    writes its entries anew."""


def _sort_key(error: ContentError) -> tuple[str, int, str]:
    return (error.path, error.line or 0, error.message)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known word, or None when nothing is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
