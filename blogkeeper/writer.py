"""Write a built site to its output folder, atomically and never outside it.

The new site is written into a sibling temporary folder as the build makes it
(`Staging`), files whose bytes did not change are hard-linked from the old site (so they
keep their mtime), and the folders are then swapped by rename. The old site is set
aside beside the new one, for the next build to delete while it runs (`Sweep`). An
output whose key is the one the last build recorded for its path, in a file untouched
since, is linked without being made at all (`Staging.reuse`). A refused or failed write
(every byte is checked written) leaves the old site as it was. This is the only module
that writes a site to disk.
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from blogkeeper import urls
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.model import Output

MARKER = ".blogkeeper-output"
PROTECTED = ("posts", "templates", "static")


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


def write_site(outputs: Iterable[Output], out: Path) -> None:
    """Replace the folder `out` (already checked) with exactly `outputs`."""
    staging = Staging(out)
    try:
        for output in outputs:
            staging.put(output)
        staging.commit()
    except BaseException:
        staging.discard()
        raise
    Sweep(out).wait()


class Staging:
    """A new site for the folder `out` (already checked), written file by file into a
    sibling temporary folder as a build makes it (a `model.Sink`): `commit` swaps it in,
    `discard` removes it and leaves the old site as it was. A forked child may `put` too.
    """

    shared = True
    reusing = True

    def __init__(self, out: Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
        self._old = _old_files(out)
        self._old_keys: dict[str, list[Any]] = {}
        self._folders = {""}
        self.keys: dict[str, str] = {}  # path -> the key of the output there
        self.name = str(out)

    def recall(self, record: bytes | None) -> None:
        """Take what an earlier build's `record` said of the old site's files."""
        self._old_keys = _files_in(record) if record and self._old else {}

    def record(self) -> bytes:
        """Each keyed file's key, size, mtime and inode (the swap's rename keeps them),
        for the next build's `recall`."""
        files = {}
        for path, key in sorted(self.keys.items()):
            try:
                status = os.stat(os.path.join(self.folder, path), follow_symlinks=False)
            except OSError:
                continue
            files[path] = [key, status.st_size, status.st_mtime_ns, status.st_ino]
        return json.dumps({"files": files}).encode()

    def reuse(self, path: str, key: str) -> bool:
        """Note that the output at `path` has the key `key` (`cache.Cache.key`: a digest
        of everything it is made from); and if the old site's file there was made from
        the same key and has not been touched since (size, mtime and inode as recorded),
        link it, and answer True: the caller need not make it."""
        self.keys[path] = key
        old, found = self._old_keys.get(path), self._old.get(path)
        if old is None or found is None or old[0] != key or not urls.inside(path):
            return False
        try:
            status = found.stat(follow_symlinks=False)
            if [status.st_size, status.st_mtime_ns, status.st_ino] != old[1:]:
                return False
            _folder_for(str(self.folder), path, self._folders)
            os.link(found.path, os.path.join(self.folder, path))
        except OSError:
            return False
        return True

    def put(self, output: Output) -> None:
        if not urls.inside(output.path):
            return  # never written: the build reports the path (build._checked)
        try:
            _place(str(self.folder), output, self._old, self._folders)
        except OSError as exc:
            _failed(self.out / output.path, exc)

    def put_parts(self, path: str, parts: Iterable[bytes]) -> None:
        """Write the file at `path` part by part; then, if the old site's file holds the
        same bytes, link that one instead (as `put` does)."""
        parts = iter(parts)
        target = os.path.join(self.folder, path)
        try:
            written = urls.inside(path) and _new_file(str(self.folder), path, parts, self._folders)
        except OSError as exc:
            _failed(self.out / path, exc)
        for _ in parts:  # not written (the build reports why): the parts are still taken
            pass
        found = self._old.get(path) if written else None
        if found is not None and filecmp.cmp(found.path, target, shallow=False):
            link = os.path.join(self.folder, ".blogkeeper-link")  # no output has this name
            with contextlib.suppress(OSError):  # else the new file stays: the same bytes
                os.link(found.path, link)
                os.replace(link, target)

    def read(self, path: str) -> bytes:
        with open(self.folder / path, "rb") as file:
            return file.read()

    def commit(self) -> None:
        """Put the new site in place of the old one."""
        try:
            _write_new(str(self.folder / MARKER), b"")
        except OSError as exc:
            _failed(self.out / MARKER, exc)
        _swap(self.folder, self.out)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _files_in(record: bytes) -> dict[str, list[Any]]:
    """The files a `Staging.record` names, with what it says of each; nothing if it
    cannot be read."""
    try:
        files = json.loads(record).get("files", {})
        return {path: entry for path, entry in files.items() if len(entry) == 4}
    except (ValueError, AttributeError, TypeError):
        return {}


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
    staging: str, output: Output, old: dict[str, os.DirEntry[str]], folders: set[str]
) -> None:
    """Write `output` under `staging`, or link the old site's file if it holds the same
    bytes. A path already written, or under a file, is left as it is: the build reports
    the clash (build._checked, build._nested)."""
    target = os.path.join(staging, output.path)
    try:
        _folder_for(staging, output.path, folders)
    except (FileExistsError, NotADirectoryError):
        return  # a file where this needs a folder: the build reports it
    found = old.get(output.path)
    if found is not None and _unchanged(found, output.data):
        try:  # the same bytes: a hard link keeps the file's mtime, for hosts and rsync
            os.link(found.path, target)
            return
        except FileExistsError:
            return
        except OSError:
            pass  # a link across devices: write the bytes instead
    try:
        _write_new(target, output.data)
    except FileExistsError:
        return


