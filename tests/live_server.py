"""`blogkeeper serve` in a subprocess, as a user runs it, for the serve and browser tests."""

from __future__ import annotations

import http.client
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

NOW = "2026-11-01T12:00:00+00:00"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lowercased names; repeated headers joined with ", "
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class LiveServer:
    proc: subprocess.Popen[str]
    root: Path
    port: int
    lines: queue.Queue[str]
    pump: threading.Thread
    seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        """The next line of output matching `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; saw {self.seen}") from None
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def drain(self) -> list[str]:
        """Every line seen so far, with those not yet read."""
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return self.seen

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        host: str | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host if host is not None else f"127.0.0.1:{self.port}")
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            body = response.read()
            names = {k.lower() for k in response.headers}
            joined = {k: ", ".join(response.headers.get_all(k) or []) for k in names}
            return Reply(response.status, joined, body)
        finally:
            conn.close()

    def raw(self, request: bytes) -> bytes:
        """Send bytes as they are and read the reply until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@contextmanager
def live_server(
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    first_build: float = 20,
    now: str | None = NOW,
) -> Iterator[LiveServer]:
    """Start `blogkeeper serve --port 0` on `root` (at `now`; None: the clock's) and wait
    up to `first_build` seconds for it to serve; stop it with SIGINT afterwards."""
    command = [sys.executable, "-m", "blogkeeper", "serve", "--site", str(root), "--port", "0"]
    proc = subprocess.Popen(
        [*command, *(["--now", now] if now else []), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    pump = threading.Thread(target=_pump, args=(proc, lines), daemon=True)
    pump.start()
    server = LiveServer(proc, root, 0, lines, pump)
    try:
        server.wait_for(r"^building ")
        serving = server.wait_for(r"serving at http://", first_build)
        server.port = int(serving.split(":")[2].split("/")[0])
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        pump.join(10)
        assert proc.stdout is not None
        proc.stdout.close()


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.rstrip("\n"))
