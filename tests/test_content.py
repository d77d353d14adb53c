"""Loading posts: front matter, dates, slugs, drafts and future posts, and bad input."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BLOG_TOML, NOW, Result, now, post, quick_build, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree, html

from blogkeeper.build import build_site
from blogkeeper.config import SiteConfig, load_config
from blogkeeper.content import LoadOptions, find_post_files, load_posts, slugify, source_of
from blogkeeper.errors import BuildError
from blogkeeper.model import BuildOptions

MakeSite = Callable[..., Path]


def built(root: Path, out: Path, *extra: str) -> dict[str, bytes]:
    result = quick_build(root, "--out", out, *extra)
    assert result.code == 0, result.err
    return snapshot(out)


# --- line ends and byte-order marks ----------------------------------------------------

BODY = (
    "The intro with a footnote[^1] and $x^2$.\n\n<!--more-->\n\n"
    "```python skip\nprint('a')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[^1]: A note.\n"
)


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("crlf-bom", lambda text: ("\ufeff" + text.replace("\n", "\r\n")).encode()),
        ("lone-cr", lambda text: text.replace("\n", "\r").encode()),
        ("crlf", lambda text: text.replace("\n", "\r\n").encode()),
    ],
)
def test_line_ends_and_bom_build_like_a_clean_file(
    make_site: MakeSite, tmp_path: Path, name: str, encode: Callable[[str], bytes]
) -> None:
    text = post("Same", "2026-01-02", BODY, tags="[AI]")
    clean = built(make_site({"posts/same.md": text}), tmp_path / "clean")
    root = tmp_path / "site"
    (root / "posts" / "same.md").write_bytes(encode(text))
    dirty = built(root, tmp_path / name)
    assert dirty == clean


# --- drafts and future posts -----------------------------------------------------------

DRAFT_WORD = "Zanzibarquux"
FUTURE_WORD = "Quokkafrobnitz"


@pytest.fixture
def hidden_site(make_site: MakeSite) -> Path:
    return make_site(
        {
            "posts/visible.md": post("Visible", "2026-01-01", tags="[AI]", series="Tour"),
            "posts/draft.md": post(
                f"{DRAFT_WORD} draft", "2026-02-01", tags=f"[{DRAFT_WORD}]", draft="true"
            ),
            "posts/future.md": post(
                f"{FUTURE_WORD} future", "2027-01-01", tags="[AI]", series=FUTURE_WORD
            ),
        }
    )


def test_drafts_and_future_posts_are_absent_from_every_file(
    hidden_site: Path, tmp_path: Path
) -> None:
    files = built(hidden_site, tmp_path / "out")
    for path, data in files.items():
        for word in (DRAFT_WORD, FUTURE_WORD, "draft/", "future/"):
            assert word.lower().encode() not in data.lower(), (path, word)
        assert DRAFT_WORD.lower() not in path.lower() and FUTURE_WORD.lower() not in path.lower()
    assert "2026/01/visible/index.html" in files


def test_drafts_flag_puts_drafts_in(hidden_site: Path, tmp_path: Path) -> None:
    files = built(hidden_site, tmp_path / "out", "--drafts")
    assert "2026/02/draft/index.html" in files
    assert f"topics/{DRAFT_WORD.lower()}/index.html" in files
    assert not any(FUTURE_WORD.lower().encode() in d.lower() for d in files.values())


def test_future_flag_puts_future_posts_in(hidden_site: Path, tmp_path: Path) -> None:
    files = built(hidden_site, tmp_path / "out", "--future")
    assert "2027/01/future/index.html" in files
    assert f"series/{FUTURE_WORD.lower()}/index.html" in files
    assert not any(DRAFT_WORD.lower().encode() in d.lower() for d in files.values())


# --- dates and time zones --------------------------------------------------------------


def test_dates_are_read_in_the_site_timezone_and_mixed_kinds_sort(
    make_site: MakeSite, tmp_path: Path
) -> None:
    config = BLOG_TOML.replace('timezone = "UTC"', 'timezone = "Pacific/Auckland"')
    root = make_site(
        {
            "posts/date-only.md": post("Date only", "2026-03-14"),
            "posts/naive.md": post("Naive", "2026-03-14 09:30"),
            "posts/aware.md": post("Aware", "2026-03-14T01:00:00+00:00"),
            "posts/quoted.md": post("Quoted", '"2026-03-13"'),
        },
        config=config,
    )
    site = load_config(root)
    posts = load_posts(site, LoadOptions(future=True))
    by_title = {p.title: p for p in posts}
    assert by_title["Date only"].date.isoformat() == "2026-03-14T00:00:00+13:00"
    assert by_title["Naive"].date.isoformat() == "2026-03-14T09:30:00+13:00"
    # 01:00 UTC is 14:00 the same day in Auckland.
    assert by_title["Aware"].date.isoformat() == "2026-03-14T14:00:00+13:00"
    assert [p.title for p in posts] == ["Aware", "Naive", "Date only", "Quoted"]
    files = built(root, tmp_path / "out")
    doc = html.fromstring(files["2026/03/aware/index.html"])
    assert doc.xpath("//time/@datetime")[0] == "2026-03-14T14:00:00+13:00"


def test_a_post_dated_later_today_in_the_site_timezone_is_future(
    make_site: MakeSite, tmp_path: Path
) -> None:
    # The build's now is 12:00 UTC, which is 21:00 in Tokyo.
    config = BLOG_TOML.replace('timezone = "UTC"', 'timezone = "Asia/Tokyo"')
    root = make_site(
        {
            "posts/past.md": post("Past", "2026-11-01 20:59"),
            "posts/later.md": post("Later", "2026-11-01 21:01"),
        },
        config=config,
    )
    files = built(root, tmp_path / "out")
    assert "2026/11/past/index.html" in files
    assert "2026/11/later/index.html" not in files


# --- slugs -----------------------------------------------------------------------------


def test_slugify_keeps_letters_of_every_script() -> None:
    assert slugify("日本語") == "日本語"
    assert slugify("Café") == "café"
    assert slugify("Cafe\u0301") == "café"  # NFD, as macOS file names are
    assert slugify("हिन्दी में लिखना") == "हिन्दी-में-लिखना"  # combining marks stay
    assert slugify("!!!") == ""
    assert slugify("  Hello, World!  ") == "hello-world"


def test_slugs_for_hard_names_are_non_empty_readable_unique_and_deterministic(
    make_site: MakeSite, tmp_path: Path
) -> None:
    files = {
        "posts/日本語.md": post("日本語", "2026-01-01"),
        "posts/Café.md": post("Café", "2026-01-02"),
        "posts/!!!.md": post("!!!", "2026-01-03"),
        "posts/???.md": post("???", "2026-01-04"),
        "posts/2026-01-05-!!!.md": post("Bang bang", "2026-01-05"),
    }
    root = make_site(files)
    posts = load_posts(load_config(root), LoadOptions())
    slugs = {p.source: p.slug for p in posts}
    assert slugs["posts/日本語.md"] == "日本語"
    assert slugs["posts/Café.md"] == "café"
    assert slugs["posts/2026-01-05-!!!.md"] == "bang-bang"  # falls back to the title
    assert slugs["posts/!!!.md"].startswith("post-")
    assert slugs["posts/???.md"].startswith("post-")
    assert len(set(slugs.values())) == len(files)
    assert all(slug and slug.strip("-") == slug for slug in slugs.values())
    again = load_posts(load_config(root), LoadOptions())
    assert {p.source: p.slug for p in again} == slugs
    output = built(root, tmp_path / "out")
    assert "2026/01/日本語/index.html" in output
    assert "2026/01/café/index.html" in output
    assert not any(name.endswith("/.html") or "//" in name for name in output)
    locs = etree.fromstring(output["sitemap.xml"]).xpath("//*[local-name()='loc']/text()")
    assert "https://blog.example.org/2026/01/%E6%97%A5%E6%9C%AC%E8%AA%9E/" in locs
    assert all(loc.isascii() for loc in locs)
    links = html.fromstring(output["index.html"]).xpath("//article//h2/a/@href")
    assert "/2026/01/caf%C3%A9/" in links


def test_explicit_slug_wins_and_a_leading_number_is_dropped(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/series/08-self-attention.md": post("Self-attention", "2026-01-01"),
            "posts/whatever.md": post("Whatever", "2026-01-02", slug="My Own Slug"),
        }
    )
    slugs = {p.source: p.slug for p in load_posts(load_config(root), LoadOptions())}
    assert slugs == {
        "posts/series/08-self-attention.md": "self-attention",
        "posts/whatever.md": "my-own-slug",
    }


def test_a_post_named_index_takes_its_folder_name(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/2026-01-01-first-bundle/index.md": post("One", "2026-01-01"),
            "posts/second/INDEX.md": post("Two", "2026-01-02"),
        }
    )
    slugs = sorted(p.slug for p in load_posts(load_config(root), LoadOptions()))
    assert slugs == ["first-bundle", "second"]


def test_a_slug_without_letters_is_an_error(broken_build: BrokenBuild) -> None:
    broken_build({"posts/bad.md": post("T", "2026-01-01", slug='"!!!"')}, "posts/bad.md:4: `slug`")


def test_dotfiles_and_appledouble_files_are_ignored(make_site: MakeSite, tmp_path: Path) -> None:
    root = make_site(
        {
            "posts/real.md": post("Real", "2026-01-01"),
            "posts/._real.md": b"\x00\x05\x16\x07 resource fork \xff\xfe",
            "posts/.hidden/notes.md": "not a post",
        }
    )
    files = built(root, tmp_path / "out")
    assert "2026/01/real/index.html" in files


# --- title and tags ---------------------------------------------------------------------


def test_empty_tags_and_slug_mean_none_and_a_single_tag_is_a_list(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": "---\ntitle: A\ndate: 2026-01-01\ntags:\nslug:\n---\nX\n",
            "posts/b.md": "---\ntitle: B\ndate: 2026-01-02\ntags: AI\n---\nX\n",
        }
    )
    b, a = load_posts(load_config(root), LoadOptions())
    assert (a.tags, a.slug) == ((), "a")
    assert b.tags == ("AI",)


def test_yaml_words_stay_text_in_text_fields(make_site: MakeSite) -> None:
    root = make_site({"posts/no.md": "---\ntitle: no\ndate: 2026-01-01\ntags: [yes, 3]\n---\nX\n"})
    [loaded] = load_posts(load_config(root), LoadOptions())
    assert loaded.title == "no"
    assert loaded.tags == ("yes", "3")


# --- where the front matter ends ------------------------------------------------------


def test_the_front_matter_ends_at_its_first_closing_line(make_site: MakeSite) -> None:
    """`---` lines below it are the body's (thematic breaks), whatever their dashes and
    trailing spaces; blank lines after the opening `---` keep every line number true."""
    text = "---  \n\ntitle: T\ndate: 2026-01-01\n---\nIntro\n\n---\n\n<!--more-->\n\n----- \nEnd\n"
    root = make_site({"posts/rules.md": text})
    [loaded] = load_posts(load_config(root), LoadOptions())
    assert loaded.body == "Intro\n\n---\n\n<!--more-->\n\n----- \nEnd\n"
    assert (loaded.body_line, loaded.fold) == (6, 4)
    assert loaded.lines == {"title": 3, "date": 4}


def test_an_error_below_blank_lines_at_the_top_names_its_line(broken_build: BrokenBuild) -> None:
    text = "---\n\n\ntitle: T\ndate: 2026-01-01\nlayout: post\n---\nBody\n\n---\n"
    broken_build({"posts/bad.md": text}, "posts/bad.md:6: unknown front-matter key `layout`")


def test_a_closing_line_straight_after_the_opening_one_is_empty_front_matter(
    broken_build: BrokenBuild,
) -> None:
    broken_build(
        {"posts/bad.md": "---\n---\ntitle: T\n---\n"}, "posts/bad.md:2: front matter is empty"
    )


# --- bad input: one test each, exit 1 with path:line, previous output unchanged ---------

BrokenBuild = Callable[[dict[str, str | bytes], str], Result]


def test_missing_title(broken_build: BrokenBuild) -> None:
    broken_build({"posts/bad.md": "---\ndate: 2026-01-01\n---\nBody\n"}, "posts/bad.md:1:")


def test_missing_date(broken_build: BrokenBuild) -> None:
    broken_build({"posts/bad.md": "---\ntitle: T\n---\nBody\n"}, "posts/bad.md:1:")


def test_impossible_date(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"posts/bad.md": "---\ntitle: T\ntags: [a]\ndate: 2026-02-30\n---\nBody\n"},
        "posts/bad.md:4:",
    )
    assert "2026-02-30" in result.err


def test_yaml_syntax_error(broken_build: BrokenBuild) -> None:
    broken_build(
        {"posts/bad.md": '---\ntitle: "T\ndate: 2026-01-01\ntags: [a\n---\nBody\n'},
        "posts/bad.md:",
    )


def test_yaml_syntax_error_line_is_the_line_in_the_post(broken_build: BrokenBuild) -> None:
    broken_build(
        {"posts/bad.md": "---\ntitle: T\ndate: 2026-01-01\ntags: [a, b\nseries: x\n---\nBody\n"},
        "posts/bad.md:5:",
    )


def test_yaml_error_names_where_the_broken_construct_opened(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"posts/bad.md": "---\ntitle: [unclosed\ndate: 2026-01-01\n---\nBody\n"},
        "posts/bad.md:3: invalid YAML",
    )
    assert "flow sequence on line 2" in result.err


def test_unclosed_front_matter(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"posts/bad.md": "---\ntitle: T\ndate: 2026-01-01\n\nBody\n"}, "posts/bad.md:1:"
    )
    assert "never closed" in result.err


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ('+++\ntitle = "T"\n+++\nBody\n', "`+++` opens Hugo's TOML front matter"),
        ("---\ntitle: T\ndate: 2026-01-01\n...\nBody\n", "line 4's `...` ends a YAML document"),
    ],
)
def test_hugo_and_jekyll_front_matter_habits_get_a_hint(
    broken_build: BrokenBuild, text: str, hint: str
) -> None:
    result = broken_build({"posts/bad.md": text}, "posts/bad.md:1:")
    assert hint in result.err


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ("updated: 2025-01-01\n", ":3:", "`updated` (2025-01-01) is before `date` (2026-01-05)"),
        ("part: 3\n", ":3:", "`part` without a `series`"),
        ('series: ""\npart: 3\n', ":4:", "`part` without a `series`"),
    ],
)
def test_front_matter_that_contradicts_itself(
    broken_build: BrokenBuild, extra: str, where: str, message: str
) -> None:
    text = "---\ntitle: T\n" + extra + "date: 2026-01-05\n---\nBody\n"
    result = broken_build({"posts/bad.md": text}, f"posts/bad.md{where} {message}")
    assert "1 error" in result.err


def test_front_matter_that_is_not_a_mapping(broken_build: BrokenBuild) -> None:
    broken_build({"posts/bad.md": "---\n- title\n- date\n---\nBody\n"}, "posts/bad.md:2:")


def test_no_front_matter_at_all(broken_build: BrokenBuild) -> None:
    broken_build({"posts/bad.md": "# Just a heading\n\nBody\n"}, "posts/bad.md:1:")


def test_unknown_key_with_a_hint(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"posts/bad.md": "---\ntittle: T\ntitle: T\ndate: 2026-01-01\n---\nBody\n"},
        "posts/bad.md:2: unknown front-matter key `tittle`",
    )
    assert "did you mean `title`?" in result.err


def test_duplicate_key(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"posts/bad.md": "---\ntitle: A\ndate: 2026-01-01\ntitle: B\n---\nBody\n"},
        "posts/bad.md:4: duplicate key `title`",
    )
    assert "line 2" in result.err


def test_wrong_type(broken_build: BrokenBuild) -> None:
    broken_build(
        {"posts/bad.md": "---\ntitle: T\ndate: 2026-01-01\ndraft: maybe\n---\nBody\n"},
        "posts/bad.md:4: `draft`",
    )


def test_duplicate_url_names_both_files(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {
            "posts/one/same.md": post("One", "2026-01-03"),
            "posts/two/same.md": post("Two", "2026-01-04"),
        },
        "posts/two/same.md:1:",
    )
    assert "posts/one/same.md" in result.err


def test_duplicate_url_differing_only_in_case(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {
            "posts/Same.md": post("One", "2026-01-03"),
            "posts/x.md": post("Two", "2026-01-04", slug="same"),
        },
        "posts/x.md:4:",
    )
    assert "posts/Same.md" in result.err


def test_invalid_utf8(broken_build: BrokenBuild) -> None:
    data = post("T", "2026-01-01", "Line one.\n\nCaf\xe9 line three.\n").encode()
    data = data.replace("Caf\xe9".encode(), b"Caf\xe9")
    result = broken_build({"posts/bad.md": data}, "posts/bad.md:7:")
    assert "UTF-8" in result.err


def test_control_character_in_front_matter(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"posts/bad.md": "---\ntitle: T\ndate: 2026-01-01\nsummary: a\x1fb\n---\nBody\n"},
        "posts/bad.md:4:",
    )
    assert "U+001F" in result.err


def test_python_object_tag_is_refused(broken_build: BrokenBuild) -> None:
    broken_build(
        {
            "posts/bad.md": "---\ntitle: T\ndate: 2026-01-01\n"
            "summary: !!python/object/apply:os.system ['touch pwned']\n---\nBody\n"
        },
        "posts/bad.md:4:",
    )


DEEP = 300


@pytest.mark.parametrize(
    "line4",
    [
        "summary: " + "[" * DEEP + "]" * DEEP,
        "summary: " + "{a: " * DEEP + "}" * DEEP,
        "summary: " + "[" * 3000,  # past libyaml's own limit, and never closed
        "summary:\n" + "".join(" " * i + "-\n" for i in range(0, 2 * DEEP, 2)),
        "[" * DEEP + "]" * DEEP + ": x",  # as a key
        "unknown: " + "[" * DEEP + "]" * DEEP,
    ],
    ids=["flow-list", "flow-map", "unclosed", "block", "key", "unknown-key"],
)
def test_deeply_nested_front_matter_is_an_error_at_its_line(
    broken_build: BrokenBuild, line4: str
) -> None:
    result = broken_build(
        {"posts/x.md": f"---\ntitle: T\ndate: 2026-01-01\n{line4}\n---\nBody\n"}, "posts/x.md:"
    )
    # An unclosed flow is found where it should have closed: libyaml 0.2.5 (in recent
    # PyYAML wheels) stops at its depth limit on line 4, older builds at the end, line 5.
    lines = ("posts/x.md:4:", "posts/x.md:5:") if line4.endswith("[") else ("posts/x.md:4:",)
    assert result.err.startswith(lines), result.err


def test_deep_front_matter_without_libyaml_is_an_error_at_its_line(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.delattr(yaml, "CSafeLoader")
    deep = "[" * 3000 + "]" * 3000
    root = make_site({"posts/x.md": f"---\ntitle: T\ndate: 2026-01-01\n\nsummary: {deep}\n---\n"})
    with pytest.raises(BuildError) as caught:
        load_posts(load_config(root), LoadOptions())
    assert [str(e) for e in caught.value.errors] == [
        "posts/x.md:5: front matter nested too deeply to read"
    ]


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("date: 0001-01-01 00:00+05:00", "posts/x.md:3: `date` is out of range"),
        ("date: 9999-12-31 23:00-05:00", "posts/x.md:3: `date` is out of range"),
        ("date: 2026-01-01\nupdated: 9999-12-31 23:00-05:00", "posts/x.md:4: `updated` is out"),
        ('date: "0001-01-01T00:00+05:00"', "posts/x.md:3: `date` is out of range"),
    ],
)
def test_dates_that_leave_the_calendar_in_utc_are_errors(
    broken_build: BrokenBuild, line: str, where: str
) -> None:
    broken_build({"posts/x.md": f"---\ntitle: T\n{line}\n---\nBody\n"}, where)


@pytest.mark.parametrize(
    ("line", "tag"),
    [
        ("title: !!binary aGVsbG8=", "!!binary"),
        ("title: !custom x", "!custom"),
        ("summary: !!int no", "!!int"),
        ("tags: [ok, !custom x]", "!custom"),
        ("draft: !!bool 'yes'", "!!bool"),
        ("summary: !!python/object/apply:os.system ['touch pwned']", "!!python/object/apply"),
    ],
)
def test_yaml_tags_are_errors_at_their_line(broken_build: BrokenBuild, line: str, tag: str) -> None:
    key = line.partition(":")[0]
    others = [field for field in ("title: T", "date: 2026-01-01") if not field.startswith(key)]
    padded = [*others, *[""] * (2 - len(others)), line]  # `line` is line 4 of the file
    text = "---\n" + "\n".join(padded) + "\n---\nBody\n"
    result = broken_build({"posts/x.md": text}, "posts/x.md:4: YAML tag `")
    assert f"YAML tag `{tag}" in result.err
    assert "1 error" in result.err


def test_too_large_a_post(broken_build: BrokenBuild) -> None:
    big = post("Big", "2026-01-01", "x" * 2_100_000)
    broken_build({"posts/big.md": big}, "posts/big.md: file is")


def test_every_error_of_a_build_is_reported_together(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {
            "posts/a.md": "---\ndate: 2026-01-01\n---\nBody\n",
            "posts/b.md": "---\ntitle: T\ndate: 2026-13-01\n---\nBody\n",
        },
        "posts/a.md:1:",
    )
    assert "posts/b.md:3:" in result.err
    assert "2 errors" in result.err


def test_a_dangling_symlink_post_is_an_error_not_a_missing_post(
    make_site: MakeSite, tmp_path: Path
) -> None:
    root = make_site({"posts/good.md": post("Good", "2026-01-01")})
    (root / "posts" / "gone.md").symlink_to(tmp_path / "nowhere.md")
    result = quick_build(root, "--out", tmp_path / "out")
    assert result.code == 1
    assert "posts/gone.md: cannot read" in result.err


def bounded_build(root: Path, out: Path) -> Result:
    """A build in a process of its own that cannot hang or eat the machine: a regression
    here waits on a FIFO forever or reads /dev/zero until the OOM killer comes."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))

    proc = subprocess.run(
        [sys.executable, "-m", "blogkeeper", "build", "--site", root, "--out", out, "--now", NOW],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (make_fifo, "a FIFO (named pipe), not a regular file"),
        (lambda path: path.symlink_to("/dev/zero"), "a character device, not a regular file"),
        (make_socket, "a socket, not a regular file"),
    ],
    ids=["fifo", "dev-zero", "socket"],
)
def test_a_special_file_is_an_error_not_a_hang(
    make_site: MakeSite, tmp_path: Path, make: Callable[[Path], None], kind: str
) -> None:
    root = make_site({"posts/good.md": post("Good", "2026-01-01")})
    out = tmp_path / "public"
    assert bounded_build(root, out).code == 0
    before = snapshot(out)
    make(root / "posts" / "x.md")
    result = bounded_build(root, out)
    assert result.code == 1
    assert f"posts/x.md: cannot read: {kind} (a post must be a regular file" in result.err
    assert "Traceback" not in result.err
    assert snapshot(out) == before


