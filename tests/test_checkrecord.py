"""check-code's record (check-record.json) and the proof build shows from it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import build, post, run_cli
from lxml import html

from blogkeeper import checkrecord
from blogkeeper.checkcode import CheckOptions, check_site
from blogkeeper.checkrecord import RECORD_FILE, Entry, Key

MakeSite = Callable[..., Path]
DAY1 = dt.date(2026, 12, 3)
DAY2 = dt.date(2026, 12, 9)

BODY = """\
Intro.

<!--more-->

```python
x = 6 * 7
print(x)
```

```output
42
```

```python skip
print(nope)
```

```python
print(x + 1)
```

```output
43
```
"""


def site(make_site: MakeSite, body: str = BODY) -> Path:
    return make_site(
        {
            "posts/a.md": post("A", "2026-03-01", body, check_code="true"),
            "posts/plain.md": post("Plain", "2026-03-02"),
        }
    )


def run(root: Path, today: dt.date = DAY1, *posts: Path, use_cache: bool = True) -> bool:
    """check-code as `blogkeeper check-code` runs it, on `today`; whether every post passed."""
    options = CheckOptions(tuple(posts), jobs=1, use_cache=use_cache, today=today)
    reports, _ = check_site(root, options)
    return not any(r.failed for r in reports)


def entries(root: Path, source: str = "posts/a.md") -> list[dict[str, object]]:
    data = json.loads((root / RECORD_FILE).read_text())
    return list(data["posts"].get(source, []))


def edit(root: Path, old: str, new: str) -> None:
    path = root / "posts/a.md"
    path.write_text(path.read_text().replace(old, new, 1))


def page(root: Path) -> html.HtmlElement:
    return html.parse(str(root / "public/2026/03/a/index.html")).getroot()


def notes(root: Path) -> list[str]:
    return [p.text_content() for p in page(root).xpath("//p[@class='output-check']")]


def header(root: Path) -> str:
    return " ".join(page(root).xpath("//header/p[@class='code-checked']")[0].text_content().split())


# --- the file ------------------------------------------------------------------------


def test_record_format_one_entry_per_block(make_site: MakeSite) -> None:
    root = site(make_site)
    assert run(root)
    text = (root / RECORD_FILE).read_text()
    first, skipped, last = entries(root)
    assert first == {
        "code": checkrecord.digest("x = 6 * 7\nprint(x)\n"),
        "date": "2026-12-03",
        "options": [],
        "output": checkrecord.digest("42"),
        "packages": {},
        "platform": first["platform"],
        "python": first["python"],
        "verdict": "passed",
    }
    assert skipped == {
        "code": skipped["code"],
        "options": ["skip"],
        "output": None,
        "verdict": "skipped",
    }
    assert last["verdict"] == "passed"
    # One line per entry, keys sorted: a diff shows which block changed.
    for line, entry in zip(text.splitlines()[5:8], (first, skipped, last), strict=True):
        assert json.loads(line.strip().rstrip(",")) == entry
        assert line.strip().rstrip(",") == json.dumps(entry, sort_keys=True)
    assert "posts/plain.md" not in text  # not selected: not in the record


def test_two_runs_are_byte_identical_and_keep_the_old_date(make_site: MakeSite) -> None:
    root = site(make_site)
    assert run(root, DAY1)
    before = (root / RECORD_FILE).read_bytes()
    assert run(root, DAY2)  # from check-code's cache
    assert (root / RECORD_FILE).read_bytes() == before
    assert run(root, DAY2, use_cache=False)  # run again: the same verdicts
    assert (root / RECORD_FILE).read_bytes() == before


def test_a_changed_block_gets_a_new_entry_and_the_blocks_before_it_keep_theirs(
    make_site: MakeSite,
) -> None:
    root = site(make_site)
    assert run(root, DAY1)
    old = entries(root)
    edit(root, "print(x + 1)\n```\n\n```output\n43", "print(x + 2)\n```\n\n```output\n44")
    assert run(root, DAY2)
    new = entries(root)
    assert new[:2] == old[:2]
    assert new[2]["date"] == "2026-12-09"
    assert new[2]["code"] != old[2]["code"] and new[2]["output"] != old[2]["output"]


def test_a_failing_run_records_no_pass(make_site: MakeSite) -> None:
    root = site(make_site)
    assert run(root, DAY1)
    edit(root, "```output\n43", "```output\n44")
    assert not run(root, DAY2)
    assert [e["verdict"] for e in entries(root)] == ["passed", "skipped", "failed"]
    assert entries(root)[2]["date"] == "2026-12-09"


def test_a_run_of_named_posts_keeps_the_others_and_a_full_run_drops_the_unselected(
    make_site: MakeSite,
) -> None:
    root = site(make_site)
    other = post("B", "2026-03-03", "```python\nprint(1)\n```\n", check_code="true")
    (root / "posts/b.md").write_text(other)
    assert run(root)
    before = entries(root, "posts/b.md")
    assert before
    edit(root, "print(x)", "print(x )")
    assert run(root, DAY2, Path("posts/a.md"))
    assert entries(root, "posts/b.md") == before
    (root / "posts/b.md").write_text(other.replace("check_code: true", "check_code: false"))
    assert run(root, DAY2)
    assert entries(root, "posts/b.md") == []


def test_a_python_patch_release_alone_keeps_the_entry() -> None:
    key = Key("c", (), "o")
    old = Entry(key, "passed", "2026-12-03", "3.11.7", "Linux x86_64", (("torch", "2.13.0"),))
    patch = dataclasses.replace(old, date="2026-12-09", python="3.11.9")
    minor = dataclasses.replace(patch, python="3.12.1")
    torch = dataclasses.replace(patch, packages=(("torch", "2.14.0"),))
    assert checkrecord.merged({"p": (old,)}, {"p": (patch,)}, True) == {"p": (old,)}
    assert checkrecord.merged({"p": (old,)}, {"p": (minor,)}, True) == {"p": (minor,)}
    assert checkrecord.merged({"p": (old,)}, {"p": (torch,)}, True) == {"p": (torch,)}


def test_update_records_what_it_wrote(make_site: MakeSite) -> None:
    root = site(make_site, BODY.replace("```output\n43", "```output\n0"))
    options = CheckOptions(jobs=1, update=True, today=DAY1)
    check_site(root, options)
    assert "43" in (root / "posts/a.md").read_text()
    assert entries(root)[2]["verdict"] == "passed"
    assert entries(root)[2]["output"] == checkrecord.digest("43")
    assert build(root).code == 0
    assert header(root).startswith("2 of 3 code blocks checked (1 skipped)")


# --- what build shows ----------------------------------------------------------------


def test_checked_post_says_so_on_its_page_twin_and_llms_txt(make_site: MakeSite) -> None:
    root = site(make_site)
    assert run(root)
    record = (root / RECORD_FILE).read_bytes()
    result = build(root)
    assert result.code == 0, result.err
    assert (root / RECORD_FILE).read_bytes() == record  # build only reads it
    tools = f"Python {entries(root)[0]['python']}"
    expected = f"2 of 3 code blocks checked (1 skipped) with {tools}, last on 2026-12-03."
    assert header(root) == expected
    assert notes(root) == [f"Output checked with {tools} on 2026-12-03."] * 2
    # Each note follows its output block.
    for note in page(root).xpath("//p[@class='output-check']"):
        assert note.getprevious().get("class") == "output"
    twin = (root / "public/2026/03/a/index.md").read_text()
    assert f"- Code checked: 2 of 3 blocks (1 skipped), {tools}, 2026-12-03\n" in twin
    assert twin.count(f"```\n\n*Output checked with {tools} on 2026-12-03.*\n") == 2
    full = (root / "public/llms-full.txt").read_text()
    assert twin in full
    llms = (root / "public/llms.txt").read_text()
    assert "(code checked: 2 of 3 blocks, 1 skipped)" in llms
    plain = html.parse(str(root / "public/2026/03/plain/index.html")).getroot()
    assert not plain.xpath("//*[contains(@class, 'code-checked') or @class='output-check']")


def test_unchecked_post_says_it_was_never_checked(make_site: MakeSite) -> None:
    root = site(make_site)
    assert build(root).code == 0
    assert header(root) == "0 of 3 code blocks checked (1 skipped, 2 never checked)."
    assert notes(root) == ["Output not checked."] * 2
    twin = (root / "public/2026/03/a/index.md").read_text()
    assert "- Code checked: 0 of 3 blocks (1 skipped, 2 never checked)\n" in twin
    assert "*Output not checked.*" in twin


def test_edited_block_says_so_and_require_checked_names_it(make_site: MakeSite) -> None:
    root = site(make_site)
    assert run(root)
    assert build(root, "--require-checked").code == 0
    edit(root, "x = 6 * 7", "x = 6 * 7  # the answer")
    assert build(root).code == 0
    assert header(root) == "0 of 3 code blocks checked (1 skipped, 2 edited since)."
    assert notes(root) == [
        "Output not checked since edited.",
        "Output not checked since an earlier code block was edited.",
    ]
    assert "*Output not checked since edited.*" in (root / "public/2026/03/a/index.md").read_text()

    result = build(root, "--require-checked")
    assert result.code == 1
    lines = (root / "posts/a.md").read_text().split("\n")
    first = lines.index("x = 6 * 7  # the answer") + 1
    last = lines.index("print(x + 1)") + 1
    assert f"posts/a.md:{first}: code block not checked: edited since" in result.err
    assert f"posts/a.md:{last}: code block not checked: a code block before it" in result.err
    assert "skip" not in result.err  # a skipped block is the author's choice
    assert "Traceback" not in result.err


def test_a_py_block_counts_on_the_page_and_for_require_checked(make_site: MakeSite) -> None:
    root = site(make_site, BODY.replace("```python\nprint(x + 1)", "```py\nprint(x + 1)"))
    assert build(root).code == 0
    assert header(root) == "0 of 3 code blocks checked (1 skipped, 2 never checked)."
    result = build(root, "--require-checked")
    last = (root / "posts/a.md").read_text().split("\n").index("print(x + 1)") + 1
    assert result.code == 1 and f"posts/a.md:{last}: code block not checked" in result.err
    assert run(root)
    assert [e["verdict"] for e in entries(root)] == ["passed", "skipped", "passed"]
    assert build(root, "--require-checked").code == 0
    assert header(root).startswith("2 of 3 code blocks checked (1 skipped)")
    assert len(notes(root)) == 2


def test_an_edited_output_block_alone_is_not_checked(make_site: MakeSite) -> None:
    root = site(make_site)
    assert run(root)
    edit(root, "```output\n43", "```output\n43.0")
    assert build(root).code == 0
    assert notes(root)[1] == "Output not checked since edited."
    assert notes(root)[0].startswith("Output checked with")


def test_a_damaged_record_is_an_error_at_its_line(make_site: MakeSite) -> None:
    root = site(make_site)
    (root / RECORD_FILE).write_text('{\n  "format": 1,\n  "posts": {,\n}\n')
    result = build(root)
    assert result.code == 1
    assert f"{RECORD_FILE}:3: not JSON" in result.err


def test_a_too_deeply_nested_record_is_an_error_not_a_traceback(make_site: MakeSite) -> None:
    root = site(make_site)
    (root / RECORD_FILE).write_text("[" * 100000 + "]" * 100000)
    result = build(root)
    assert result.code == 1
    assert f"{RECORD_FILE}: not JSON it can read: nested too deeply (" in result.err
    assert "Traceback" not in result.out + result.err


@pytest.mark.parametrize(
    ("value", "problem"),
    [("\ud800", "a lone surrogate (U+D800)"), ("2026-\u0007", "control character U+0007")],
)
def test_a_record_string_no_page_can_hold_is_a_record_error(
    make_site: MakeSite, value: str, problem: str
) -> None:
    root = site(make_site)
    assert run(root)
    data = json.loads((root / RECORD_FILE).read_text())
    data["posts"]["posts/a.md"][0]["date"] = value
    (root / RECORD_FILE).write_text(json.dumps(data))
    result = build(root)
    assert result.code == 1
    assert f"{RECORD_FILE}: not a check-code record: an entry of posts/a.md holds {problem}" in (
        result.err
    )
    assert "template" not in result.err and "Traceback" not in result.err


def test_a_fifo_at_the_record_is_refused_not_waited_on(make_site: MakeSite) -> None:
    root = site(make_site)
    os.mkfifo(root / RECORD_FILE)
    for command in ("build", "check-code"):
        result = run_cli(command, "--site", root, timeout=30)
        assert result.code == 1, command
        assert f"{RECORD_FILE}: cannot read: a FIFO (named pipe), not a regular file (" in (
            result.err + result.out
        )
