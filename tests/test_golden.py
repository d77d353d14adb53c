"""The golden site: tests/golden/site built at a fixed time, compared file by file.

tests/golden/expected/ is the reviewed output. When a change to blogkeeper changes the
output on purpose, refresh it with one command and review the diff in git:

    BLOGKEEPER_REFRESH_GOLDEN=1 python -m pytest tests/test_golden.py

The site is built in a temporary copy, so no cache of an earlier run can answer for the
code: first cold (an empty cache), then warm (every post from the cache), then with
`--no-cache`; all three must give the golden bytes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import build, snapshot

GOLDEN = Path(__file__).resolve().parent / "golden"
SITE = GOLDEN / "site"
EXPECTED = GOLDEN / "expected"
REFRESH = os.environ.get("BLOGKEEPER_REFRESH_GOLDEN") == "1"


# The output must not depend on the build machine's time zone.
@pytest.mark.parametrize("machine_tz", ["UTC", "Pacific/Kiritimati"])
def test_golden_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine_tz: str) -> None:
    monkeypatch.setenv("TZ", machine_tz)
    monkeypatch.setenv("LC_ALL", "C")
    site = tmp_path / "site"
    shutil.copytree(SITE, site, ignore=shutil.ignore_patterns(".blogkeeper-cache"))
    builds = {}
    for name, flags in (("cold", ()), ("warm", ()), ("uncached", ("--no-cache",))):
        out = tmp_path / name
        result = build(site, "--out", out, *flags)
        assert result.code == 0, result.err
        builds[name] = snapshot(out)
    assert (site / ".blogkeeper-cache").is_dir()  # the warm build had a cache to read
    actual = builds["cold"]
    assert builds["warm"] == actual and builds["uncached"] == actual
    if REFRESH:
        shutil.rmtree(EXPECTED, ignore_errors=True)
        shutil.copytree(tmp_path / "cold", EXPECTED)
    expected = snapshot(EXPECTED)
    assert sorted(actual) == sorted(expected), "files added or missing; refresh if on purpose"
    for path, data in sorted(expected.items()):
        assert actual[path].decode() == data.decode(), f"{path} differs from the golden copy"


def test_golden_site_leaves_out_its_draft_and_future_post() -> None:
    for path, data in snapshot(EXPECTED).items():
        assert b"Secret" not in data and b"draft nobody" not in data, path
        assert b"from the future" not in data, path
