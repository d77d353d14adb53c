"""check-code's record of what passed: `check-record.json` in the site folder, committed
with the blog.

One entry per python block of each checked post, in the order of the post: digests of the
block's code and of the output the post shows for it (so an edit to either is seen
without the old text), its options, the verdict, and, for a block that ran, what ran it
and the day. `check-code` writes it (`merged`, then `write_record`); `build` only reads it
(`read_record`) and turns it into each post's proof (`proof`). The file is written
atomically, in a fixed layout with sorted keys, and only when its bytes change; an entry
whose block, shown output and environment are unchanged is kept as it was, date included,
so that two runs with nothing changed leave the file byte-identical.

Pure apart from `read_record` and `write_record`. The file is read as posts are (a FIFO or
device is refused, at most RECORD_LIMIT bytes), and every string in it is checked: a lone
surrogate or a control character, which no page can hold, is an error here, not later.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogkeeper.compare import normalise
from blogkeeper.config import CONTROL
from blogkeeper.content import read_bytes
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.model import BlockProof, PostProof

RECORD_FILE = "check-record.json"
FORMAT = 1
ABOUT = (
    "What blogkeeper check-code verified, one entry per python block of each checked post; "
    "written by check-code, read by build. See blogkeeper's docs/check-code.md."
)
VERDICTS = ("passed", "failed", "not run", "skipped")
HINT = "delete it and run `blogkeeper check-code` to write it again"
RECORD_LIMIT = 16 << 20  # bytes; a record of ten thousand blocks is a few MiB


@dataclass(frozen=True)
class Key:
    """What identifies a block's check: digests of its code and shown output, its options."""

    code: str
    options: tuple[str, ...]
    output: str | None  # None: the block has no output block

    @classmethod
    def of(
        cls, code: str, options: Sequence[str], shown: str | None, shown_options: Sequence[str] = ()
    ) -> Key:
        """The key of a block; an output fence's options (`ellipsis`) change how it is
        compared, so they are part of its digest (an output fence without any keeps the
        digest of its text alone)."""
        text = None if shown is None else normalise(shown)
        if text is not None and shown_options:
            text = " ".join(shown_options) + "\n" + text
        output = None if text is None else digest(text)
        return cls(digest(code), tuple(options), output)


@dataclass(frozen=True)
class Entry:
    """One block's entry; a block that was not run (skipped) has no environment or date."""

    key: Key
    verdict: str
    date: str = ""
    python: str = ""
    platform: str = ""
    packages: tuple[tuple[str, str], ...] = ()  # (module, version) the post imports

    @property
    def tools(self) -> str:
        """ "torch 2.13.0", or "Python 3.11.7" when the post imports no package."""
        if self.packages:
            return " and ".join(f"{name} {version}" for name, version in self.packages)
        return f"Python {self.python}"


Record = Mapping[str, tuple[Entry, ...]]


