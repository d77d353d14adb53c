"""Reading the author's files safely: only regular files, never more than a limit, and
never waiting on a FIFO. Errors name the file as the author knows it. And reading the
build's own files quickly. Reads; never writes.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from blogkeeper.errors import BuildError, ContentError

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe), not a regular file",
    stat.S_IFSOCK: "a socket, not a regular file",
    stat.S_IFCHR: "a character device, not a regular file",
    stat.S_IFBLK: "a block device, not a regular file",
    stat.S_IFDIR: "a folder, not a regular file",
}


def read_regular(
    path: str | Path, source: str, limit: int, kind_hint: str, size_hint: str | None = None
) -> bytes:
    """The bytes of the regular file (or link to one) at `path`, at most `limit` of them.

    Never more than `limit` + 1 bytes are read, and a FIFO, socket or device is refused
    before any read: opening a FIFO without a writer would wait forever, and a device
    such as /dev/zero never ends. Errors name `source`; `kind_hint` says what the file
    must be, `size_hint` how to allow a bigger one.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        with contextlib.suppress(OSError):  # a socket cannot be opened: say what it is
            _refuse_special(os.stat(path).st_mode, source, kind_hint)
        raise BuildError([ContentError(source, None, f"cannot read: {exc.strerror}")]) from None
    try:
        status = os.fstat(fd)
        _refuse_special(status.st_mode, source, kind_hint)
        try:
            data = _read_up_to(fd, limit + 1, status.st_size)
        except OSError as exc:
            raise BuildError([ContentError(source, None, f"cannot read: {exc.strerror}")]) from None
        if len(data) > limit:
            size = max(len(data), os.fstat(fd).st_size)
            message = f"file is {size:,} bytes, over the limit of {limit:,}"
            raise BuildError([ContentError(source, None, message, size_hint)])
    finally:
        os.close(fd)
    return data


def read_whole(path: str) -> bytes:
    """Every byte of a file blogkeeper wrote (a file of the old site), read with `os.read`
    into one bytes object: no buffered file object, no `Path` (an edit's llms-full.txt
    reads 10,000 twins)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts, want = [], os.fstat(fd).st_size + 1  # and one more, to see the end
        while part := os.read(fd, want):
            parts.append(part)
            want = 1 << 16
        return b"".join(parts)
    finally:
        os.close(fd)


def _read_up_to(fd: int, most: int, expected: int) -> bytes:
    """At most `most` bytes of the regular file `fd`, up to its end: first as many as the
    file says it holds and one more, to see its end (asking for `most` at once would
    allocate that much for every small file), then the rest, if it grew or said nothing
    (/proc). A read of a regular file that gives fewer bytes than asked for, having
    reached the size the file said, is at its end: no read more to see it (30,000 system
    calls a build). A file that says nothing (/proc) is read until a read gives none."""
    parts, size, want = [], 0, min(expected + 1, most)
    while size < most:
        asked = want - size
        part = os.read(fd, asked)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if len(part) < asked and size >= expected > 0:
            break
        if size == want:
            want = most
    return b"".join(parts)


def _refuse_special(mode: int, source: str, hint: str) -> None:
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise BuildError([ContentError(source, None, f"cannot read: {kind}", hint)])
