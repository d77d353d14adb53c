"""Run one pure call under a bound, so that no input can hang a build or eat the memory.

markdown2 has regular expressions that backtrack exponentially on some inputs (an unclosed
HTML tag followed by many attributes, trentm/python-markdown2#707), and Pygments lexers
are regular expressions too. `call_with_deadline` ends such a call after `seconds`:

- on the main thread (the CLI, and the workers of a process pool) a SIGALRM timer raises
  `Overrun` inside the call; Python's regular-expression engine checks for signals while
  it backtracks, so the call really stops;
- on any other thread, where signals cannot be used, the call runs in a worker process
  forked from a forkserver (kept for the next call), which is killed when time is up.

Templates are programs: a loop can run for ever and a string can double until memory
runs out. `call_in_child` runs a call in a child process, with a limit on its address
space, and kills it when its time is up; `call_with_alarm` lets the call itself stop in
time (in that child), where a traceback still says where it was; `call_in_children` runs
several such calls side by side. A forked child is new for each call; a forkserver's is
kept for the next call (a preview rebuilds often, and a new one takes some 70 ms to
start), and replaced once killed. A list a child answers comes back in parts; an
iterator's items, as the child makes them. `start_in_child` and `start_in_children` start
the same calls and let the caller go on until it `wait`s for the answers (`Started`).

`die_with_parent` makes a child process end with the process that started it, and
`process_context` says how to start one safely from the current process.

This module knows nothing about posts or Markdown and writes nothing.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, ForkServerContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, TypeVar

from blogkeeper.errors import BuildError

T = TypeVar("T")


class Overrun(BaseException):
    """The call ran past its deadline (a BaseException, so `except Exception` in it misses)."""


class ChildDied(Exception):
    """The child process ended without an answer (killed, or out of memory in C code)."""


def call_with_deadline(seconds: float, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, or `Overrun` once it has run for `seconds`."""
    on_main = threading.current_thread() is threading.main_thread()
    if on_main and hasattr(signal, "setitimer"):
        return call_with_alarm(seconds, Overrun, fn, *args)
    if hasattr(signal, "setitimer"):  # a POSIX system: a forkserver exists
        return _in_child(seconds, fn, args)
    return fn(*args)  # Windows: no bound (documented in SECURITY.md)


def call_with_alarm(
    seconds: float, error: type[BaseException], fn: Callable[..., T], *args: Any
) -> T:
    """`fn(*args)`, with `error` raised inside it once it has run for `seconds`. Only on
    the main thread; on Windows, unbounded."""
    if not hasattr(signal, "setitimer"):
        return fn(*args)

    def expire(signum: int, frame: FrameType | None) -> None:
        raise error

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


class Started:
    """Calls running in child processes while the caller goes on: `wait()` gives what the
    call would have (its answer, or what it raises), once; `stop()` gives up on an answer
    not waited for (a caller that failed meanwhile). After either, no child is left
    running the calls."""

    def __init__(self, wait: Callable[[], Any], stop: Callable[[], None]) -> None:
        self._wait: Callable[[], Any] | None = wait
        self._stop = stop

    @classmethod
    def done(cls, answer: Any) -> Started:
        """An answer made already."""
        return cls(lambda: answer, lambda: None)

    def wait(self) -> Any:
        wait, self._wait = self._wait, None
        if wait is None:
            raise RuntimeError("waited for twice, or after stop")
        return wait()

    def stop(self) -> None:
        if self._wait is not None:
            self._wait = None
            self._stop()