def test_links_to_files_and_folders_inside_and_outside_posts_are_followed(
    make_site: MakeSite, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deeper").mkdir(parents=True)
    (elsewhere / "file.md").write_text(post("Outside file", "2026-01-02"))
    (elsewhere / "deeper" / "x.md").write_text(post("Outside folder", "2026-01-03"))
    root = make_site({"posts/real/inside.md": post("Inside", "2026-01-04")})
    (root / "posts" / "file-link.md").symlink_to(elsewhere / "file.md")
    (root / "posts" / "inside-link.md").symlink_to(root / "posts/real/inside.md")
    (root / "posts" / "folder-link").symlink_to(elsewhere / "deeper")
    loaded = load_posts(load_config(root), LoadOptions(drafts=True, future=True))
    assert sorted(p.source for p in loaded) == [
        "posts/file-link.md",
        "posts/folder-link/x.md",
        "posts/inside-link.md",
        "posts/real/inside.md",
    ]


def test_a_folder_named_like_a_post_is_walked_and_a_link_to_one_followed(
    make_site: MakeSite, tmp_path: Path
) -> None:
    root = make_site({"posts/notes.md/inside.md": post("Inside", "2026-01-01")})
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "x.md").write_text(post("Linked", "2026-01-02"))
    (root / "posts" / "link.md").symlink_to(tmp_path / "more")
    loaded = load_posts(load_config(root), LoadOptions())
    assert sorted(p.source for p in loaded) == ["posts/link.md/x.md", "posts/notes.md/inside.md"]


