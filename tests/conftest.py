"""Shared fixtures: blogs built from a dict of files, and the CLI run as a user runs it."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blogkeeper.cache import CACHE_DIR, Cache
from blogkeeper.cli import main
from blogkeeper.hosting import Response, Snapshot, lookup, parse_path

REPO = Path(__file__).resolve().parent.parent
NOW = "2026-11-01T12:00:00+00:00"

BLOG_TOML = """\
title = "Test blog"
url = "https://blog.example.org/"
description = "A blog for tests."
author = "Tester"
timezone = "UTC"
"""


def post(title: str, date: str, body: str = "Intro.\n\n<!--more-->\n\nRest.\n", **meta: str) -> str:
    """A post file's text; extra front-matter lines come from `meta` as written."""
    lines = ["---", f'title: "{title}"', f"date: {date}"]
    lines += [f"{key}: {value}" for key, value in meta.items()]
    return "\n".join([*lines, "---", textwrap.dedent(body)])


def copy_sample(root: Path) -> Path:
    """The repository's sample blog copied to `root`, so that a build of it reads no cache
    and writes none into the repository; with check-code's record, as committed."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "blog.toml", root / "blog.toml")
    shutil.copy(REPO / "check-record.json", root / "check-record.json")
    for folder in ("posts", "static", "templates"):
        shutil.copytree(REPO / folder, root / folder)
    return root


@pytest.fixture
def make_site(tmp_path: Path) -> Callable[..., Path]:
    """Write a blog from {relative path: text or bytes} and return its folder."""

    def make(files: dict[str, str | bytes], config: str = BLOG_TOML) -> Path:
        root = tmp_path / "site"
        root.mkdir(exist_ok=True)
        write_files(root, {"blog.toml": config, **files})
        return root

    return make


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 120) -> Result:
    """`python -m blogkeeper ARGS` in a subprocess, exactly as a user would run it."""
    proc = subprocess.run(
        [sys.executable, "-m", "blogkeeper", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def build(root: Path, *extra: str) -> Result:
    return run_cli("build", "--site", root, "--now", NOW, *extra)


def run_here(*args: str | Path) -> Result:
    """`blogkeeper ARGS` in this process: what `run_cli` returns, without starting Python.

    An exception escaping `main` is printed as the interpreter would print it, so a test
    that checks stderr for "Traceback" sees it here too.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:
            traceback.print_exc()
            code = 1
    return Result(code, out.getvalue(), err.getvalue())


def quick_build(root: Path, *extra: str | Path) -> Result:
    """`build` run in this process: several times faster, for tests that build a lot."""
    return run_here("build", "--site", root, "--now", NOW, *extra)


def now() -> dt.datetime:
    return dt.datetime.fromisoformat(NOW)


def beside(out: Path) -> list[str]:
    """What the folder holding `out` holds, a site set aside (for the next build to
    update or delete) named "set aside": a build leaves no staging folder behind."""
    names = []
    for path in out.parent.iterdir():
        aside = path.name.startswith(f".{out.name}.old-") and [p.name for p in path.iterdir()]
        names.append("set aside" if aside == ["site"] else path.name)
    return sorted(names)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, for before/after comparisons."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Write {relative path: text or bytes} under `root`, creating folders."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.fixture
def broken_build(make_site: Callable[..., Path], tmp_path: Path) -> Callable[..., Result]:
    """Build a good blog, break it with `files`, build again, and check the failure.

    The second build must exit 1, name `where` (a `path:line` prefix) in stderr, print no
    traceback, and leave the first build's output byte for byte as it was.
    """

    def check(files: dict[str, str | bytes], where: str) -> Result:
        root = make_site({"posts/good.md": post("Good", "2026-01-01")})
        out = tmp_path / "public"
        first = quick_build(root, "--out", out)
        assert first.code == 0, first.err
        before = snapshot(out)
        write_files(root, files)
        result = quick_build(root, "--out", out)
        assert result.code == 1, (result.out, result.err)
        assert where in result.err, result.err
        assert "Traceback" not in result.err, result.err
        assert snapshot(out) == before
        return result

    return check


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Playwright: $BLOGKEEPER_CHROMIUM, else the first
    Chromium on the PATH, else Playwright's own. Where there is none, the test is skipped
    with the reason, except in CI (`CI` set), where it fails: CI installs Debian's."""
    from playwright.sync_api import Error, sync_playwright

    found = os.environ.get("BLOGKEEPER_CHROMIUM") or next(
        filter(None, map(shutil.which, CHROMIUM_NAMES)), None
    )
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=found, args=CHROMIUM_ARGS)
        except Error as exc:
            reason = f"no Chromium to drive ({found or 'none on the PATH'}): {exc.message[:200]}"
            if os.environ.get("CI"):
                pytest.fail(reason + "; CI must install one (see .ci/run)")
            pytest.skip(reason + "; set BLOGKEEPER_CHROMIUM or install chromium")
        try:
            yield browser
        finally:
            browser.close()


def forked_children() -> list[multiprocessing.process.BaseProcess]:
    """The live children forked for a call or a build (not a preview's kept worker from
    the forkserver, which an earlier test may have left)."""
    return [c for c in multiprocessing.active_children() if type(c).__name__ == "ForkProcess"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulated(files: dict[str, bytes], url: str, accept: str = "") -> Response:
    """What `blogkeeper serve` answers for `url` on a site of `files` served at /."""
    parsed = parse_path(url)
    assert not isinstance(parsed, Response)
    return lookup(Snapshot.of("/", files), *parsed, accept)


def header(response: Response, name: str) -> str | None:
    """A header of an emulated response, by case-insensitive name."""
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def damage_entries(root: Path, part: int) -> int:
    """Put in place of each post file entry in `root`'s cache one whose `part` (0: the
    body, 1: the HTML, 3: the twin) is not what `pack` makes, with a right checksum (the
    cache folder comes with the site: another hand may have written it). How many."""
    cache = Cache.for_site(root)
    damaged = 0
    for path in sorted((root / CACHE_DIR).glob("??/*")):
        data = cache.get(path.name)
        line, _, rest = (data or b"").partition(b"\n")
        if not line.startswith(b'{"post":') or part >= len(json.loads(line)["sizes"]):
            continue
        head = json.loads(line)
        parts, start = [], 0
        for size in head["sizes"]:
            parts.append(rest[start : start + size])
            start += size
        parts[part] = b"not what pack makes"
        head["sizes"] = [len(p) for p in parts]
        cache.put(path.name, json.dumps(head).encode() + b"\n" + b"".join(parts))
        damaged += 1
    return damaged