def call_in_child(seconds: float, memory: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` run in a child process with at most `memory` bytes more address space
    than it has when the call starts (Linux), killed with `Overrun` after `seconds`; what
    it raises (a `BuildError`, a `MemoryError`) is raised here, and `ChildDied` if it ends
    without an answer. Windows: run here, unbounded."""
    return start_in_child(seconds, memory, fn, *args).wait()  # type: ignore[no-any-return]


def start_in_child(seconds: float, memory: int, fn: Callable[..., Any], *args: Any) -> Started:
    """`call_in_child`, started: its answer is `wait()`'s (Windows: made here, now)."""
    if not hasattr(os, "fork"):
        return Started.done(fn(*args))
    if not child_inherits():
        return _start_in_worker(seconds, memory, fn, args)
    started = start_in_children(seconds, memory, fn, [args])
    return Started(lambda: started.wait()[0], started.stop)


def call_in_children(
    seconds: float,
    memory: int,
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    each: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """`[fn(*args) for args in calls]`, each call in a child forked for it, all at once,
    each bounded as by `call_in_child` (`seconds` counted from the start of all); a
    `BuildError` holds the errors of every call that raised one. Only where a child is
    forked (`child_inherits`); one that overruns or dies ends them all.

    A call may give an iterator (a generator): its child sends the items as it makes
    them, and its answer here is their list. With `each`, `each(item)` runs here on every
    item of every answer as it arrives, while the children go on making the rest (so it
    may see items of a call that then raises), and the answer holds what it gives."""
    return start_in_children(seconds, memory, fn, calls, each).wait()  # type: ignore[no-any-return]


def start_in_children(
    seconds: float,
    memory: int,
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    each: Callable[[Any], Any] | None = None,
) -> Started:
    """`call_in_children`, started: its answers are `wait()`'s; `stop()` kills the
    children. `each` runs while `wait()` does."""
    context = multiprocessing.get_context("fork")
    started: list[tuple[BaseProcess, Connection]] = []
    end = time.monotonic() + seconds
    try:
        for args in calls:
            ours, theirs = context.Pipe(duplex=False)
            _widen(theirs)
            child = context.Process(
                target=_child, args=(theirs, os.getpid(), memory, fn, args), daemon=True
            )
            child.start()
            theirs.close()
            started.append((child, ours))
    except BaseException:
        _end(started)
        raise

    def wait() -> list[Any]:
        try:
            answers = _answers(started, end, each)
        finally:
            _end(started)
        errors = [error for kind, value in answers if kind == "build" for error in value]
        if errors:
            raise BuildError(errors)
        return [_returned(kind, value) for kind, value in answers]

    return Started(wait, partial(_end, started))


# A forked child's answer comes through a pipe this big (Linux lets anyone have 1 MiB;
# elsewhere, or past a user's share, the system's 64 KiB): a part of an answer (`PART`
# items, say 64 post entries of 16 kB) then goes in one or two writes and reads, where
# 64 KiB at a time made the processes wait on each other (the load of 10,000 posts:
# 1.2 s, 0.8 s with it).
PIPE_BYTES = 1 << 20


def _widen(pipe: Connection) -> None:
    """Make the pipe `pipe` writes to hold `PIPE_BYTES`, where the system lets it."""
    try:
        import fcntl  # here: not on Windows

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or past the user's share
        pass


def _end(started: list[tuple[BaseProcess, Connection]]) -> None:
    for process, pipe in started:
        process.kill()
        process.join()
        pipe.close()


def _answers(
    started: list[tuple[BaseProcess, Connection]],
    end: float,
    each: Callable[[Any], Any] | None,
) -> list[tuple[str, Any]]:
    """Each child's answer (as `_received` gives one), by `end` (`time.monotonic`) or
    `Overrun`; `ChildDied` for a child that ends without one. Parts are read from
    whichever child has sent one, so that no child waits on a full pipe while another's
    are read; each part's items are what `each` gives for them, as it arrives."""
    children = {pipe: child for child, pipe in started}
    parts: dict[Connection, list[Any]] = {pipe: [] for pipe in children}
    answers: dict[Connection, tuple[str, Any]] = {}
    while len(answers) < len(children):
        waiting = [pipe for pipe in children if pipe not in answers]
        ready = wait(waiting, max(0.0, end - time.monotonic()))
        if not ready or time.monotonic() > end:
            raise Overrun
        for pipe in (pipe for pipe in waiting if pipe in ready):
            try:
                kind, value = pipe.recv()
            except EOFError:
                child = children[pipe]
                child.join()
                raise ChildDied(f"the process stopped with exit code {child.exitcode}") from None
            if each is not None and kind in ("part", "ok"):
                value = [each(item) for item in value]
            if kind == "part":
                parts[pipe] += value
            else:
                answers[pipe] = _joined(parts[pipe], kind, value)
    return [answers[pipe] for _, pipe in started]


def _joined(parts: list[Any], kind: str, value: Any) -> tuple[str, Any]:
    """The answer whose last message was `(kind, value)`, after `parts`."""
    return (kind, parts + value) if parts and kind == "ok" else (kind, value)


# A list a child answers is sent this many items at a time, each part dropped once sent:
# neither process then holds the whole list pickled, nor the child the list once sent.
# An iterator's items are sent as they are made, this many at a time.
PART = 64


def _send(pipe: Connection, answer: tuple[str, Any]) -> None:
    kind, value = answer
    if kind == "ok" and isinstance(value, Iterator):
        answer = _streamed(pipe, value)
    elif kind == "ok" and isinstance(value, list):
        while len(value) > PART:
            pipe.send(("part", value[:PART]))
            del value[:PART]
    pipe.send(answer)


def _streamed(pipe: Connection, items: Iterator[Any]) -> tuple[str, Any]:
    """Send the items of `items` in parts as they are made; the message that ends them:
    the last part, or what making one raised."""
    part: list[Any] = []
    try:
        for item in items:
            part.append(item)
            if len(part) == PART:
                pipe.send(("part", part))
                part = []
    except BuildError as exc:
        return ("build", exc.errors)
    except Exception as exc:
        return ("raise", exc)
    return ("ok", part)


def _received(pipe: Connection, end: float) -> tuple[str, Any]:
    """The answer `_send` sent, by `end` (`time.monotonic`), or `Overrun`; `EOFError` if
    the pipe closed first."""
    parts: list[Any] = []
    while True:
        if not pipe.poll(max(0.0, end - time.monotonic())):
            raise Overrun
        kind, value = pipe.recv()
        if kind != "part":
            return _joined(parts, kind, value)
        parts += value


def _child(
    pipe: Connection, parent: int | None, memory: int, fn: Callable[..., Any], args: Any
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    die_with_parent(parent)
    # What it inherits outlives the call: a collection walking it would take time and,
    # by touching every object, copy the parent's memory into this process.
    gc.freeze()
    gc.enable()  # for what the call makes (a build runs with collections off)
    _limit_memory(memory)
    _send(pipe, _answer(fn, args))


def _limit_memory(extra: int) -> None:
    """Allow this process `extra` bytes of address space more than it has now (Linux)."""
    try:
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return
    import resource  # here: only a child process needs it

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


@contextmanager
def _memory_bound(extra: int | None) -> Iterator[None]:
    """Within the block, `_limit_memory(extra)` (None: no bound); the old limit after it."""
    if extra is None:
        yield
        return
    import resource  # here: only a child process needs it

    before = resource.getrlimit(resource.RLIMIT_AS)
    _limit_memory(extra)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, before)


def _answer(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except BuildError as exc:
        return ("build", exc.errors)
    except Exception as exc:
        return ("raise", exc)


def _returned(kind: str, value: Any) -> Any:
    if kind == "ok":
        return value
    if kind == "build":
        raise BuildError(value)
    raise value


def pool_size() -> int:
    """How many processes share work out: BLOGKEEPER_WORKERS, else one per core."""
    forced = os.environ.get("BLOGKEEPER_WORKERS", "")
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def child_inherits() -> bool:
    """Whether a child started here now inherits the caller's memory (fork) rather than
    being sent its arguments (a forkserver): what to send it then costs nothing."""
    return process_context().get_start_method() == "fork"


def process_context() -> ForkContext | ForkServerContext:
    """How to start a child process from here: fork, which starts in milliseconds with
    everything imported, unless other threads run (serve): forking then can leave the
    child stuck on a lock one of them held, so children come from a forkserver."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return _forkserver()


@lru_cache(maxsize=1)
def _forkserver() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["blogkeeper.build"])  # the renderer and the templates
    return context


_lock = threading.Lock()
_worker: list[tuple[BaseProcess, Connection]] = []  # at most one: (process, its pipe)


def _in_child(seconds: float, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """`fn(*args)` in the kept worker, unbounded in memory; where no worker can run,
    in this thread, unbounded."""
    try:
        return _start_in_worker(seconds, None, fn, args).wait()  # type: ignore[no-any-return]
    except ChildDied:
        return fn(*args)


def _start_in_worker(
    seconds: float, memory: int | None, fn: Callable[..., Any], args: tuple[Any, ...]
) -> Started:
    """`fn(*args)` in a long-lived worker process from the forkserver, with at most
    `memory` bytes more address space (None: no bound); one that overruns `seconds` is
    killed (`Overrun`), one that ends without an answer is `ChildDied`, and either way the
    next call starts a new one. The worker is this call's until it is waited for;
    `stop()` waits for it too (a worker takes some 70 ms to start again) and drops the
    answer."""
    _lock.acquire()
    try:
        if not _worker:
            ours, theirs = _forkserver().Pipe()
            started = _forkserver().Process(target=_serve, args=(theirs,), daemon=True)
            started.start()
            theirs.close()
            _worker.append((started, ours))
        process, pipe = _worker[0]
    except BaseException:
        _lock.release()
        raise
    try:
        pipe.send((fn, args, memory))
    except BaseException as exc:
        _stop(process, pipe)
        _lock.release()
        if isinstance(exc, (EOFError, OSError)):
            raise ChildDied(f"the process stopped with exit code {process.exitcode}") from None
        raise
    end = time.monotonic() + seconds

    def wait() -> Any:
        try:
            kind, value = _received(pipe, end)
        except (EOFError, OSError):
            _stop(process, pipe)
            raise ChildDied(f"the process stopped with exit code {process.exitcode}") from None
        except BaseException:
            _stop(process, pipe)
            raise
        finally:
            _lock.release()
        return _returned(kind, value)

    def stop() -> None:
        with contextlib.suppress(Exception):
            wait()

    return Started(wait, stop)


def _stop(process: BaseProcess, pipe: Connection) -> None:
    _worker.clear()
    process.kill()
    process.join()
    pipe.close()


def _serve(pipe: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        # Unpickling a big site allocates millions of objects and frees none: the
        # collections it would set off (each walking all made so far) find nothing.
        gc.disable()
        try:
            fn, args, memory = pipe.recv()
        except EOFError:
            return
        finally:
            gc.enable()
        gc.freeze()  # nor do the call's own collections need to walk what it was sent
        try:
            with _memory_bound(memory):
                answer = _answer(fn, args)
        finally:
            gc.unfreeze()  # what it was sent goes the usual way once dropped
        _send(pipe, answer)
