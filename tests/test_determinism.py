"""The same input builds to the same bytes, whatever the machine's clock zone or locale."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import NOW, REPO, snapshot


def _build(out: Path, **env: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "blogkeeper", "build", "--site", REPO, "--out", out, "--now", NOW],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )


def test_timezone_and_locale_do_not_change_output(tmp_path: Path) -> None:
    _build(tmp_path / "a", TZ="UTC", LC_ALL="C.UTF-8")
    _build(tmp_path / "b", TZ="Pacific/Kiritimati", LC_ALL="C.UTF-8")
    _build(tmp_path / "c", TZ="America/Los_Angeles", LC_ALL="C")
    first = snapshot(tmp_path / "a")
    assert first == snapshot(tmp_path / "b")
    assert first == snapshot(tmp_path / "c")
    assert any(path.endswith("index.html") for path in first)
