"""Pathological Markdown finishes within a bound per post or fails that post by name.

The payloads are markdown2's own test_redos.py cases, the #707 pattern and deep nesting.
They run in a subprocess with a hard timeout, as markdown2's test_redos.py does, so a hang
fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BLOG_TOML, build, post

from blogkeeper.errors import BuildError
from blogkeeper.render import MAX_NESTING, RENDER_SECONDS, render_markdown

MakeSite = Callable[..., Path]

PAYLOADS = {
    "pull_387_1": '"[#a" + " " * 3456',
    "pull_387_2": '"```" + "\\n" * 3456',
    "pull_387_3": '"-*-" + " " * 3456',
    "pull_402": '" " * 100_000 + "$"',
    "issue_493": '"**_" + "*_" * 38730 * 10 + "\\x00"',
    "issue_633": '\'<p m="1"\' * 2500 + " " * 5000 + "</div"',
    "issue_668": '"a_b **x***y* c_d"',
    "issue_707_unclosed_tags": "'<p m=\"1\"' * 15000",
    "issue_707_namespaced_attrs": '"x <p" + " a:b=1" * 40',
    "issue_707_spaced_attrs": '"x <p" + "  a=1" * 40',
    "issue_707_a_tags": '"<a " * 20000',
    "quote_300": '"".join(">" * i + " q\\n" for i in range(1, 301))',
    "quote_300_one_line": '">" * 300 + " deep\\n"',
    "list_300": '"".join("  " * i + "- item\\n" for i in range(300))',
    "list_300_wide": '"".join("    " * i + "1. item\\n" for i in range(300))',
    "html_300": '"<div>" * 300 + "x" + "</div>" * 300',
    "long_line": '"word " * 300_000',
}

DRIVER = """
import json, sys, time
from blogkeeper.errors import BuildError
from blogkeeper.render import render_markdown
for name, expression in json.loads(sys.argv[1]).items():
    started = time.monotonic()
    try:
        render_markdown(eval(expression), None, f"posts/{name}.md", 5)
        outcome = "rendered"
    except BuildError as exc:
        outcome = str(exc)
    print(json.dumps([name, time.monotonic() - started, outcome]), flush=True)
"""


@pytest.mark.slow
def test_pathological_markdown_is_bounded_per_post() -> None:
    budget = len(PAYLOADS) * (RENDER_SECONDS + 2) + 20
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(PAYLOADS)],
        capture_output=True,
        text=True,
        timeout=budget,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stdout
    outcomes = {
        name: (seconds, text) for name, seconds, text in map(json.loads, result.stdout.splitlines())
    }
    assert set(outcomes) == set(PAYLOADS)
    for name, (seconds, text) in outcomes.items():
        assert seconds < RENDER_SECONDS + 1.5, (name, seconds)
        assert text == "rendered" or text.startswith(f"posts/{name}.md"), (name, text)
    for name in ("issue_707_namespaced_attrs", "issue_707_spaced_attrs", "issue_707_a_tags"):
        assert "took longer than" in outcomes[name][1], outcomes[name]
    for name in ("quote_300", "quote_300_one_line", "list_300", "list_300_wide"):
        assert f"nest more than {MAX_NESTING} levels" in outcomes[name][1], outcomes[name]
        assert outcomes[name][0] < 0.5


def test_nesting_error_names_the_line(make_site: MakeSite) -> None:
    body = "Intro.\n\n" + "".join("  " * i + "- item\n" for i in range(MAX_NESTING + 5))
    root = make_site({"posts/deep.md": post("Deep", "2026-01-01", body)})
    result = build(root)
    assert result.code == 1
    lines = (root / "posts/deep.md").read_text().split("\n")
    level = MAX_NESTING + 1  # the first list item too deep: indented MAX_NESTING times
    first = next(i for i, text in enumerate(lines, 1) if text.startswith("  " * (level - 1) + "-"))
    assert f"posts/deep.md:{first}: quotes and lists nest more than" in result.err
    assert "Traceback" not in result.err


def test_moderate_nesting_renders() -> None:
    body = "".join("> " * i + "- item\n" for i in range(MAX_NESTING // 2))
    body += "".join("  " * i + "- item\n" for i in range(MAX_NESTING - 1))
    assert "<li>" in render_markdown(body, None, "posts/x.md", 1).html


@pytest.mark.slow  # waits out the 5 s bound
def test_bound_holds_off_the_main_thread() -> None:
    outcome: list[object] = []

    def render() -> None:
        started = time.monotonic()
        try:
            render_markdown("x <p" + " a:b=1" * 40, None, "posts/slow.md", 3)
        except BuildError as exc:
            outcome.append(str(exc))
        outcome.append(time.monotonic() - started)
        outcome.append(render_markdown("# Hi\n", None, "posts/ok.md", 3).html)

    worker = threading.Thread(target=render)
    worker.start()
    worker.join(timeout=RENDER_SECONDS + 30)
    assert not worker.is_alive()
    message, seconds, html = outcome
    assert str(message).startswith("posts/slow.md: Markdown took longer than")
    assert isinstance(seconds, float) and seconds < RENDER_SECONDS + 3
    assert html == '<h1 id="hi">Hi</h1>\n'


def test_post_over_max_post_bytes_is_an_error(make_site: MakeSite) -> None:
    big = post("Big", "2026-01-01", "word " * 300)
    config = BLOG_TOML + "max_post_bytes = 1000\n"
    root = make_site({"posts/big.md": big, "posts/small.md": post("Small", "2026-01-02")}, config)
    result = build(root)
    assert result.code == 1
    size = len((root / "posts/big.md").read_bytes())
    assert f"posts/big.md: file is {size:,} bytes, over the limit of 1,000" in result.err
    assert "small.md" not in result.err


@pytest.mark.slow
def test_build_fails_a_slow_post_by_name_and_goes_no_further(make_site: MakeSite) -> None:
    slow = post("Slow", "2026-01-01", '<p m="1"' * 15000)
    root = make_site({"posts/slow.md": slow, "posts/fine.md": post("Fine", "2026-01-02")})
    started = time.monotonic()
    result = build(root)
    assert time.monotonic() - started < RENDER_SECONDS + 10
    assert result.code == 1
    assert result.err.startswith(f"posts/slow.md: Markdown took longer than {RENDER_SECONDS:g} s")
    assert "Traceback" not in result.err and "fine.md" not in result.err
    assert not (root / "public").exists()