def test_a_folder_link_that_loops_is_an_error(make_site: MakeSite, tmp_path: Path) -> None:
    root = make_site({"posts/a/good.md": post("Good", "2026-01-01")})
    out = tmp_path / "public"
    before = built(root, out)
    (root / "posts" / "a" / "up").symlink_to(root / "posts")
    result = quick_build(root, "--out", out)
    assert result.code == 1
    assert "posts/a/up: folder link leads back to a folder it is inside" in result.err
    assert "Traceback" not in result.err
    assert snapshot(out) == before


CONTROLS = "".join(
    map(chr, [*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])
)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "---\ntitle: a\x0bb\ndate: 2026-01-01\n---\nBody\n",
            "posts/x.md:2: control character U+000B",
        ),
        (
            "---\ntitle: a\x85b\ndate: 2026-01-01\n---\nBody\n",
            "posts/x.md:2: control character U+0085",
        ),
        (
            '---\ntitle: "a\\vb"\ndate: 2026-01-01\n---\nBody\n',
            "posts/x.md:2: `title` holds control character U+000B",
        ),
        (
            '---\ntitle: T\ndate: 2026-01-01\ntags: [ok, "b\\x85"]\n---\n',
            "posts/x.md:4: `tags` holds control character U+0085",
        ),
        (
            "---\ntitle: T\ndate: 2026-01-01\n---\nBody\n\nA \x0b here.\n",
            "posts/x.md:7: control character U+000B",
        ),
        (
            "---\ntitle: T\ndate: 2026-01-01\n---\nBody\n\nA \x85 here.\n",
            "posts/x.md:7: control character U+0085",
        ),
        (
            "---\r\ntitle: T\r\ndate: 2026-01-01\r\n---\r\n\r\n\x7f\r\n",
            "posts/x.md:6: control character U+007F",
        ),
    ],
    ids=["title", "title-c1", "title-escape", "tag-escape", "body", "body-c1", "body-crlf"],
)
def test_a_control_character_is_an_error_at_its_line(
    broken_build: BrokenBuild, text: str, where: str
) -> None:
    result = broken_build({"posts/x.md": text}, where)
    assert "1 error" in result.err


