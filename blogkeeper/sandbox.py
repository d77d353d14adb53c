"""Run a post's code blocks in a contained child process and collect what they did.

The child is `runner.py`, started with the interpreter running blogkeeper (`-s -P`: no
user site-packages, no script folder on sys.path) in a session and process group of its
own, with stdin from /dev/null, a temporary working directory, a scrubbed environment, no
core dumps, capped output, and no network when `unshare -n` works here. A block that
runs past its timeout, and anything the blocks started, are ended with SIGKILL to the
whole process group; so is any leftover child when the run ends normally, and the whole
group as soon as it holds more than GROUP_LIMIT processes (a fork bomb).

This module knows nothing about posts, Markdown or comparison: it runs a job and reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).with_name("runner.py")
LOG_LIMIT = 64 * 1024  # bytes of the process's own stdout/stderr kept for crash reports
# Processes and threads one post may run at once. RLIMIT_NPROC enforces a budget for other
# users (see runner.py); the kernel ignores it for root, so the parent counts the group.
GROUP_LIMIT = 256
# A runner message holds at most 2 MiB of captured text, escaped as JSON (up to 6 bytes
# a character); a longer line is not the runner's.
MESSAGE_LIMIT = 16 << 20
_POLL = 0.05

CHANNEL_MISUSE = "check-code's result channel got a line the runner did not write"

_live_groups: set[int] = set()
_live_lock = threading.Lock()


@dataclass(frozen=True)
class JobBlock:
    line: int  # 1-based post line of the block's first code line
    code: str
    raises: str | None
    timeout: float
    show_last: bool = False  # print the value of a last-line expression, as a notebook does


@dataclass(frozen=True)
class JobResult:
    """Results of the blocks that finished, in order, and how the process ended."""

    results: tuple[dict[str, Any], ...]
    timed_out: bool  # the block after the last result ran past its timeout
    exit_status: str | None  # set when the process died while a block ran
    log: str  # the tail of the process's own stdout/stderr


def run_job(path: str, blocks: list[JobBlock]) -> JobResult:
    """Run `blocks` of the post `path` (its site-relative name) in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="blogkeeper-check-") as tmp:
        job = Path(tmp) / "job.json"
        blocks_json = [_block_json(b) for b in blocks]
        payload = {"path": path, "blocks": blocks_json, "isolated": bool(network_isolation())}
        job.write_text(json.dumps(payload), encoding="utf-8")
        work = Path(tmp) / "work"
        work.mkdir()
        log_path = Path(tmp) / "process.log"
        read_fd, write_fd = os.pipe()
        with open(log_path, "wb") as log:
            proc = _start(job, write_fd, work, log)
        os.close(write_fd)
        with _live_lock:
            _live_groups.add(proc.pid)
        try:
            results, timed_out, status = _follow(proc, read_fd, [b.timeout for b in blocks])
        finally:
            _kill_group(proc)
            os.close(read_fd)
        return JobResult(tuple(results), timed_out, status, _tail(log_path))


def _block_json(block: JobBlock) -> dict[str, Any]:
    return {
        "line": block.line,
        "code": block.code,
        "raises": block.raises,
        "timeout": block.timeout,
        "show_last": block.show_last,
    }


