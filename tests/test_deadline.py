"""The bounded child of the page step, as a preview runs it (other threads running: a
forkserver's worker, kept between calls) and as `build` does (a forked child per call).
Through the real page step: the templates' own tests are in test_pages.py."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BLOG_TOML, forked_children, post

from blogkeeper import deadline
from blogkeeper.build import build_site
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.model import BuildOptions

MiB = 1 << 20


@pytest.fixture
def other_thread() -> Iterator[None]:
    """Another thread runs, as in `serve`: children then come from the forkserver."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    assert deadline.process_context().get_start_method() == "forkserver"
    yield
    stop.set()
    thread.join()


def allocate(size: int) -> int:
    return len(bytearray(size))


def test_a_preview_keeps_its_child_for_the_next_call(other_thread: None) -> None:
    first = deadline.call_in_child(30, 256 * MiB, os.getpid)
    assert first != os.getpid()
    assert deadline.call_in_child(30, 256 * MiB, os.getpid) == first


def test_a_child_that_overruns_is_killed_and_the_next_call_gets_a_new_one(
    other_thread: None,
) -> None:
    first = deadline.call_in_child(30, 256 * MiB, os.getpid)
    started = time.monotonic()
    with pytest.raises(deadline.Overrun):
        deadline.call_in_child(0.5, 256 * MiB, time.sleep, 30)
    assert time.monotonic() - started < 10
    second = deadline.call_in_child(30, 256 * MiB, os.getpid)
    assert second not in (first, os.getpid())


def test_each_call_to_a_kept_child_has_its_own_memory_bound(other_thread: None) -> None:
    with pytest.raises(MemoryError):
        deadline.call_in_child(30, 64 * MiB, allocate, 512 * MiB)
    # The same child, with the bound of this call, not of the last one.
    assert deadline.call_in_child(30, 1024 * MiB, allocate, 512 * MiB) == 512 * MiB
    with pytest.raises(MemoryError):
        deadline.call_in_child(30, 64 * MiB, allocate, 512 * MiB)


def test_a_forked_child_is_new_for_each_call() -> None:
    assert threading.active_count() == 1
    first = deadline.call_in_child(30, 256 * MiB, os.getpid)
    assert first != os.getpid()
    assert deadline.call_in_child(30, 256 * MiB, os.getpid) != first


LOOP_FOR_EVER = "{% for i in range(10**12) %}{% endfor %}"


def test_a_preview_stops_a_template_that_never_ends_then_builds_when_it_is_fixed(
    tmp_path: Path, other_thread: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blogkeeper import pages

    monkeypatch.setattr(pages, "PAGES_SECONDS", (1.0, 0.0))
    (tmp_path / "blog.toml").write_text(BLOG_TOML)
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "a.md").write_text(post("A", "2026-01-01"))
    (tmp_path / "templates").mkdir()
    template = tmp_path / "templates" / "post.html"
    looping = "{% block content %}\n" + LOOP_FOR_EVER + "\n{% endblock %}\n"
    template.write_text('{% extends "base.html" %}\n' + looping)
    options = BuildOptions(preview=True)
    with pytest.raises(BuildError) as stopped:
        build_site(tmp_path, options)
    [error] = stopped.value.errors
    assert (error.path, error.line) == ("templates/post.html", 3)
    assert error.message == "the pages took longer than 1 s to render; stopped"
    template.write_text(
        '{% extends "base.html" %}\n{% block content %}{{ content }}{% endblock %}\n'
    )
    outputs = build_site(tmp_path, options)
    page = next(o.data for o in outputs if o.path == "2026/01/a/index.html")
    assert b"<title>A" in page


def numbers(count: int) -> list[int]:
    return list(range(count))


