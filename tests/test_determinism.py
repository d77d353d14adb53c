"""The same input builds to the same bytes, whatever the machine's clock zone or locale.

The sample blog is built in a temporary copy with `--no-cache`, so each build renders
everything: no build is answered from what another one kept.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import NOW, REPO, snapshot

FLAGS = ("--now", NOW, "--no-cache")


def _build(site: Path, out: Path, **env: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "blogkeeper", "build", "--site", site, "--out", out, *FLAGS],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )


def test_timezone_and_locale_do_not_change_output(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("blog.toml", "posts", "templates", "static"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, site / name)
        elif (REPO / name).exists():
            site.mkdir(exist_ok=True)
            shutil.copy(REPO / name, site / name)
    _build(site, tmp_path / "a", TZ="UTC", LC_ALL="C.UTF-8")
    _build(site, tmp_path / "b", TZ="Pacific/Kiritimati", LC_ALL="C.UTF-8")
    _build(site, tmp_path / "c", TZ="America/Los_Angeles", LC_ALL="C")
    first = snapshot(tmp_path / "a")
    assert first == snapshot(tmp_path / "b")
    assert first == snapshot(tmp_path / "c")
    assert any(path.endswith("index.html") for path in first)
