"""Write a built site to its output folder, atomically and never outside it.

The new site is written into a sibling temporary folder as the build makes it
(`Staging`), files whose bytes did not change are hard-linked from the old site (so they
keep their mtime), and the folders are then swapped by rename. The old site is set
aside beside the new one, and the next build updates it in place into its own staging
folder (`Staging`, `_claim`); one no build claims is deleted while a build runs
(`Sweep`). An output whose key is the one the last build recorded for its path, in a file untouched
since, is linked without being made at all (`Staging.reuse`). A refused or failed write
(every byte is checked written) leaves the old site as it was. This is the only module
that writes a site to disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import filecmp
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from blogkeeper import deadline, urls
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.files import read_whole
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


def keep_foreign(out: Path) -> Path | None:
    """Move `out` (checked), a folder that holds files blogkeeper did not make (`--force`
    to write there), to a name of its own beside it, which no build deletes: the new
    site takes its place, and nothing of the old is lost. Where it went; None when `out`
    was blogkeeper's, or empty, or not there."""
    if not out.is_dir() or (out / MARKER).exists() or not any(out.iterdir()):
        return None
    name = f"{out.name}.replaced-{dt.datetime.now():%Y%m%d-%H%M%S}"
    kept, n = out.parent / name, 1
    while kept.exists() or kept.is_symlink():
        n += 1
        kept = out.parent / f"{name}-{n}"
    os.rename(out, kept)
    return kept


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
    if os.path.ismount(out):  # a build swaps the whole folder for the new site's
        return "is a mount point, which cannot be replaced; use a folder inside it"
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
    sibling folder as a build makes it (a `model.Sink`): `commit` swaps it in, `discard`
    sets it aside and leaves the old site as it was. A forked child may `put` too.

    That folder is the site the last swap set aside, when there is one (`_claim`): it is
    updated in place, so an unchanged build makes no folder and links no file, where a new
    folder would take 13,000 folders and 23,000 links at 10,000 posts. Nothing in it is
    trusted: a file there is kept only when it is the old site's own file (the same
    inode) and that file is what this build would put there; every other file is
    removed before its path is written, and at `commit` what this build did not put.

    Both folders are walked in a forked child that `recall` starts, once the build has
    rendered its posts, while it keys its pages (at 10,000 posts, 27,000 folders: 0.4 s
    of one core); the walk is waited for when first needed (walked here, without
    `recall`)."""

    shared = True
    reusing = True

    def __init__(self, out: Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        claimed = _claim(out)
        self.folder = claimed or Path(tempfile.mkdtemp(prefix=_beside(out, "new"), dir=out.parent))
        self._claimed = self.folder if claimed else None
        self._walking: deadline.Started | None = None  # the walk, once `recall` starts it
        self._walk_done = False
        self._old: dict[str, Found] = {}  # the old site's regular files
        # The set-aside site's entries (all but folders) and folders, not yet put again.
        self._left: dict[str, Found] = {}
        self._folders: set[str] = {""}
        self._had: set[str] = set()  # its folders: those this build does not fill go
        self._put: set[str] = set()  # every path this build put, or reused, or will make
        self._old_keys: dict[str, list[Any]] = {}
        self._reused: dict[str, list[Any]] = {}  # path -> the size, mtime, inode it had
        self.keys: dict[str, str] = {}  # path -> the key of the output there
        self.name = str(out)

    def _walked(self) -> None:
        """Wait for the walk of the old site and of the folder, or walk them now (once)."""
        if self._walk_done:
            return
        self._walk_done = True
        walking, self._walking = self._walking, None
        try:
            found = walking.wait() if walking else _walk(self.out, self._claimed)
        except (deadline.ChildDied, deadline.Overrun):  # killed from outside: walk here
            found = _walk(self.out, self._claimed)
        self._old, self._left, self._folders = found
        self._had = set(self._folders)

    def recall(self, record: bytes | None) -> None:
        """Take what an earlier build's `record` said of the old site's files, and start
        walking the folders: a build recalls once it has rendered its posts, and puts its
        first file after it has made the pages' keys."""
        self._old_keys = _files_in(record) if record else {}
        if not self._walk_done and self._walking is None:
            self._walking = _start_walk(self.out, self._claimed)

    def record(self) -> bytes:
        """Each keyed file's key, size, mtime and inode (the swap's rename keeps them),
        for the next build's `recall`."""
        files = {}
        for path, key in sorted(self.keys.items()):
            if path in self._reused:  # the old site's file: as that build recorded it
                files[path] = [key, *self._reused[path]]
                continue
            try:
                status = os.stat(os.path.join(self.folder, path), follow_symlinks=False)
            except OSError:
                continue
            files[path] = [key, status.st_size, status.st_mtime_ns, status.st_ino]
        return json.dumps({"files": files}).encode()

    def reuse(self, path: str, key: str | None) -> bool:
        """Note that the output at `path` has the key `key` (`cache.Cache.key`: a digest
        of everything it is made from); and if the old site's file there was made from
        the same key and has not been touched since (size, mtime and inode as recorded),
        link it (or keep it, when the folder holds it already), and answer True: the
        caller need not make it. Else (and always with no key) the path is cleared for
        the one who makes it: a forked child's `put` of it then reaches this process."""
        if key is not None:
            self.keys[path] = key
        if not urls.inside(path):
            return False
        self._walked()
        there = self._take(path)
        old, found = self._old_keys.get(path), self._old.get(path)
        try:
            if key is None or old is None or found is None or old[0] != key:
                raise FileNotFoundError
            status = os.stat(found.path, follow_symlinks=False)
            if [status.st_size, status.st_mtime_ns, status.st_ino] != old[1:]:
                raise FileNotFoundError
            if there is None or there.inode != status.st_ino:  # else it is here already
                self._clear(there)
                self._folder_for(path)
                os.link(found.path, os.path.join(self.folder, path))
        except OSError:
            self._clear(there)
            return False
        self._reused[path] = old[1:]
        return True

    def put(self, output: Output) -> None:
        if not urls.inside(output.path):
            return  # never written: the build reports the path (build._checked)
        self._walked()
        there = self._take(output.path)
        found = self._old.get(output.path)
        if (
            there is not None
            and found is not None
            and there.inode == found.inode
            and _unchanged(found, output.data)
        ):
            return  # the old site's own file, with these bytes, is here already
        self._clear(there)
        try:
            if self._folder_for(output.path):
                _place(str(self.folder), output, self._old)
        except OSError as exc:
            _failed(self.out / output.path, exc)

    def put_parts(self, path: str, parts: Iterable[bytes]) -> None:
        """Write the file at `path` part by part; then, if the old site's file holds the
        same bytes, link that one instead (as `put` does)."""
        parts = iter(parts)
        target = os.path.join(self.folder, path)
        written = False
        self._walked()
        if urls.inside(path):
            self._clear(self._take(path))
            try:
                written = self._folder_for(path) and _new_file(target, parts)
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
        return read_whole(os.path.join(self.folder, path))

    def commit(self) -> None:
        """Remove what the folder holds that this build did not put, and put the new
        site in place of the old one."""
        self._walked()
        for path, entry in self._left.items():
            if path != MARKER:  # an empty file, as this build's would be
                _remove(entry.path)
        needed = {""}
        for path in self._put:
            while (path := os.path.dirname(path)) not in needed:
                needed.add(path)
        for folder in sorted(self._had - needed, key=len, reverse=True):
            _remove(os.path.join(self.folder, folder))
        if MARKER not in self._left:
            try:
                _write_new(str(self.folder / MARKER), b"")
            except OSError as exc:
                _failed(self.out / MARKER, exc)
        _swap(self.folder, self.out)

    def discard(self) -> None:
        """Set the folder aside, as a swap sets the old site, for a next build to use or
        to delete."""
        if self._walking is not None:
            self._walking.stop()
            self._walking, self._walk_done = None, True
        try:
            _set_aside(self.folder, self.out)
        except OSError:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _take(self, path: str) -> Found | None:
        """What the folder holds at `path` from before this build (an entry that is not
        a folder, which the caller keeps or clears), now this build's to fill. A folder
        from before there is removed."""
        self._put.add(path)
        there = self._left.pop(path, None)
        if there is None and path in self._had:
            self._drop_folder(path)
        return there

    def _clear(self, there: Found | None) -> None:
        if there is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(there.path)

    def _folder_for(self, path: str) -> bool:
        """Make the folder the output `path` goes in, unless it is made already; False
        where a file this build put is in the way (the build reports it). A file from
        before this build in the way is removed."""
        folder = os.path.dirname(path)
        if folder in self._folders:
            return True
        above = folder
        while above:  # a file from before where a folder is needed now
            self._clear(self._left.pop(above, None))
            above = os.path.dirname(above)
        try:
            os.makedirs(os.path.join(self.folder, folder), exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            return False
        above = folder
        while above not in self._folders:
            self._folders.add(above)
            above = os.path.dirname(above)
        return True

    def _drop_folder(self, folder: str) -> None:
        """Remove a folder from before this build where a file is to go now."""
        shutil.rmtree(os.path.join(self.folder, folder), ignore_errors=True)
        inside = folder + "/"
        for path in [p for p in self._left if p.startswith(inside)]:
            del self._left[path]
        for gone in [f for f in self._folders if f == folder or f.startswith(inside)]:
            self._folders.discard(gone)
            self._had.discard(gone)


def _files_in(record: bytes) -> dict[str, list[Any]]:
    """The files a `Staging.record` names, with what it says of each; nothing if it
    cannot be read."""
    try:
        files = json.loads(record).get("files", {})
        return {path: entry for path, entry in files.items() if len(entry) == 4}
    except (ValueError, AttributeError, TypeError):
        return {}


class Found(NamedTuple):
    """A file found by a walk (`_tree`): where it is, and its inode."""

    path: str
    inode: int


# The walk of two sites may take this long, and this much more memory than its parent.
WALK_SECONDS = 600.0
WALK_MEMORY = 1 << 30


def _start_walk(out: Path, claimed: Path | None) -> deadline.Started:
    """`_walk` in a forked child (here, where none can be forked)."""
    if not deadline.child_inherits():
        return deadline.Started.done(_walk(out, claimed))
    return deadline.start_in_child(WALK_SECONDS, WALK_MEMORY, _walk, out, claimed)


def _walk(out: Path, claimed: Path | None) -> tuple[dict[str, Found], dict[str, Found], set[str]]:
    """The old site's regular files (`_old_files`), and the entries that are not folders
    and the folders of `claimed` (`_tree`; none without it)."""
    left, folders = _tree(claimed) if claimed else ({}, {""})
    return _old_files(out), left, folders


def _old_files(out: Path) -> dict[str, Found]:
    """The regular files of the old site by path, reached through no symlink: a file
    reached through one may live outside the old site and must never be linked."""
    if not out.is_dir() or os.path.realpath(out) != str(out):
        return {}
    entries, _ = _tree(out, regular=True)
    return entries


def _place(staging: str, output: Output, old: dict[str, Found]) -> None:
    """Write `output` under `staging` (its folder made), or link the old site's file if
    it holds the same bytes. A path already written is left as it is: the build reports
    the clash (build._checked)."""
    target = os.path.join(staging, output.path)
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


def _new_file(target: str, parts: Iterable[bytes]) -> bool:
    """Create the file `target` (its folder made) holding `parts`, or False where the
    build reports a clash."""
    try:
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except (FileExistsError, NotADirectoryError):
        return False
    try:
        for part in parts:
            _write_all(handle, part, target)
    finally:
        os.close(handle)
    return True


def _tree(folder: Path, regular: bool = False) -> tuple[dict[str, Found], set[str]]:
    """Every entry under `folder` that is not a folder (with `regular`, every regular
    file), by path, and every folder ("" for `folder` itself), reached through no
    symlink."""
    entries: dict[str, Found] = {}
    folders = {""}
    todo = [(str(folder), "")]
    while todo:
        where, prefix = todo.pop()
        with os.scandir(where) as found:
            for entry in found:
                if entry.is_dir(follow_symlinks=False):
                    folders.add(prefix + entry.name)
                    todo.append((entry.path, prefix + entry.name + "/"))
                elif not regular or entry.is_file(follow_symlinks=False):
                    entries[prefix + entry.name] = Found(entry.path, entry.inode())
    return entries, folders


def _remove(path: str) -> None:
    """Remove the file or folder at `path` (inside a staging folder), if it is there."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _unchanged(entry: Found, data: bytes) -> bool:
    """Whether the old file holds exactly `data`."""
    try:
        status = os.stat(entry.path, follow_symlinks=False)
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
    """Put `staging` in place of `out`, and the old `out` aside (`_set_aside`)."""
    os.chmod(staging, 0o755)
    if not out.exists():
        os.rename(staging, out)
        return
    retired = _set_aside(out, out)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired / "site", out)
        retired.rmdir()
        raise


def _set_aside(folder: Path, out: Path) -> Path:
    """Move `folder` to `.{out.name}.old-…/site` beside `out`: where the next build into
    `out` finds it to update (`_claim`), or to delete (`Sweep`). The folder it made."""
    retired = Path(tempfile.mkdtemp(prefix=_beside(out, "old"), dir=out.parent))
    try:
        os.rename(folder, retired / "site")
    except BaseException:
        retired.rmdir()
        raise
    return retired


def _claim(out: Path) -> Path | None:
    """A site set aside beside `out`, moved to a new staging folder of this build's
    (a rename: two builds cannot claim one), or None."""
    for retired in _retired(out):
        folder = Path(tempfile.mkdtemp(prefix=_beside(out, "new"), dir=out.parent))
        try:
            os.rename(os.path.join(retired, "site"), folder)  # onto the empty folder
        except OSError:
            folder.rmdir()
            continue
        with contextlib.suppress(OSError):
            os.rmdir(retired)
        return folder
    return None


def _retired(out: Path, kind: str = "old") -> list[str]:
    """The folders beside `out` that a swap (or `discard`) named (or `Sweep`, with
    `kind` "gone"), holding nothing but a site set aside (or nothing at all: a build
    killed between two renames)."""
    prefix = _beside(out, kind)
    try:
        found = [e for e in os.scandir(out.parent) if e.name.startswith(prefix)]
    except OSError:
        return []
    return sorted(e.path for e in found if e.is_dir(follow_symlinks=False) and _only_site(e))


def _beside(out: Path, kind: str) -> str:
    """How the folders of `kind` beside `out` begin: ".public.new-" (a staging folder),
    "old" (a site set aside), "gone" (one a sweep deletes)."""
    return f".{out.name}.{kind}-"


class Sweep:
    """The deleting of the sites set aside beside an output folder that no build claimed
    (`_claim`): in a child process, on a core the build leaves idle (at 10,000 posts a
    site is 13,000 folders, a second to delete). Only a folder named as `_set_aside`
    names them and holding nothing but a site is deleted. Each is renamed first, which
    fails if a build has claimed it, so no build's staging folder is ever deleted."""

    def __init__(self, out: Path) -> None:
        gone = _retired(out, "gone")  # a sweep's that was stopped
        for retired in _retired(out):
            name = os.path.join(out.parent, _beside(out, "gone") + secrets.token_hex(6))
            with contextlib.suppress(OSError):
                os.rename(retired, name)
                gone.append(name)
        self._child = (
            subprocess.Popen(
                ["rm", "-rf", "--", *gone],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if gone
            else None
        )

    def wait(self) -> None:
        if self._child is not None:
            self._child.wait()


def _only_site(entry: os.DirEntry[str]) -> bool:
    try:
        names = os.listdir(entry.path)
        site = os.path.join(entry.path, "site")
        return not names or (names == ["site"] and stat.S_ISDIR(os.lstat(site).st_mode))
    except OSError:
        return False