def digest(text: str) -> str:
    """A short SHA-256 of `text`: enough to see an edit, not a security measure."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --- the file --------------------------------------------------------------------------


def encode(record: Record) -> bytes:
    """The record as JSON: one line per block entry, keys sorted, posts sorted by path."""
    posts = [source for source in sorted(record) if record[source]]
    lines = ["{", f'  "about": {json.dumps(ABOUT)},', f'  "format": {FORMAT},', '  "posts": {']
    for number, source in enumerate(posts, 1):
        lines.append(f"    {json.dumps(source)}: [")
        entries = record[source]
        for index, entry in enumerate(entries, 1):
            comma = "," if index < len(entries) else ""
            lines.append(f"      {json.dumps(_to_json(entry), sort_keys=True)}{comma}")
        lines.append("    ]" + ("," if number < len(posts) else ""))
    lines += ["  }", "}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _to_json(entry: Entry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": entry.key.code,
        "options": list(entry.key.options),
        "output": entry.key.output,
        "verdict": entry.verdict,
    }
    if entry.date:
        data.update(date=entry.date, python=entry.python, platform=entry.platform)
        data["packages"] = dict(entry.packages)
    return data


def decode(data: bytes) -> dict[str, tuple[Entry, ...]]:
    """The record in `data`; ValueError (a json.JSONDecodeError has a line) if it is not
    one, RecursionError if its JSON nests deeper than the parser goes."""
    top = json.loads(data.decode("utf-8"))
    if not isinstance(top, dict) or top.get("format") != FORMAT:
        raise ValueError(f"not a check-code record of format {FORMAT}")
    posts = top.get("posts")
    if not isinstance(posts, dict):
        raise ValueError('"posts" must be an object')
    _check_text({k: v for k, v in top.items() if k != "posts"}, "a string")
    record = {}
    for source, entries in posts.items():
        _check_text(source, "a post name")
        if not isinstance(entries, list):
            raise ValueError(f"the entries of {source} must be a list")
        _check_text(entries, f"an entry of {source}")
        record[source] = tuple(_from_json(e, source) for e in entries)
    return record


def _check_text(value: Any, where: str) -> None:
    """ValueError if a string in `value` (keys too) holds what a page cannot show: a lone
    surrogate (UTF-8 cannot encode it) or a control character (HTML forbids it)."""
    stack = [value]
    while stack:  # a loop, not recursion: the parser has bounded the depth, not us
        item = stack.pop()
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, str):
            if found := _SURROGATE.search(item):
                raise ValueError(f"{where} holds a lone surrogate (U+{ord(found[0]):04X})")
            if found := CONTROL.search(item):
                raise ValueError(f"{where} holds control character U+{ord(found[0]):04X}")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _from_json(data: Any, source: str) -> Entry:
    def text(name: str, optional: bool = False) -> Any:
        value = data.get(name)
        if not (isinstance(value, str) or (optional and value is None)):
            raise ValueError(f"an entry of {source} has no valid {name!r}")
        return value

    if not isinstance(data, dict) or data.get("verdict") not in VERDICTS:
        raise ValueError(f"an entry of {source} has no valid 'verdict'")
    options = data.get("options")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ValueError(f"an entry of {source} has no valid 'options'")
    key = Key(text("code"), tuple(options), text("output", optional=True))
    if "date" not in data:
        return Entry(key, data["verdict"])
    packages = data.get("packages")
    if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
        raise ValueError(f"an entry of {source} has no valid 'packages'")
    environment = (text("date"), text("python"), text("platform"), tuple(sorted(packages.items())))
    return Entry(key, data["verdict"], *environment)


def read_record(root: Path) -> dict[str, tuple[Entry, ...]]:
    """The site's record; empty when there is none; `BuildError` when it is damaged."""
    path = root / RECORD_FILE
    if not path.exists():
        return {}
    try:  # as posts are read: a FIFO or a device is refused, not waited on
        data = read_bytes(path, RECORD_FILE, RECORD_LIMIT)
    except BuildError as exc:
        errors = [ContentError(e.path, e.line, e.message, HINT) for e in exc.errors]
        raise BuildError(errors) from None
    try:
        return decode(data)
    except json.JSONDecodeError as exc:
        error = ContentError(RECORD_FILE, exc.lineno, f"not JSON: {exc.msg}", HINT)
    except RecursionError:
        error = ContentError(RECORD_FILE, None, "not JSON it can read: nested too deeply", HINT)
    except (ValueError, UnicodeDecodeError) as exc:
        error = ContentError(RECORD_FILE, None, f"not a check-code record: {exc}", HINT)
    raise BuildError([error])


