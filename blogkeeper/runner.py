"""Run one post's Python blocks in order in one namespace; executed as a script, not imported.

`checkcode` starts `python runner.py JOB.json FD` in a process group of its own, in a
temporary working directory. Each block is compiled with the post's path as its file name
and padded so that its line numbers are the post's lines; what it prints to sys.stdout and
sys.stderr is captured (capped at 1 MiB each). After each block the result goes to file
descriptor FD as one JSON line. The first unexpected exception ends the run.

Standard library only: this file must never import blogkeeper, torch or anything the
posts do not import themselves. It does no comparison; the parent judges the results.
"""

from __future__ import annotations

import ast
import builtins
import codecs
import faulthandler
import io
import json
import linecache
import os
import resource
import signal
import sys
import traceback
from types import TracebackType
from typing import Any, TextIO

CAPTURE_LIMIT = 1 << 20  # characters per stream per block
FILE_SIZE_LIMIT = 256 << 20  # bytes per file written by a block
MEMORY_LIMIT = 4 << 30  # bytes of address space for the whole process
CPU_MARGIN = 10  # CPU seconds beyond the sum of the block timeouts (SIGXCPU, then SIGKILL)
PROCESS_BUDGET = 256  # processes and threads the blocks may add to what the user runs
_RUNNER_PID = os.getpid()


class CappedWriter(io.TextIOBase):
    """A text stream that keeps the first CAPTURE_LIMIT characters written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False
        self._binary: BinaryCapture | None = None

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = CAPTURE_LIMIT - self.size
        if len(text) > room:
            self.truncated = True
        kept = text[: max(room, 0)]
        self.parts.append(kept)
        self.size += len(kept)
        return len(text)

    def getvalue(self) -> str:
        if self._binary is not None:  # bytes of a character cut off at the end: U+FFFD
            self.write(self._binary.decoder.decode(b"", final=True))
        return "".join(self.parts)

    @property
    def buffer(self) -> BinaryCapture:
        """The binary layer (`sys.stdout.buffer.write(b"...")`), read as UTF-8."""
        if self._binary is None:
            self._binary = BinaryCapture(self)
        return self._binary


class BinaryCapture(io.RawIOBase):
    """Bytes written are decoded as UTF-8 (invalid bytes as U+FFFD) into a CappedWriter,
    in order with its text."""

    def __init__(self, text: CappedWriter) -> None:
        super().__init__()
        self.text = text
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(memoryview(data))
        self.text.write(self.decoder.decode(chunk))
        return len(chunk)


def main(job_path: str, fd: int) -> None:
    with open(job_path, encoding="utf-8") as file:
        job = json.load(file)
    contain(job)
    if not job.get("isolated", True):
        _refuse_network()
    # A block sees SIGINT as a fresh Python does, as KeyboardInterrupt, even where
    # check-code was started with SIGINT ignored (a background job of a script, say).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.enable()
    events = os.fdopen(fd, "w", encoding="utf-8")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    path = job["path"]
    for index, block in enumerate(job["blocks"]):
        _send(events, {"event": "start", "index": index})
        result = run_block(block, path, namespace)
        _send(events, {"event": "end", "index": index, **result})
        error = result["error"]
        if error is not None and not error["expected"]:
            break
    events.close()
    # Skip atexit hooks and joins of threads a block left running.
    os._exit(0)


def contain(job: dict[str, Any]) -> None:
    """Resource limits for this process and everything it starts."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    # A backstop for a loop that outlives the parent's wall-clock watch: SIGXCPU, then KILL.
    cpu = int(sum(block["timeout"] for block in job["blocks"])) + CPU_MARGIN
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    # The kernel never applies RLIMIT_NPROC to root; there the parent counts the group.
    tasks = _tasks_of(os.getuid()) if os.getuid() != 0 else None
    if tasks is not None:
        limit = tasks + PROCESS_BUDGET
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))


def _refuse_network() -> None:
    """Without a network namespace, Python's sockets refuse to reach out (a weaker fence:
    code that calls the C library directly or starts another program is not stopped)."""
    import errno
    import socket

    def refuse(*args: object, **kwargs: object) -> Any:
        raise OSError(errno.ENETUNREACH, "no network in check-code blocks")

    for name in ("connect", "connect_ex", "sendto", "sendmsg"):
        setattr(socket.socket, name, refuse)


