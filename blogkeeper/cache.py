"""The build's one cache: results of pure steps, kept between builds by a digest.

One key rule: a step's key is a digest of its name, of the code that computes it (the
source of blogkeeper and of the libraries whose output it keeps, see `code_digest`) and
of its declared inputs (`Cache.key`). No mtimes, no versions to bump: editing anything
that matters gives a new key, so an entry is never stale, only unused.

One format: one file per key under `<site>/.blogkeeper-cache/`, a header naming the key,
the payload's size and its SHA-256, then the payload. An entry is used only if all three
match; anything else (a truncated file, a flipped byte of the same size) is a miss, and
the step runs again and writes the entry anew. Writes are atomic (temp file + rename). A
cache that cannot be written is only a slower build.

One bound: after a build that wrote entries, entries this build did not use are deleted,
least recently used first (a hit marks an entry used), while the folder holds more than
`limit` bytes and more than twice what this build used (and then until an eighth of that
is free): the cache stays within twice the size of what the site needs. It asks the size
of only the entries it may delete (an entry used is counted at the size it was read or
written). `blogkeeper build` measures the room under the bound in a forked child once its
posts are rendered (`survey`), and walks the cache at the end only if what it wrote since
may not fit. A build without the cache (`reading=False`) reads no entry and keeps only the
entries it wrote, so it leaves nothing stale behind.

This module writes only inside its cache folder; what a step is and when to run it is
the orchestrator's concern (build.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib.util
import os
import pickle
import re
import tempfile
from functools import cache
from pathlib import Path, PurePath

from blogkeeper import deadline
from blogkeeper.errors import BuildError
from blogkeeper.files import read_regular

CACHE_DIR = ".blogkeeper-cache"
MAGIC = b"blogkeeper cache 2"
MAX_ENTRY_BYTES = 256 * 2**20  # far above any entry a post's 2 MB limit allows
DEFAULT_LIMIT = 16 * 2**20  # bytes; entries this build used are kept even above it


class Cache:
    """Entries in `folder`; None: a cache that holds nothing and writes nothing."""

    def __init__(self, folder: Path | None, reading: bool = True, limit: int = DEFAULT_LIMIT):
        self.folder = folder
        self.reading = reading
        self.limit = limit
        self.used: dict[str, int] = {}  # key -> size, for every entry this build read or wrote
        self.written = 0
        self.misses = 0
        self._room: deadline.Started | None = None  # `survey`'s answer
        self._since = 0  # the bytes written since the survey started

    @classmethod
    def for_site(cls, root: Path, enabled: bool = True) -> Cache:
        """The site's cache; none (a slower build) when `.blogkeeper-cache` is a symlink:
        it may lead anywhere, and the bound deletes files in it."""
        folder = root / CACHE_DIR
        return cls(None if folder.is_symlink() else folder, reading=enabled)

    @staticmethod
    def key(step: str, packages: tuple[str, ...], *inputs: str | bytes) -> str:
        """The key of `step` run by the code of `packages` on `inputs`."""
        return digest(step, code_digest(*packages), *inputs)

    def get(self, key: str) -> bytes | None:
        """The payload kept under `key`, verified, or None."""
        path = self._path(key) if self.folder is not None and self.reading else ""
        data = _read(path, key) if path else None
        if data is None:
            self.misses += 1
            return None
        self.used[key] = len(data)
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return data

    def keep(self, key: str, size: int, written: bool = False) -> None:
        """Count the entry under `key` (of `size` bytes) as used by this build, which holds
        its value already (or a child process read it, or put it: `written`, through a
        `Cache` of the same folder): the bound then does not delete it."""
        self.used[key] = size
        self.written += written
        self._since += _stored_size(key, size) if written else 0

    def put(self, key: str, payload: bytes) -> None:
        if self.folder is None:
            return
        self.used[key] = len(payload)
        path = self._path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _ignore_in_git(self.folder)
            handle, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
            with os.fdopen(handle, "wb") as file:
                file.write(b"%s\n%s\n%s" % (MAGIC, key.encode(), _check(payload)) + payload)
            os.replace(temp, path)
            self.written += 1
            self._since += _stored_size(key, len(payload))
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(temp)

    def _path(self, key: str) -> str:
        assert self.folder is not None
        return os.path.join(self.folder, key[:2], key)  # a str: 10,000 `Path`s take 0.1 s

    def survey(self) -> None:
        """Start measuring, in a forked child, how far under its bound the folder is now,
        for a build that wrote entries and will write few more: `finish` then walks the
        cache again only if what was written since may have crossed the bound (a walk of
        20,000 entries and a stat of each unused one: 0.2 s at 10,000 posts). The child
        answers with one number, so it ends at once and holds none of this process's
        memory. Where no child can be forked (a thread runs), nothing is measured."""
        forked = deadline.child_inherits()  # a preview's worker is not for this
        if self.folder is not None and self.reading and self._room is None and forked:
            self._since = 0
            bound = max(self.limit, 2 * sum(self.used.values()))
            self._room = deadline.start_in_child(
                SURVEY_SECONDS, SURVEY_MEMORY, _room, self.folder, self.used, bound
            )

    def finish(self) -> None:
        """Apply the bound, once the build is done with the cache."""
        room, self._room = self._room, None
        if self.folder is None or not (self.written or not self.reading):
            if room is not None:
                room.stop()
            return
        bound = max(self.limit, 2 * sum(self.used.values()))
        if room is not None:
            try:
                left, then = room.wait()
            except (OSError, deadline.ChildDied, deadline.Overrun):
                left, then = -1, bound  # not measured: walk
            if left - self._since + (bound - then) >= 0:  # the bound only grows
                return
        entries, total = [], 0
        for entry in _entries(self.folder):
            if (used := self.used.get(entry.name)) is not None:
                total += _stored_size(entry.name, used)  # never deleted: no stat to ask
                continue
            try:
                status = entry.stat()
            except OSError:
                continue  # deleted meanwhile by another build
            total += status.st_size
            entries.append((status.st_mtime, entry.path, status.st_size))
        low = bound if total <= bound else bound - bound // SLACK  # over it: room is left
        for _, path, size in sorted(entries):
            if total <= low and self.reading:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
                total -= size


# A bound that deletes leaves this part of it free (an eighth), so that the next builds'
# few entries fit under it and their `survey` finds room: a cache kept at its bound would
# be walked again by every build that wrote an entry.
SLACK = 8
# How long, and with how much more memory than its parent, a survey may take.
SURVEY_SECONDS = 600.0
SURVEY_MEMORY = 256 << 20


def _room(folder: Path, used: dict[str, int], bound: int) -> tuple[int, int]:
    """How many bytes `folder`'s entries may grow before they pass `bound`, each entry
    in `used` counted at the size it was used at (as `finish` counts it), and `bound`."""
    total = 0
    for entry in _entries(folder):
        if (size := used.get(entry.name)) is not None:
            total += _stored_size(entry.name, size)
            continue
        with contextlib.suppress(OSError):  # deleted meanwhile by another build
            total += entry.stat().st_size
    return bound - total, bound


def _read(path: str, key: str) -> bytes | None:
    try:
        data = read_regular(path, key, MAX_ENTRY_BYTES, "")
    except BuildError:  # missing, unreadable, or not a regular file: a miss
        return None
    magic, stored_key, check, payload = (data.split(b"\n", 3) + [b""] * 4)[:4]
    magic, stored_key, check = magic + b"\n", stored_key + b"\n", check + b"\n"
    if (magic, stored_key) != (MAGIC + b"\n", key.encode() + b"\n"):
        return None
    return payload if check == _check(payload) else None


def _stored_size(key: str, size: int) -> int:
    """The size of the file that holds a payload of `size` bytes under `key`: a bound
    counts each entry this build used so, where a stat of each (10,000s of them) would
    take a quarter of a second."""
    return len(MAGIC) + len(key) + len(b"%d %s\n" % (size, b"0" * 64)) + 2 + size


def _check(payload: bytes) -> bytes:
    return b"%d %s\n" % (len(payload), hashlib.sha256(payload).hexdigest().encode())


_KEY = re.compile("[0-9a-f]{64}")


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    """The entry files under `folder`: only names a key gives, in the shard it names, so
    that the bound never deletes a file the cache did not write."""
    found: list[os.DirEntry[str]] = []
    with contextlib.suppress(OSError):
        for shard in os.scandir(folder):
            if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
                continue
            with contextlib.suppress(OSError):
                found += [
                    entry
                    for entry in os.scandir(shard.path)
                    if _KEY.fullmatch(entry.name)
                    and entry.name.startswith(shard.name)
                    and entry.is_file(follow_symlinks=False)
                ]
    return found


def _ignore_in_git(folder: Path) -> None:
    marker = folder / ".gitignore"
    if not marker.exists():
        marker.write_text("# written by blogkeeper: this folder is a cache, safe to delete\n*\n")


def digest(*parts: str | bytes) -> str:
    """A digest of `parts`, each length-prefixed (text may hold lone surrogates)."""
    hashed = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
        hashed.update(b"%d\0" % len(data) + data)
    return hashed.hexdigest()


class Unkeyable(TypeError):
    """A value `fingerprint` cannot tell apart from a different one (a function, say)."""


def fingerprint(value: object, memo: dict[int, tuple[object, bytes]]) -> bytes:
    """Bytes that only a value equal to `value` gives: for plain data (text, numbers,
    dates, paths, tuples, lists, dicts, sets) and frozen dataclasses of it; `Unkeyable`
    for anything else. Each dataclass is digested once per `memo`, which holds it (so
    that its id stays its own): a post in a thousand contexts is read once."""
    kind = type(value)
    if kind is str:
        return _text(str(value))
    if kind is tuple or kind is list:
        parts = [_text(v) if type(v) is str else fingerprint(v, memo) for v in value]  # type: ignore[attr-defined]
        return _digest_of(kind.__name__, parts)
    if kind in _NAMES:
        known = memo.get(id(value))
        if known is None:
            fields = [getattr(value, name) for name in _NAMES[kind]]
            parts = [_text(v) if type(v) is str else fingerprint(v, memo) for v in fields]
            known = memo[id(value)] = (value, _digest_of(kind.__qualname__, parts))
        return known[1]
    if kind is dict:
        items = value.items()  # type: ignore[attr-defined]
        parts = [_text(p) if type(p) is str else fingerprint(p, memo) for i in items for p in i]
        return _digest_of("dict", parts)
    if kind is bytes:
        return b"b" + value  # type: ignore[operator]
    if value is None or kind in (int, float, bool, dt.datetime, dt.date):
        return b"%s %r" % (kind.__name__.encode(), value)
    if isinstance(value, str):  # Markup, say: "S", so that no plain text ("s") is alike
        name = kind.__qualname__.encode()
        return b"S%s\0%s" % (name, value.encode("utf-8", "surrogatepass"))
    if isinstance(value, PurePath):
        return b"path %r" % value
    if kind is set or kind is frozenset:
        return _digest_of(kind.__name__, sorted(fingerprint(v, memo) for v in value))  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
        return fingerprint(value, memo)
    raise Unkeyable(f"no fingerprint for a {kind.__qualname__}")


_NAMES: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, found once


def fingerprint_or_none(value: object, memo: dict[int, tuple[object, bytes]]) -> bytes | None:
    """`fingerprint(value, memo)`, or None for a value it cannot key (`Unkeyable`): the
    output made from it then has no key, and is made."""
    try:
        return fingerprint(value, memo)
    except Unkeyable:
        return None


def _text(value: str) -> bytes:
    return b"s" + value.encode("utf-8", "surrogatepass")


def _digest_of(name: str, parts: list[bytes]) -> bytes:
    # pickle writes each part with its length: one call, in C, where a loop would not be
    return hashlib.sha256(pickle.dumps((name, parts), protocol=5)).digest()


@cache
def code_digest(*packages: str) -> str:
    """A digest of the code of the installed `packages` (top-level names, not imported):
    a new version of blogkeeper or of a library, or an edit to either, gives new keys."""
    return digest(*(_package_digest(name) for name in packages))


@cache
def _package_digest(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return f"{name} missing"
    parts: list[str | bytes] = [name]
    folder = Path(spec.origin).parent
    package = spec.submodule_search_locations is not None
    for path in sorted(folder.rglob("*")) if package else [Path(spec.origin)]:
        if "__pycache__" in path.parts or not path.is_file():
            continue
        relative = path.relative_to(folder).as_posix()
        if path.suffix in (".py", ".html", ".css", ".svg", ".toml", ".md", ".txt"):
            parts += [relative, path.read_bytes()]
        elif path.suffix in (".so", ".pyd"):
            # A compiled module is large: its name (with the ABI tag) and size stand for it.
            parts += [relative, str(path.stat().st_size)]
    return digest(*parts)
