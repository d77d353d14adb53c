"""Write a built site to its output folder, atomically and never outside it.

The new site is written into a sibling temporary folder, files whose bytes did not
change are hard-linked from the old site (so they keep their mtime), and the folders are
then swapped by rename. A refused or failed write leaves the old site as it was. This is
the only module that writes a site to disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
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


def write_site(outputs: Iterable[OutputLike], out: Path) -> None:
    """Replace the folder `out` (already checked) with exactly `outputs`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        for output in outputs:
            _place(staging, out, output)
        (staging / MARKER).write_bytes(b"")
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _place(staging: Path, out: Path, output: OutputLike) -> None:
    target = staging / output.path
    target.parent.mkdir(parents=True, exist_ok=True)
    old = out / output.path
    try:
        # Never link a file reached through a symlink: it may live outside the old site.
        same_size = old.is_file() and old.stat().st_size == len(output.data)
        ours = same_size and old.resolve() == old
        if ours and old.read_bytes() == output.data:
            os.link(old, target)
            return
    except OSError:
        pass  # a link across devices or a vanished file: write the bytes instead
    target.write_bytes(output.data)


def _swap(staging: Path, out: Path) -> None:
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
    shutil.rmtree(retired, ignore_errors=True)
