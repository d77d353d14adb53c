"""Write a built site to its output folder, atomically and never outside it.

The new site is written into a sibling temporary folder, files whose bytes did not
change are hard-linked from the old site (so they keep their mtime), and the folders are
then swapped by rename. A refused or failed write leaves the old site as it was. The
replaced site can be kept as a spare that becomes the next build's staging folder, so an
unchanged rebuild creates and deletes no folders. This is the only module that writes a
site to disk.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from blogkeeper.errors import BuildError, ContentError

MARKER = ".blogkeeper-output"
PROTECTED = ("posts", "templates", "static")


class OutputLike(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def data(self) -> bytes: ...


def check_output_dir(out: Path, root: Path, force: bool = False) -> Path:
    """The resolved output folder, or `BuildError` when writing there could lose work.

    Paths are compared resolved, so a symlinked posts/ or output folder cannot hide
    that the output would replace the author's files.
    """
    out = out.resolve()
    problem = _overlap(out, root)
    if problem:
        return _refuse(out, problem, "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists() and not force:
        hint = "pass --force to replace it"
        return _refuse(out, "is not empty and was not made by blogkeeper", hint)
    return out


def _overlap(out: Path, root: Path) -> str | None:
    """Why writing `out` (resolved) would endanger the site at `root`, or None."""
    root = root.resolve()
    protected = [(root / name).resolve() for name in PROTECTED]
    home = Path.home().resolve()
    if out == root or root.is_relative_to(out):
        return "is the site folder or contains it"
    if any(out.is_relative_to(p) or p.is_relative_to(out) for p in protected):
        return "is inside posts/, templates/ or static/, or contains one of them"
    if out == Path(out.anchor) or home.is_relative_to(out):
        return "is your home folder, contains it, or is the file-system root"
    if out.exists() and not out.is_dir():
        return "is a file, not a folder"
    return None


def _refuse(out: Path, problem: str, hint: str) -> Path:
    message = f"refusing to write the site here: it {problem}"
    raise BuildError([ContentError(str(out), None, message, hint)])


def write_site(outputs: Iterable[OutputLike], out: Path, spare: Path | None = None) -> None:
    """Replace the folder `out` (already checked) with exactly `outputs`.

    `spare`, when given, is where the replaced site is kept to be the next build's
    staging folder: its unchanged files and folders are reused instead of created and
    deleted again, which on some disks costs milliseconds per folder. It must be private
    to this site (a cache folder); a missing or unusable spare is simply not used.
    """
    outputs = list(outputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _claim(spare, out) or Path(
        tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent)
    )
    try:
        _remove_unwanted(staging, {MARKER} | {o.path for o in outputs})
        real_dirs: dict[Path, Path] = {}
        for output in outputs:
            _place(staging, out, output, real_dirs)
        if not (staging / MARKER).exists():
            (staging / MARKER).write_bytes(b"")
        _swap(staging, out, spare)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _claim(spare: Path | None, out: Path) -> Path | None:
    """The spare tree moved beside `out`, or None (no spare, or on another disk)."""
    if spare is None or not spare.is_dir():
        return None
    claimed = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        os.rename(spare, claimed)  # replaces the empty folder; atomic, so one build wins
    except OSError:
        claimed.rmdir()
        return None
    return claimed


def _remove_unwanted(staging: Path, wanted: set[str]) -> None:
    """Delete what an earlier build left that this one does not produce, and any link."""
    for folder, dirs, files in os.walk(staging, topdown=False):
        base = Path(folder).relative_to(staging)
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path) or (base / name).as_posix() not in wanted:
                os.unlink(path)
        for name in dirs:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                os.unlink(path)
            elif not os.listdir(path):
                os.rmdir(path)


def _place(staging: Path, out: Path, output: OutputLike, real_dirs: dict[Path, Path]) -> None:
    target = staging / output.path
    old = out / output.path
    found = _unchanged(old, output.data, real_dirs)
    if found is not None:
        if _same_file(found, target):
            return  # the spare already holds this very file
        try:
            _replace(target, lambda temp: os.link(old, temp))
            return
        except OSError:
            pass  # a link across devices: write the bytes instead
    _replace(target, lambda temp: temp.write_bytes(output.data))


def _unchanged(old: Path, data: bytes, real_dirs: dict[Path, Path]) -> os.stat_result | None:
    """The old file's status if the old site holds exactly `data` at `old`, not through
    any symlink; else None. `real_dirs` remembers each folder's resolved path."""
    try:
        status = os.lstat(old)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return None
        # Never link a file reached through a symlink: it may live outside the old site.
        if old.parent not in real_dirs:
            real_dirs[old.parent] = old.parent.resolve()
        if real_dirs[old.parent] != old.parent:
            return None
        with open(old, "rb") as file:
            return status if file.read() == data else None
    except OSError:
        return None


def _same_file(status: os.stat_result, b: Path) -> bool:
    try:
        return os.path.samestat(status, os.stat(b))
    except OSError:
        return False


def _replace(target: Path, make: Callable[[Path], object]) -> None:
    # Never write into an existing file: a reused staging file may be a hard link to a
    # file of the live site. Make a new file and rename it over the old name.
    temp = target.with_name(f".{target.name}.tmp")
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True)
    elif os.path.lexists(temp):
        os.unlink(temp)
    make(temp)
    os.replace(temp, target)


def _swap(staging: Path, out: Path, spare: Path | None) -> None:
    os.chmod(staging, 0o755)
    if not out.exists():
        os.rename(staging, out)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, retired / "site")
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired / "site", out)
        raise
    if spare is not None:
        try:
            spare.parent.mkdir(parents=True, exist_ok=True)
            os.rename(retired / "site", spare)
        except OSError:
            pass  # another disk, or a spare appeared meanwhile: delete it instead
    shutil.rmtree(retired, ignore_errors=True)
