"""Reading the author's files: every byte up to the limit, an error naming the size past it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blogkeeper.errors import BuildError
from blogkeeper.files import read_regular

KIND = "must be a regular file"
SIZE_HINT = "raise the limit"


@pytest.mark.parametrize("size", [0, 1, 99, 100])
def test_a_file_up_to_the_limit_is_read_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "x.md"
    data = b"ab\n" * (size // 3) + b"z" * (size % 3)
    path.write_bytes(data)
    assert read_regular(path, "posts/x.md", 100, KIND, SIZE_HINT) == data


@pytest.mark.parametrize("size", [101, 102, 5000])
def test_a_file_past_the_limit_is_an_error_with_its_size(tmp_path: Path, size: int) -> None:
    path = tmp_path / "x.md"
    path.write_bytes(b"x" * size)
    with pytest.raises(BuildError) as caught:
        read_regular(path, "posts/x.md", 100, KIND, SIZE_HINT)
    [error] = caught.value.errors
    assert (error.path, error.line, error.hint) == ("posts/x.md", None, SIZE_HINT)
    assert error.message == f"file is {size:,} bytes, over the limit of 100"


@pytest.mark.skipif(not Path("/proc/self/cmdline").is_file(), reason="needs Linux's /proc")
def test_a_file_holding_more_than_its_size_says_is_read_to_its_end() -> None:
    """Files in /proc say they hold 0 bytes: the read goes on past the size to the end."""
    path = Path("/proc/self/cmdline")
    expected = path.read_bytes()
    assert len(expected) > 1
    assert read_regular(path, "cmdline", 10_000, KIND) == expected
    with pytest.raises(BuildError) as caught:
        read_regular(path, "cmdline", len(expected) - 1, KIND, SIZE_HINT)
    assert caught.value.errors[0].message.startswith(f"file is {len(expected):,} bytes")


@pytest.mark.parametrize("size", [1, 99, 100])
def test_a_regular_file_is_read_with_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A read that stops short at the size the file said is its end: no second read to
    see that (a build reads 30,000 files). `os.read` is watched, not replaced."""
    path = tmp_path / "x.md"
    path.write_bytes(b"y" * size)
    reads: list[int] = []
    read = os.read

    def watched(fd: int, count: int) -> bytes:
        reads.append(count)
        return read(fd, count)

    monkeypatch.setattr(os, "read", watched)
    assert read_regular(path, "posts/x.md", 100, KIND) == b"y" * size
    assert reads == [size + 1]