def _folder_for(staging: str, path: str, folders: set[str]) -> None:
    """Make the folder the output `path` goes in under `staging`, unless `folders` (the
    ones made already) holds it."""
    folder = os.path.dirname(path)
    if folder not in folders:
        os.makedirs(os.path.join(staging, folder), exist_ok=True)
        folders.add(folder)


def _new_file(staging: str, path: str, parts: Iterable[bytes], folders: set[str]) -> bool:
    """Create the file `path` under `staging` holding `parts`, or False where the build
    reports a clash."""
    target = os.path.join(staging, path)
    try:
        _folder_for(staging, path, folders)
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except (FileExistsError, NotADirectoryError):
        return False
    try:
        for part in parts:
            _write_all(handle, part, target)
    finally:
        os.close(handle)
    return True


def _unchanged(entry: os.DirEntry[str], data: bytes) -> bool:
    """Whether the old file holds exactly `data`."""
    try:
        status = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return False
        with open(entry.path, "rb", buffering=0) as file:
            return file.read() == data
    except OSError:
        return False


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
        _write_all(handle, data, path)
    finally:
        os.close(handle)


def _write_all(handle: int, data: bytes, path: str) -> None:
    rest = memoryview(data)
    while rest:
        written = os.write(handle, rest)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        rest = rest[written:]


def _swap(staging: Path, out: Path) -> None:
    """Put `staging` in place of `out`, and the old `out` aside, for `sweep` to delete."""
    os.chmod(staging, 0o755)
    if not out.exists():
        os.rename(staging, out)
        return
    retired = Path(tempfile.mkdtemp(prefix=_retired_prefix(out), dir=out.parent))
    try:
        os.rename(out, retired / "site")
    except BaseException:
        retired.rmdir()
        raise
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired / "site", out)
        retired.rmdir()
        raise


def _retired_prefix(out: Path) -> str:
    return f".{out.name}.old-"


class Sweep:
    """The deleting of the old sites that swaps put aside beside an output folder (and a
    killed build left there), in a child process, on a core the build leaves idle: at
    10,000 posts the old tree is 13,000 folders, a second to delete. Only a folder named
    as `_swap` names them and holding nothing but the old site (`site`) is deleted."""

    def __init__(self, out: Path) -> None:
        prefix = _retired_prefix(out)
        try:
            found = [e for e in os.scandir(out.parent) if e.name.startswith(prefix)]
        except OSError:
            found = []
        retired = [e.path for e in found if e.is_dir(follow_symlinks=False) and _only_site(e)]
        self._child = (
            subprocess.Popen(
                ["rm", "-rf", "--", *retired],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if retired
            else None
        )

    def wait(self) -> None:
        if self._child is not None:
            self._child.wait()


def _only_site(entry: os.DirEntry[str]) -> bool:
    try:
        return set(os.listdir(entry.path)) <= {"site"}
    except OSError:
        return False
