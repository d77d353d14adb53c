"""Write a built site to its output folder, atomically and never outside it.

The new site is written into a sibling temporary folder, files whose bytes did not
change are hard-linked from the old site (so they keep their mtime), and the folders are
then swapped by rename. A refused or failed write leaves the old site as it was. The
replaced site can be kept as a spare that becomes the next build's staging folder, so an
unchanged rebuild creates and deletes no folders. This is the only module that writes a
site to disk.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn, Protocol

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
        kept = _remove_unwanted(staging, {MARKER} | {o.path for o in outputs})
        old = _old_files(out)
        folders = {""} | {os.path.dirname(path) for path in kept}
        for output in outputs:
            try:
                _place(str(staging), str(out), output, old, kept, folders)
            except OSError as exc:
                _failed(out / output.path, exc)
        if MARKER not in kept:
            try:
                _write_new(str(staging / MARKER), b"")
            except OSError as exc:
                _failed(out / MARKER, exc)
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


Identity = tuple[int, int]  # st_dev, st_ino


def _remove_unwanted(staging: Path, wanted: set[str]) -> dict[str, Identity]:
    """Delete what an earlier build left that this one does not produce, any link and
    any folder left empty; the files kept, by path, with their identity."""
    kept: dict[str, Identity] = {}
    _clean(str(staging), "", wanted, os.stat(staging).st_dev, kept)
    return kept


def _clean(folder: str, prefix: str, wanted: set[str], dev: int, kept: dict[str, Identity]) -> bool:
    """`_remove_unwanted` for one folder; True when the folder is left empty."""
    empty = True
    with os.scandir(folder) as entries:
        for entry in entries:
            path = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if _clean(entry.path, path + "/", wanted, dev, kept):
                    os.rmdir(entry.path)
                    continue
            elif entry.is_symlink() or path not in wanted:
                os.unlink(entry.path)
                continue
            else:
                kept[path] = (dev, entry.inode())  # a folder below cannot be a mount point
            empty = False
    return empty


def _old_files(out: Path) -> dict[str, os.DirEntry[str]]:
    """The regular files of the old site by path, reached through no symlink: a file
    reached through one may live outside the old site and must never be linked."""
    found: dict[str, os.DirEntry[str]] = {}
    if not out.is_dir() or os.path.realpath(out) != str(out):
        return found
    todo = [(str(out), "")]
    while todo:
        folder, prefix = todo.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    todo.append((entry.path, prefix + entry.name + "/"))
                elif entry.is_file(follow_symlinks=False):
                    found[prefix + entry.name] = entry
    return found


def _place(
    staging: str,
    out: str,
    output: OutputLike,
    old: dict[str, os.DirEntry[str]],
    kept: dict[str, Identity],
    folders: set[str],
) -> None:
    target = os.path.join(staging, output.path)
    folder = os.path.dirname(output.path)
    if folder not in folders:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        folders.add(folder)
    found = old.get(output.path)
    data = output.data  # once: it may be read from a memo file
    status = _unchanged(found, data) if found is not None else None
    if status is not None:
        if kept.get(output.path) == (status.st_dev, status.st_ino):
            return  # the spare already holds this very file
        try:
            _replace(target, lambda temp: os.link(os.path.join(out, output.path), temp))
            return
        except OSError:
            pass  # a link across devices: write the bytes instead
    _replace(target, lambda temp: _write_new(temp, data))


def _unchanged(entry: os.DirEntry[str], data: bytes) -> os.stat_result | None:
    """The old file's status if it holds exactly `data`, else None."""
    try:
        status = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return None
        with open(entry.path, "rb", buffering=0) as file:
            return status if file.read() == data else None
    except OSError:
        return None


def _failed(path: Path, exc: OSError) -> NoReturn:
    """Raise the `BuildError` for an output that could not be written (the disk said no)."""
    message = f"could not write this file: {exc.strerror or exc}"
    raise BuildError([ContentError(str(path), None, message, "the previous site was kept")])


def _write_new(path: str, data: bytes) -> None:
    """Create `path` holding exactly `data`, or raise `OSError`.

    A write may store fewer bytes than it was given (a full disk, a file-size limit), so
    the rest is written again until it is all stored or the system names the error.
    """
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        rest = memoryview(data)
        while rest:
            written = os.write(handle, rest)
            if written == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            rest = rest[written:]
    finally:
        os.close(handle)


def _replace(target: str, make: Callable[[str], object]) -> None:
    # Never write into an existing file: a reused staging file may be a hard link to a
    # file of the live site. Make a new file and rename it over the old name.
    head, name = os.path.split(target)
    temp = os.path.join(head, f".{name}.tmp")
    try:
        make(temp)
    except FileExistsError:  # left by a build that was stopped: never reuse it
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