def write_record(root: Path, record: Record) -> bool:
    """Write the record through a temporary file, only if its bytes change (and not at
    all for an empty record where there is none). Whether it was written."""
    path = root / RECORD_FILE
    data = encode(record)
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        if not any(record.values()):
            return False
    fd, temp = tempfile.mkstemp(dir=root, prefix=f".{RECORD_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # as a file the author made, not mkstemp's 0600
        with contextlib.suppress(FileNotFoundError):
            mode = path.stat().st_mode & 0o777
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


# --- what check-code writes ------------------------------------------------------------


def merged(old: Record, runs: Record, complete: bool) -> dict[str, tuple[Entry, ...]]:
    """The record after a run: the posts of `runs` (every post checked now) replace their
    entries; with `complete` (every selected post was checked), posts not in `runs` are
    dropped, else kept. An unchanged entry is kept as it was (see `_kept`)."""
    record = {} if complete else dict(old)
    for source, entries in runs.items():
        record[source] = _kept(old.get(source, ()), entries)
    return record


def _kept(before: tuple[Entry, ...], now: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """`now`, except that an entry equal to the old one at its place in all but the day
    keeps the old one, when no block before it changed (its code ran after theirs)."""
    out = []
    unchanged_so_far = True
    for index, entry in enumerate(now):
        old = before[index] if index < len(before) else None
        same_code = old is not None and _same_code(old.key, entry.key)
        if unchanged_so_far and old is not None and same_code and _same_check(old, entry):
            out.append(old)
        else:
            out.append(entry)
        unchanged_so_far = unchanged_so_far and same_code
    return tuple(out)


def _same_code(a: Key, b: Key) -> bool:
    return (a.code, a.options) == (b.code, b.options)


def _same_check(old: Entry, new: Entry) -> bool:
    """The same block, shown output, verdict and environment. A Python patch release alone
    does not count as a new environment (3.11.7 and 3.11.9 keep the entry): so that a CI
    machine whose interpreter differs only there leaves the committed record as it is."""
    return (
        old.key == new.key
        and old.verdict == new.verdict
        and old.packages == new.packages
        and old.platform == new.platform
        and _minor(old.python) == _minor(new.python)
    )


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# --- what build reads ------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A python block as the post shows it now."""

    line: int
    key: Key
    output_index: int | None
    skip: bool


def proof(blocks: Sequence[Shown], entries: Sequence[Entry], outputs: int) -> PostProof:
    """What the record says about each block: the proof a post's page shows."""
    out = []
    unchanged_so_far = True
    for index, block in enumerate(blocks):
        entry = entries[index] if index < len(entries) else None
        status, date, tools = _status(block, entry, unchanged_so_far), "", ""
        if entry is not None and status in ("checked", "failed"):
            date, tools = entry.date, entry.tools
        out.append(BlockProof(block.line, status, block.output_index, date, tools))
        same = entry is not None and _same_code(entry.key, block.key)
        unchanged_so_far = unchanged_so_far and same
    return PostProof(tuple(out), outputs)


def _status(block: Shown, entry: Entry | None, unchanged_so_far: bool) -> str:
    if block.skip:
        return "skipped"
    if entry is None:
        return "unchecked"
    if entry.key != block.key:
        return "edited"
    if not unchanged_so_far:
        return "after edit"
    return {"passed": "checked", "failed": "failed", "not run": "failed"}.get(
        entry.verdict, "unchecked"
    )


NOT_CHECKED = {
    "edited": "edited since check-code last checked it",
    "after edit": "a code block before it was edited since check-code last checked it",
    "failed": "it did not pass check-code",
    "unchecked": "check-code has no record of it",
}


def unchecked_errors(proofs: Mapping[str, PostProof]) -> list[ContentError]:
    """For `build --require-checked`: each block of a selected post that is neither
    checked nor skipped, at its first code line."""
    errors = []
    for source, found in sorted(proofs.items()):
        for block in found.blocks:
            if block.status in NOT_CHECKED:
                message = f"code block not checked: {NOT_CHECKED[block.status]}"
                hint = f"run `blogkeeper check-code` and commit {RECORD_FILE}"
                errors.append(ContentError(source, block.line, message, hint))
    return errors