def _start(job: Path, fd: int, work: Path, log: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-s", "-P", str(RUNNER), str(job), str(fd)]
    return subprocess.Popen(
        [*network_isolation(), *command],
        cwd=work,
        env=child_environment(work),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        pass_fds=(fd,),
        start_new_session=True,
    )


def child_environment(home: Path) -> dict[str, str]:
    """Only what the code needs: nothing of the caller's tokens or settings leaks in."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUTF8": "1",
        # One thread: results do not depend on --jobs or the machine's core count.
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


@lru_cache(maxsize=1)
def network_isolation() -> tuple[str, ...]:
    """The `unshare` prefix that gives the child no network, or () where that fails."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    for prefix in ((unshare, "-n"), (unshare, "-r", "-n")):
        try:
            probe = subprocess.run(
                [*prefix, "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return (*prefix, "--")
    return ()


def _follow(
    proc: subprocess.Popen[bytes], fd: int, timeouts: list[float]
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """Read the runner's results until it exits, a block overruns its timeout, or a line
    on the channel is not the runner's (then the block running fails with a message)."""
    results: list[dict[str, Any]] = []
    try:
        return _read_results(proc, fd, timeouts, results)
    except BadMessage as exc:
        # A forged but well-formed result may already be in `results` (SECURITY.md); the
        # runner's own message after it is then out of order, so the post still fails.
        return results, False, f"{CHANNEL_MISUSE} ({exc})"


def _read_results(
    proc: subprocess.Popen[bytes],
    fd: int,
    timeouts: list[float],
    results: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], bool, str | None]:
    buffer = b""
    deadline: float | None = None
    open_pipe = True
    counted = 0.0
    while True:
        if time.monotonic() - counted >= _POLL:
            counted = time.monotonic()
            if group_size(proc.pid) > GROUP_LIMIT:
                return results, False, f"it ran more than {GROUP_LIMIT} processes or threads"
        if open_pipe:
            wait = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
            if select.select([fd], [], [], wait)[0]:
                chunk = os.read(fd, 1 << 16)
                open_pipe = bool(chunk)
                buffer += chunk
                buffer, deadline = _take(buffer, results, timeouts, deadline)
        else:
            time.sleep(_POLL / 5)
        status = _exit_status(proc)
        if status is not None:
            buffer += _drain(fd) if open_pipe else b""
            _take(buffer, results, timeouts, deadline)
            finished = len(results) == len(timeouts) or _stopped_on_error(results)
            return results, False, None if finished else status
        if deadline is not None and time.monotonic() >= deadline:
            return results, True, None


def group_size(pgid: int) -> int:
    """How many tasks (processes and their threads, what RLIMIT_NPROC counts) are in the
    process group `pgid` (0 where /proc is missing)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0
    size = 0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as file:
                fields = file.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 17 and fields[2] == b"%d" % pgid:
            size += int(fields[17])  # num_threads
    return size


class BadMessage(Exception):
    """A line on the result channel that the runner did not write (a block wrote to it)."""


def _take(
    buffer: bytes, results: list[dict[str, Any]], timeouts: list[float], deadline: float | None
) -> tuple[bytes, float | None]:
    """Apply each complete line of `buffer`; the rest is returned. The channel's file
    descriptor is open inside the blocks, so every line is checked (BadMessage)."""
    *lines, rest = buffer.split(b"\n")
    if len(rest) > MESSAGE_LIMIT:
        raise BadMessage(f"a line of more than {MESSAGE_LIMIT >> 20} MiB")
    for line in lines:
        message = _message(line, len(results), started=deadline is not None)
        if message["event"] == "start":
            if message["index"] >= len(timeouts):
                raise BadMessage(f"a start of block {message['index']}, which does not exist")
            deadline = time.monotonic() + timeouts[message["index"]]
        else:
            results.append(message)
            deadline = None
    return rest, deadline


def _message(line: bytes, index: int, started: bool) -> dict[str, Any]:
    """The runner's message on `line`, which must be the next one: a start of block
    `index`, or once started, its end with a well-formed result."""
    try:
        message = json.loads(line)
    except RecursionError:  # a bracket nesting deeper than the parser's stack
        raise BadMessage(f"JSON nested too deeply: {line[:60]!r}") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise BadMessage(f"not JSON: {line[:60]!r}") from None
    expected = "end" if started else "start"
    if not isinstance(message, dict) or message.get("event") != expected:
        raise BadMessage(f"expected the {expected} of block {index}: {line[:60]!r}")
    if message.get("index") != index or type(message["index"]) is not int:
        raise BadMessage(f"expected the {expected} of block {index}: {line[:60]!r}")
    if expected == "end" and not _well_formed(message):
        raise BadMessage(f"a malformed result: {line[:60]!r}")
    return message


_END = {"stdout": str, "stderr": str, "truncated": bool}
_ERROR = {"type": str, "message": str, "traceback": str, "expected": bool}


def _well_formed(message: dict[str, Any]) -> bool:
    if not all(isinstance(message.get(key), kind) for key, kind in _END.items()):
        return False
    error = message.get("error", 0)
    if error is None:
        return True
    if not isinstance(error, dict) or not isinstance(error.get("line"), int | None):
        return False
    return all(isinstance(error.get(key), kind) for key, kind in _ERROR.items())


def _drain(fd: int) -> bytes:
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    return data


def _stopped_on_error(results: list[dict[str, Any]]) -> bool:
    error = results[-1]["error"] if results else None
    return error is not None and not error["expected"]


def _exit_status(proc: subprocess.Popen[bytes]) -> str | None:
    """How the process ended, without reaping it (so its group id stays ours to kill)."""
    if not hasattr(os, "waitid"):  # macOS: reap, and kill the group right after
        code = proc.poll()
        if code is None:
            return None
        exited, number = code >= 0, abs(code)
    else:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None or info.si_pid == 0:
            return None
        exited, number = info.si_code == os.CLD_EXITED, info.si_status
    if exited:
        return f"the process exited with status {number}"
    name = signal.Signals(number).name if number in signal.valid_signals() else "?"
    return f"the process was killed by signal {number} ({name})"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with _live_lock:
        _live_groups.discard(proc.pid)


def kill_all() -> None:
    """End every process group still running (on Ctrl-C or an error in blogkeeper)."""
    with _live_lock:
        groups = list(_live_groups)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _tail(path: Path) -> str:
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - LOG_LIMIT))
        return file.read().decode("utf-8", errors="replace")