def _tasks_of(uid: int) -> int | None:
    """Processes and threads whose real user is `uid` (what RLIMIT_NPROC counts), Linux only."""
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    count = 0
    for name in names:
        try:
            with open(f"/proc/{name}/status", encoding="utf-8") as file:
                fields = dict(line.split(":", 1) for line in file if ":" in line)
        except (OSError, ValueError):
            continue
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def _send(events: TextIO, message: dict[str, Any]) -> None:
    events.write(json.dumps(message) + "\n")
    events.flush()


def run_block(block: dict[str, Any], path: str, namespace: dict[str, Any]) -> dict[str, Any]:
    code = "\n" * (block["line"] - 1) + block["code"]
    _remember_source(path, code)
    out, err = CappedWriter(), CappedWriter()
    # Just before the parent kills an overrunning block, write where it is to the log.
    timeout = block["timeout"]
    faulthandler.dump_traceback_later(max(timeout - 0.3, timeout * 0.8), file=2)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    error: dict[str, Any] | None = None
    try:
        run_code(code, path, namespace, bool(block.get("show_last")))
    except BaseException as exc:
        error = describe(exc, path, block.get("raises"))
    finally:
        if os.getpid() != _RUNNER_PID:  # a process the block forked left it: end it here
            os._exit(error is not None)
        faulthandler.cancel_dump_traceback_later()
        sys.stdout, sys.stderr = saved
    return {
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "truncated": out.truncated or err.truncated,
        "error": error,
    }


def run_code(code: str, path: str, namespace: dict[str, Any], show_last: bool) -> None:
    """Run a block; with `show_last`, a last statement that is an expression is evaluated
    and its value printed unless it is None, as a notebook shows it (`_displayed`)."""
    if not show_last:
        exec(compile(code, path, "exec", dont_inherit=True), namespace)
        return
    tree = ast.parse(code, path)
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr):
        exec(compile(tree, path, "exec", dont_inherit=True), namespace)
        return
    body = ast.Module(body=tree.body[:-1], type_ignores=[])
    exec(compile(body, path, "exec", dont_inherit=True), namespace)
    value = eval(compile(ast.Expression(last.value), path, "eval", dont_inherit=True), namespace)
    if value is not None:
        print(_displayed(value))


def _displayed(value: object) -> str:
    """The text a notebook shows for a value: its repr, but a class as IPython names it
    (`torch.Tensor`, `int`) rather than `<class 'torch.Tensor'>`."""
    if isinstance(value, type):
        module = value.__module__
        return value.__qualname__ if module == "builtins" else f"{module}.{value.__qualname__}"
    return repr(value)


def _remember_source(path: str, code: str) -> None:
    """Let tracebacks quote the post's lines for every block run so far."""
    lines = code.splitlines(keepends=True)
    entry: tuple[Any, ...] = linecache.cache.get(path, ())
    known: list[str] = list(entry[2]) if len(entry) > 2 else []
    known += ["\n"] * (len(lines) - len(known))
    for number, line in enumerate(lines):
        if line.strip():
            known[number] = line if line.endswith("\n") else line + "\n"
    linecache.cache[path] = (sum(map(len, known)), None, known, path)


def describe(exc: BaseException, path: str, raises: str | None) -> dict[str, Any]:
    names = [cls.__name__ for cls in type(exc).__mro__]
    return {
        "type": type(exc).__name__,
        "message": _message(exc),
        "line": _raising_line(exc, path),
        "traceback": _traceback(exc),
        "expected": raises is not None and raises in names,
    }


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


def _raising_line(exc: BaseException, path: str) -> int | None:
    """The post line of the deepest frame in the post: the statement that raised."""
    if isinstance(exc, SyntaxError) and exc.filename == path:
        return exc.lineno
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _traceback(exc: BaseException) -> str:
    """The exception as Python prints it, but without the runner's own frames (the exec
    of a block, the repr of a shown value, a captured stream's write), in the exceptions
    chained to it too: the writer sees the post's frames and those of what it called."""
    try:
        report = traceback.TracebackException.from_exception(exc)
        own = _traceback.__code__.co_filename
        pending = [report]
        while pending:
            item = pending.pop()
            kept = [frame for frame in item.stack if frame.filename != own]
            item.stack = traceback.StackSummary.from_list(kept)
            chained = (item.__cause__, item.__context__, *(item.exceptions or ()))
            pending += [inner for inner in chained if inner is not None]
        return "".join(report.format())
    except Exception:
        return f"{type(exc).__name__}\n"


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
