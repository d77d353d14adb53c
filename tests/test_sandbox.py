"""check-code contains what it runs: hostile blocks fail at their line and nothing leaks."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO
from test_checkcode import check, checked, fence, last_line, line_of

from blogkeeper.sandbox import CHANNEL_MISUSE, GROUP_LIMIT, network_isolation

MakeSite = Callable[..., Path]

HOSTILE = {
    "a-memory.md": ("hoard = [bytes(1 << 28) for _ in range(64)]", r"MemoryError"),
    "b-fork.md": (
        "import os\nwhile True:\n    os.fork()",
        # root: the parent's process count ends it; others: RLIMIT_NPROC makes fork fail
        rf"the block did not finish: it ran more than {GROUP_LIMIT} processes or threads"
        r"|BlockingIOError",
    ),
    "c-exit.md": ("import os\nos._exit(3)", r"the process exited with status 3"),
    "d-segfault.md": (
        "import ctypes\nctypes.string_at(0)",
        r"the process was killed by signal 11 \(SIGSEGV\)",
    ),
    "e-interrupt.md": (
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)",
        r"KeyboardInterrupt",
    ),
    "f-network.md": (
        "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=8)",
        r"OSError|Network is unreachable|no network",
    ),
}


def test_hostile_blocks_fail_at_their_line_and_later_posts_run(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    files = {
        f"posts/{name}": checked(
            name, fence("print('before')"), fence("before", "output"), fence(hostile)
        )
        for name, (hostile, _) in HOSTILE.items()
    }
    secret = fence("import os\nprint(os.environ.get('SECRET_TOKEN'))")
    files["posts/z-after.md"] = checked("After", secret, fence("None", "output"))
    root = make_site(files)
    started = time.monotonic()
    code, out, err = check(root, "--jobs", "1")
    elapsed = time.monotonic() - started
    assert code == 1
    assert "Traceback (most recent call last)" not in err
    for name, (hostile, expected) in HOSTILE.items():
        first = hostile.split("\n")[0]
        lines = range(line_of(root, name, first), line_of(root, name, first) + 3)
        found = [m for m in re.finditer(rf"posts/{name}:(\d+): .*", out) if int(m[1]) in lines]
        assert found and re.search(expected, found[0][0]), (name, out)
    assert f"{len(HOSTILE) + 1} passed, {len(HOSTILE)} failed" in last_line(out), out
    # No wait for the unreachable address: the connect failed at once.
    assert elapsed < 8 * 2, elapsed


def test_resource_limits_apply_inside_blocks(make_site: MakeSite) -> None:
    probe = (
        "import os, resource as r\n"
        "cpu = r.getrlimit(r.RLIMIT_CPU)\n"
        "nproc = r.getrlimit(r.RLIMIT_NPROC)[0]\n"
        "print(0 < cpu[0] < cpu[1] < 100)\n"
        "print(r.getrlimit(r.RLIMIT_AS) == (4 << 30, 4 << 30), r.getrlimit(r.RLIMIT_CORE))\n"
        "print(r.getrlimit(r.RLIMIT_FSIZE)[0] == 256 << 20)\n"
        "print(os.getuid() == 0 or nproc != r.RLIM_INFINITY)"
    )
    expected = "True\nTrue (0, 0)\nTrue\nTrue"
    root = make_site(
        {"posts/a.md": checked("A", fence(probe, "python timeout=30"), fence(expected, "output"))}
    )
    code, out, err = check(root)
    assert code == 0, out + err


def test_no_network_even_without_a_namespace(make_site: MakeSite) -> None:
    if not network_isolation():
        pytest.skip("covered by the hostile-blocks test: this machine has no unshare -n")
    # Force the fallback by hiding unshare from PATH lookups in a fresh process.
    block = "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=8)"
    root = make_site({"posts/a.md": checked("A", fence(block, "python raises=OSError"))})
    probe = (
        "import shutil, sys\n"
        "shutil.which = lambda *a, **k: None\n"
        "from blogkeeper.cli import main\n"
        f"sys.exit(main(['check-code', '--site', {str(root)!r}]))\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 8


def test_git_status_is_unchanged_after_check_code(tmp_path: Path) -> None:
    root = tmp_path / "blog"
    root.mkdir()
    shutil.copy(REPO / ".gitignore", root / ".gitignore")
    shutil.copy(REPO / "blog.toml", root / "blog.toml")
    litter = (
        "import os, pathlib, tempfile\n"
        "pathlib.Path('scratch.txt').write_text('x')\n"
        "pathlib.Path(os.environ['HOME'], '.cache-file').write_text('x')\n"
        "tempfile.NamedTemporaryFile(delete=False).write(b'x')\n"
        "print(pathlib.Path.cwd() != pathlib.Path(" + repr(str(root)) + "))"
    )
    (root / "posts").mkdir()
    (root / "posts/a.md").write_text(checked("A", fence(litter), fence("True", "output")))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "blog"], check=True)
    before = subprocess.run([*git, "status", "--porcelain", "--ignored"], capture_output=True)
    code, out, err = check(root)
    assert code == 0, out + err
    after = subprocess.run([*git, "status", "--porcelain"], capture_output=True)
    assert after.stdout == b"?? check-record.json\n"  # its record, to commit with the blog
    ignored = subprocess.run([*git, "status", "--porcelain", "--ignored"], capture_output=True)
    # Only blogkeeper's own cache appears, and it is ignored; and the record.
    new = set(ignored.stdout.splitlines()) - set(before.stdout.splitlines())
    assert new == {b"!! .blogkeeper-cache/", b"?? check-record.json"}


CHANNEL_WRITES = {
    "not-json": "os.write(FD, b'garbage\\n')",
    "a-list": "os.write(FD, b'[1]\\n')",
    "bad-index": 'os.write(FD, b\'{"event": "start", "index": 99}\\n\')',
    "bad-result": 'os.write(FD, b\'{"event": "end", "index": 0, "stdout": 1}\\n\')',
    "no-newline": "os.write(FD, b'x' * (20 << 20))",
    "deep": "os.write(FD, b'[' * 200000 + b'\\n')",
}


@pytest.mark.parametrize("name", sorted(CHANNEL_WRITES))
def test_a_block_writing_to_the_result_channel_fails_with_a_message(
    make_site: MakeSite, name: str
) -> None:
    code = "import os, sys\nFD = int(sys.argv[2])\n" + CHANNEL_WRITES[name] + "\nimport time\n"
    code += "time.sleep(0.5)\nprint('after')"
    root = make_site({"posts/a.md": checked("A", fence(code), fence("print('next')"))})
    status, out, err = check(root)
    assert status == 1, out + err
    where = line_of(root, "a.md", "import os, sys")
    assert f"posts/a.md:{where}: the block did not finish: {CHANNEL_MISUSE} (" in out
    assert "Traceback" not in out + err
    assert last_line(out) == "0 passed, 1 failed, 1 skipped"


@pytest.mark.parametrize("line", [-5, 0])
def test_a_forged_result_cannot_place_its_failure_before_the_post(
    make_site: MakeSite, line: int
) -> None:
    error = {"type": "E", "message": "m", "traceback": "", "expected": False, "line": line}
    forged = {"event": "end", "index": 0, "stdout": "", "stderr": "", "truncated": False}
    payload = json.dumps({**forged, "error": error}) + "\n"
    code = f"import os, sys\nos.write(int(sys.argv[2]), {payload.encode()!r})"
    root = make_site({"posts/a.md": checked("A", fence(code))})
    status, out, err = check(root)
    assert status == 1, out + err
    where = line_of(root, "a.md", "import os, sys")
    assert f"posts/a.md:{where}: E: m" in out
    assert "Traceback" not in out + err


def test_threads_count_against_the_process_budget(make_site: MakeSite) -> None:
    code = (
        "import threading, time\n"
        "threading.stack_size(1 << 16)\n"
        "for _ in range(5000):\n"
        "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "print('all started')"
    )
    root = make_site({"posts/a.md": checked("A", fence(code))})
    started = time.monotonic()
    status, out, err = check(root)
    assert status == 1, out + err
    # root: the parent's count (threads included) ends it; others: RLIMIT_NPROC refuses
    assert re.search(
        rf"it ran more than {GROUP_LIMIT} processes or threads|can't start new thread", out
    ), out
    assert time.monotonic() - started < 20


def test_a_block_s_sigint_is_a_keyboardinterrupt_even_when_check_code_ignores_sigint(
    make_site: MakeSite,
) -> None:
    """A background job of a script starts with SIGINT ignored; the block still sees
    it as a fresh Python would, and fails at its line."""
    hostile, expected = HOSTILE["e-interrupt.md"]
    root = make_site({"posts/a.md": checked("A", fence(hostile))})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by check-code
    try:
        code, out, _ = check(root, "--jobs", "1")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 1
    line = line_of(root, "a.md", hostile.split("\n")[0]) + 1  # the os.kill line
    assert re.search(rf"posts/a\.md:{line}: .*{expected}", out), out
