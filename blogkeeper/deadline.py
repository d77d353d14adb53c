"""Run one pure call under a wall-clock bound, so that no input can hang a build.

markdown2 has regular expressions that backtrack exponentially on some inputs (an unclosed
HTML tag followed by many attributes, trentm/python-markdown2#707), and Pygments lexers
are regular expressions too. `call_with_deadline` ends such a call after `seconds`:

- on the main thread (the CLI, and the workers of a process pool) a SIGALRM timer raises
  `Overrun` inside the call; Python's regular-expression engine checks for signals while
  it backtracks, so the call really stops;
- on any other thread, where signals cannot be used, the call runs in a worker process
  forked from a forkserver (kept for the next call), which is killed when time is up.

`die_with_parent` makes a child process end with the process that started it.

This module knows nothing about posts or Markdown and writes nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, TypeVar

from blogkeeper.errors import BuildError

T = TypeVar("T")


class Overrun(BaseException):
    """The call ran past its deadline (a BaseException, so `except Exception` in it misses)."""


def call_with_deadline(seconds: float, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, or `Overrun` once it has run for `seconds`."""
    on_main = threading.current_thread() is threading.main_thread()
    if on_main and hasattr(signal, "setitimer"):
        return _with_alarm(seconds, fn, args)
    if hasattr(signal, "setitimer"):  # a POSIX system: a forkserver exists
        return _in_child(seconds, fn, args)
    return fn(*args)  # Windows: no bound (documented in SECURITY.md)


def _with_alarm(seconds: float, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise Overrun

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # someone else's timer was running: give it back what is left
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-3))


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int | None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere nothing).

    Without it a pool worker outlives a killed build for good, blocked on a pipe that its
    sibling workers hold open. `parent` is the pid this process was forked from, if known:
    a parent that died before the request took effect is caught by comparing it.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here: only a child process needs it

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


@lru_cache(maxsize=1)
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["blogkeeper.render"])
    return context


_lock = threading.Lock()
_worker: list[tuple[BaseProcess, Connection]] = []  # at most one: (process, its pipe)


def _in_child(seconds: float, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """Run the call in a long-lived worker process; a worker that overruns is killed."""
    with _lock:
        if not _worker:
            ours, theirs = _context().Pipe()
            started = _context().Process(target=_serve, args=(theirs,), daemon=True)
            started.start()
            theirs.close()
            _worker.append((started, ours))
        process, pipe = _worker[0]
        try:
            pipe.send((fn, args))
            if not pipe.poll(seconds):
                raise Overrun
            kind, value = pipe.recv()
        except (EOFError, OSError):
            _stop(process, pipe)
            return fn(*args)  # no worker could run here: render unbounded, in this thread
        except BaseException:
            _stop(process, pipe)
            raise
    if kind == "ok":
        return value  # type: ignore[no-any-return]
    if kind == "build":
        raise BuildError(value)
    raise value


def _stop(process: BaseProcess, pipe: Connection) -> None:
    _worker.clear()
    process.kill()
    process.join()
    pipe.close()


def _serve(pipe: Connection) -> None:
    while True:
        try:
            fn, args = pipe.recv()
        except EOFError:
            return
        try:
            message: tuple[str, Any] = ("ok", fn(*args))
        except BuildError as exc:
            message = ("build", exc.errors)
        except Exception as exc:
            message = ("raise", exc)
        pipe.send(message)