def test_the_quick_control_check_misses_no_character_the_search_finds() -> None:
    """`decode_source` searches a text only if its bytes may hold a control character."""
    from blogkeeper.config import CONTROL
    from blogkeeper.content import decode_source

    for code in [*range(0x800), 0xFEFF, 0xFFFD, 0x10FFFF]:
        text = f"a{chr(code)}b"
        if 0xD800 <= code <= 0xDFFF or chr(code) == "\r":
            continue
        try:
            decode_source(text.encode(), "x.md")
            failed = False
        except BuildError:
            failed = True
        assert failed == bool(CONTROL.search(text)), hex(code)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    title=st.text(st.sampled_from("ab é\t" + CONTROLS), min_size=1, max_size=8),
    tag=st.text(st.sampled_from("ab" + CONTROLS), min_size=1, max_size=4),
    body=st.text(st.sampled_from("ab\n\t#*<>&" + CONTROLS), max_size=40),
)
def test_any_text_builds_without_control_characters_or_fails_naming_one(
    make_site: MakeSite, title: str, tag: str, body: str
) -> None:
    text = f"---\ntitle: {json.dumps(title)}\ndate: 2026-01-01\ntags: [{json.dumps(tag)}]\n"
    text += f"summary: {json.dumps(body)}\n---\n{body}\n"
    root = make_site({"posts/x.md": text})
    try:
        outputs = build_site(root, BuildOptions(now=now()))
    except BuildError as exc:
        named = any("control character U+" in e.message for e in exc.errors)
        assert named == bool(set(title + tag + body) & set(CONTROLS)), exc.errors
        assert all(e.path == "posts/x.md" and e.line for e in exc.errors), exc.errors
        return
    for output in outputs:
        assert not set(output.data.decode("utf-8", "replace")) & set(CONTROLS), output.path


