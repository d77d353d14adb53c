"""The golden site: tests/golden/site built at a fixed time, compared file by file.

tests/golden/expected/ is the reviewed output. When a change to blogkeeper changes the
output on purpose, refresh it with one command and review the diff in git:

    BLOGKEEPER_REFRESH_GOLDEN=1 python -m pytest tests/test_golden.py

The site is built in a temporary copy, so no cache of an earlier run can answer for the
code: first cold (an empty cache), then warm (every post from the cache), then with
`--no-cache`; all three must give the same bytes.

The expected bytes are those of the library versions pinned in constraints.txt for the
libraries whose output lands in a page (`LIBRARIES`: markdown2, Pygments, latex2mathml
and lxml, which writes the feeds' item HTML), which is what the main CI run installs.
Other versions of those libraries write the same code and math differently (Pygments
2.20 escapes quotes in code, 2.21 does not; latex2mathml 3.77 writes a display sum's
limits as `msubsup`, 3.81 as `munderover`), and pyproject.toml allows them. So with
other versions installed (the "lowest versions" CI run) each file is still compared line
by line, and a line may differ only where both copies hold highlighted code or MathML;
the files, their line counts and every other line must be the same. A refresh is refused
with other versions.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import REPO, build, snapshot

GOLDEN = Path(__file__).resolve().parent / "golden"
SITE = GOLDEN / "site"
EXPECTED = GOLDEN / "expected"
REFRESH = os.environ.get("BLOGKEEPER_REFRESH_GOLDEN") == "1"
LIBRARIES = ("markdown2", "pygments", "latex2mathml", "lxml")
# A line holding a library's output: a highlighted token or MathML, raw or escaped (feeds).
LIBRARY_OUTPUT = re.compile(r"(?:<|&lt;)(?:span class=|math\b)")


def pinned_versions_installed() -> bool:
    """Whether the output libraries are the versions constraints.txt pins (all must be)."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, sep, pin = line.split("#")[0].strip().partition("==")
        if sep:
            pins[name.lower()] = pin
    assert set(LIBRARIES) <= set(pins), f"constraints.txt must pin {sorted(LIBRARIES)}"
    return all(version(name) == pins[name] for name in LIBRARIES)


def assert_same_but_library_output(path: str, actual: str, expected: str) -> None:
    """`actual` is `expected` except on lines where both hold highlighted code or MathML."""
    got, want = actual.split("\n"), expected.split("\n")
    assert len(got) == len(want), f"{path}: {len(got)} lines, golden copy has {len(want)}"
    for number, (line, golden) in enumerate(zip(got, want, strict=True), 1):
        if line != golden:
            both = LIBRARY_OUTPUT.search(line) and LIBRARY_OUTPUT.search(golden)
            assert both, f"{path}:{number} differs from the golden copy outside code and math"


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
    exact = pinned_versions_installed()
    if REFRESH:
        assert exact, "refresh with the versions constraints.txt pins"
        shutil.rmtree(EXPECTED, ignore_errors=True)
        shutil.copytree(tmp_path / "cold", EXPECTED)
    expected = snapshot(EXPECTED)
    assert sorted(actual) == sorted(expected), "files added or missing; refresh if on purpose"
    for path, data in sorted(expected.items()):
        if exact:
            assert actual[path].decode() == data.decode(), f"{path} differs from the golden copy"
        else:
            assert_same_but_library_output(path, actual[path].decode(), data.decode())


def test_golden_site_leaves_out_its_draft_and_future_post() -> None:
    for path, data in snapshot(EXPECTED).items():
        assert b"Secret" not in data and b"draft nobody" not in data, path
        assert b"from the future" not in data, path