@pytest.mark.parametrize("count", [0, 1, deadline.PART, deadline.PART + 1, 1000])
def test_a_list_answer_arrives_whole_and_in_order_from_either_child(count: int) -> None:
    """A list is sent in parts (neither process holds all of it pickled): from a forked
    child, and from the kept worker with other threads running."""
    assert deadline.call_in_child(30, 256 * MiB, numbers, count) == list(range(count))
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert deadline.call_in_child(30, 256 * MiB, numbers, count) == list(range(count))
    finally:
        stop.set()
        thread.join()


def made_one_by_one(name: str, count: int, wait_for: str | None) -> Iterator[str]:
    """`count` items of 1 kB; with `wait_for`, after the first part, none until that
    file exists."""
    for number in range(count):
        if wait_for and number == deadline.PART:
            while not os.path.exists(wait_for):
                time.sleep(0.01)
        yield f"{name} {number} " + "x" * 1000


def test_items_reach_the_parent_while_the_children_still_make_them(tmp_path: Path) -> None:
    """Each child's items come back whole and in order; `each` sees each item as it
    arrives: here the children make no more than one part until `each` has seen one,
    and two children send far more than a pipe holds without waiting on each other."""
    go_on = tmp_path / "go on"
    seen: list[str] = []

    def each(item: str) -> str:
        seen.append(item)
        go_on.touch()
        return item.split(" x")[0]  # what the answer holds

    calls = [("a", 5000, str(go_on)), ("b", 5000, str(go_on))]
    answers = deadline.call_in_children(30, 256 * MiB, made_one_by_one, calls, each)
    made = [list(made_one_by_one(*call[:2], None)) for call in calls]
    assert answers == [[item.split(" x")[0] for item in items] for items in made]
    assert sorted(seen) == sorted(made[0] + made[1])


def made_then_failed(count: int) -> Iterator[int]:
    yield from range(count)
    raise BuildError([ContentError("posts/x.md", count, "bad")])


def test_an_iterator_that_fails_gives_its_errors_not_its_items() -> None:
    calls = [(deadline.PART * 3,), (1,)]
    seen: list[int] = []
    with pytest.raises(BuildError) as caught:
        deadline.call_in_children(30, 256 * MiB, made_then_failed, calls, seen.append)
    assert sorted(e.line or 0 for e in caught.value.errors) == [1, deadline.PART * 3]
    assert seen == list(range(deadline.PART * 3))  # the parts sent before it failed


def test_forked_children_left_unanswered_are_killed() -> None:
    started = deadline.start_in_children(30, 256 * MiB, time.sleep, [(30,), (30,)])
    before = time.monotonic()
    started.stop()
    assert time.monotonic() - before < 5
    assert forked_children() == []
    with pytest.raises(RuntimeError):
        started.wait()


def test_the_kept_worker_left_unanswered_finishes_its_call_and_is_kept(
    other_thread: None,
) -> None:
    """A preview's build that fails while its pages render waits for them (a new worker
    takes some 70 ms to start) and drops them; the worker serves the next call."""
    worker = deadline.call_in_child(30, 256 * MiB, os.getpid)
    started = deadline.start_in_child(30, 256 * MiB, time.sleep, 0.2)
    started.stop()
    assert deadline.call_in_child(30, 256 * MiB, os.getpid) == worker
    answer = deadline.start_in_child(30, 256 * MiB, sum, [1, 2])
    assert answer.wait() == 3


def _answer_of(size: int) -> list[bytes]:
    return [b"x" * (size // 8)] * 8


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="Linux pipes")
def test_a_child_sends_a_part_of_its_answer_in_one_go_before_it_is_read() -> None:
    """A child's pipe holds `PIPE_BYTES`: a part of 900 kB is written whole, and the
    child ends, before this process reads any of it (with the system's 64 KiB pipe the
    child waited for each read)."""
    started = deadline.start_in_children(60, 1 << 30, _answer_of, [(900_000,)])
    [child] = forked_children()
    child.join(20)
    assert child.exitcode == 0  # done, with nothing read yet
    assert started.wait() == [_answer_of(900_000)]