YAML_PIECES = st.sampled_from(
    [
        "title: T\n",
        "date: 2026-01-01\n",
        "date: 2026-02-30\n",
        "tags: [a, b]\n",
        "tags:\n",
        "- x\n",
        "---\n",
        "\n",
        ": ",
        "'",
        '"',
        "[",
        "{",
        "!!python/object:os.system\n",
        "&a x\n",
        "*a\n",
        "\t",
        "\ufeff",
        "\r",
        "title: no\n",
        "part: 0\n",
        "draft: maybe\n",
    ]
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(YAML_PIECES, st.text(max_size=4)), max_size=12))
def test_any_front_matter_loads_or_is_a_located_error(
    make_site: MakeSite, pieces: list[str]
) -> None:
    root = make_site({"posts/x.md": "---\n" + "".join(pieces) + "\n---\nBody\n"})
    try:
        load_posts(load_config(root), LoadOptions(drafts=True, future=True))
    except BuildError as exc:
        assert all(e.path == "posts/x.md" and e.line for e in exc.errors), exc.errors


def test_every_error_of_a_post_comes_at_once(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    text = '---\ntittle: "A"\ndate: 2026-02-30\ncover: x.png\n---\nBody\n'
    result = quick_build(make_site({"posts/a.md": text}), "--out", tmp_path / "out")
    assert result.code == 1
    lines = [line.split(" (")[0] for line in result.err.strip().splitlines()]
    assert lines == [
        "posts/a.md:1: `title` is required in the front matter",
        "posts/a.md:2: unknown front-matter key `tittle`",
        "posts/a.md:3: invalid value for `date` 2026-02-30: day is out of range for month",
        "posts/a.md:4: unknown front-matter key `cover`",
        "build failed: 4 errors",
    ]


def test_a_str_tag_or_the_tag_yaml_would_give_is_allowed(make_site: MakeSite) -> None:
    text = (
        "---\ntitle: !!str 2026\ndate: !!str 2026-01-01\ntags: [!!str yes]\nseries: S\n"
        "part: !!int 2\n---\nX\n"
    )
    [loaded] = load_posts(load_config(make_site({"posts/a.md": text})), LoadOptions())
    assert (loaded.title, loaded.tags, loaded.part, loaded.date.day) == ("2026", ("yes",), 2, 1)


def test_a_str_tag_on_a_list_is_an_error(broken_build: BrokenBuild) -> None:
    text = "---\ntitle: T\ndate: 2026-01-01\ntags: !!str [a]\n---\nX\n"
    broken_build({"posts/x.md": text}, "posts/x.md:4: YAML tag `!!str` is not allowed")


def test_escaped_surrogate_pairs_join_in_every_kind_of_value(make_site: MakeSite) -> None:
    pair, title, padded = (
        json.dumps(text) for text in ("\U0001f375", "\U0001f375 tea", " \U0001f375 ")
    )
    text = (
        f"---\ntitle: {title}\ndate: 2026-01-01\ntags: [{pair}, {padded}]\n"
        f"extra: {{{pair}: [{pair}]}}\n---\nX\n"
    )
    [loaded] = load_posts(load_config(make_site({"posts/a.md": text})), LoadOptions())
    assert loaded.title == "\U0001f375 tea"
    assert loaded.tags == ("\U0001f375",)
    assert loaded.extra == {"\U0001f375": ["\U0001f375"]}


def test_a_lone_surrogate_in_a_list_or_mapping_is_an_error(broken_build: BrokenBuild) -> None:
    text = '---\ntitle: T\ndate: 2026-01-01\ntags: [a, "\\ud800"]\nextra: {"\\udc00": 1}\n---\nX\n'
    result = broken_build({"posts/x.md": text}, "posts/x.md:4: `tags` contains a lone surrogate")
    assert "posts/x.md:5: `extra` contains a lone surrogate" in result.err


def test_plain_scalars_read_by_libyaml_carry_no_tag_of_their_own() -> None:
    """libyaml marks a plain scalar with style "", PyYAML with None: both are plain, so a
    date or a number is not mistaken for an explicitly tagged value (which sent every
    post through the slow pure-Python parser, once per build)."""
    import yaml

    from blogkeeper import content

    loaders = [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)]
    for loader_class in loaders:
        loader = loader_class("date: 2026-02-28\npart: 3\ndraft: no\n")
        for _, value in loader.get_single_node().value:
            content._refuse_tag(loader, value)  # raises _TagError on a tagged value


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("categories", "[ml]", "did you mean `tags`?"),
        ("excerpt", "Short.", "did you mean `summary`?"),
        ("description", "Short.", "did you mean `summary`?"),
        ("lastmod", "2026-01-02", "did you mean `updated`?"),
        ("layout", "post", "remove it: templates decide the layout (templates/post.html"),
        ("url", "/old/", "did you mean `permalink`?"),
        ("published", "false", "did you mean `draft`? (`published: false` is `draft: true`)"),
    ],
)
def test_other_generators_names_get_a_hint(
    make_site: MakeSite, key: str, value: str, hint: str
) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", **{key: value})})
    result = quick_build(root)
    assert result.code == 1
    assert f"posts/a.md:4: unknown front-matter key `{key}` ({hint}" in result.err, result.err


def test_extra_is_a_free_mapping(make_site: MakeSite) -> None:
    text = post("A", "2026-01-01").replace(
        "---\nIntro",
        "extra:\n  cover: pic.png\n  sizes: [1, 2]\n  deep: {a: {b: true}}\n---\nIntro",
    )
    root = make_site({"posts/a.md": text})
    [loaded] = load_posts(load_config(root), LoadOptions(now=now()))
    assert loaded.extra == {"cover": "pic.png", "sizes": [1, 2], "deep": {"a": {"b": True}}}


def test_extra_refuses_a_billion_laughs(make_site: MakeSite) -> None:
    """Anchors repeated inside each other would make a billion values from nine lines."""
    lines = ["extra:", "  l0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 9)]
    text = post("A", "2026-01-01").replace("---\nIntro", "\n".join(lines) + "\n---\nIntro")
    result = quick_build(make_site({"posts/a.md": text}))
    assert result.code == 1
    assert "posts/a.md:4: `extra` nests deeper than 10 levels, holds more than 10,000" in result.err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[a, b]", "`extra` must be a mapping"),
        ("plain", "`extra` must be a mapping"),
        ("{a: !!binary aGk=}", "YAML tag `!!binary` is not allowed"),
        ('{a: "x\\vy"}', "`extra` holds control character U+000B"),
        ("{a: " + "[" * 12 + "1" + "]" * 12 + "}", "`extra` nests deeper than 10 levels"),
    ],
)
def test_bad_extra_points_at_its_line(make_site: MakeSite, value: str, message: str) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", extra=value)})
    result = quick_build(root)
    assert result.code == 1
    assert "posts/a.md:4:" in result.err and message in result.err, result.err


# --- loading on every core --------------------------------------------------------------


def test_posts_loaded_by_children_are_those_loaded_here(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blogkeeper import content

    files = {f"posts/p{n}.md": post(f"Post {n}", f"2026-01-{n + 1:02d}", BODY) for n in range(7)}
    root = make_site(files)
    config = load_config(root)

    def parse(config: SiteConfig, path: Path) -> content.Entry:
        return content.Entry(content.load_post(config, path), "")  # no cache at all

    here = content.select_posts(config, LoadOptions(), parse)
    monkeypatch.setattr(content, "POSTS_PER_CHILD", 2)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "3")
    shared = content.select_posts(config, LoadOptions())
    assert shared == here and len(here[0]) >= 7
    # A post with an error in each child's share: every error is reported, in file order.
    (root / "posts" / "p1.md").write_text("---\ntitle: [unclosed\n---\nBody\n")
    (root / "posts" / "p6.md").write_text("---\ndate: 2026-01-01\n---\nNo title\n")
    with pytest.raises(BuildError) as one:
        content.select_posts(config, LoadOptions(), parse)
    with pytest.raises(BuildError) as many:
        content.select_posts(config, LoadOptions())
    assert [str(e) for e in many.value.errors] == [str(e) for e in one.value.errors]
    assert any("p1.md" in str(e) for e in one.value.errors)
    assert any("p6.md" in str(e) for e in one.value.errors)


@pytest.mark.parametrize(
    ("root", "path"),
    [
        ("/site", "/site/posts/a.md"),
        ("/site", "/site/posts/2026/b c.md"),
        ("/", "/posts/a.md"),
        ("/si", "/site/posts/a.md"),  # not under it as text: a ValueError, as relative_to's
        ("/site/", "/site/posts/../x.md"),
    ],
)
def test_a_post_s_source_is_its_path_relative_to_the_site(root: str, path: str) -> None:
    try:
        expected = Path(path).relative_to(Path(root)).as_posix()
    except ValueError:
        with pytest.raises(ValueError):
            source_of(Path(root), Path(path))
        return
    assert source_of(Path(root), Path(path)) == expected


def test_post_files_come_sorted_as_paths_without_a_sort_of_them_all(tmp_path: Path) -> None:
    names = ["a.md", "a-b.md", "a/x.md", "a/b/y.md", "a/c.md", "B.md", "b/z.md", "é.md", "a0.md"]
    for name in names:
        (tmp_path / "posts" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "posts" / name).write_text("x")
    found, errors = find_post_files(tmp_path)
    assert errors == []
    assert found == sorted(tmp_path / "posts" / name for name in names)
