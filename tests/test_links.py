"""Internal links, images and fragments in posts must resolve; external ones are not fetched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import BLOG_TOML, Result, build, post, quick_build
from hypothesis import given, settings
from hypothesis import strategies as st

from blogkeeper import links
from blogkeeper.cache import CACHE_DIR
from blogkeeper.model import Output

MakeSite = Callable[..., Path]

GOOD = """\
Intro with a footnote.[^1]

<!--more-->

## A section

- [a section](#a-section) and [the footnote](#fn-1)
- [the other post](/2026/01/other/), [without slash](/2026/01/other),
  [relative](../../01/other/#deep-part), [its twin](/2026/01/other/index.md)
- ![a picture](/img/pic.png) and <img src="../../../img/pic.png" alt="same">
- [home](/), [feed](/feed/rss.xml), [topics](/topics/), [back to top](#top)
- [elsewhere](https://example.com/nowhere#nothing), [mail](mailto:me@example.org),
  [same host, full URL](https://blog.example.org/2026/01/other/)

[^1]: A note.
"""


def _site(make_site: MakeSite, body: str, config: str = BLOG_TOML) -> Path:
    other = post("Other", "2026-01-05", "Other intro.\n\n## Deep part\n\nText.\n", slug="other")
    return make_site(
        {
            "posts/other.md": other,
            "posts/main.md": post("Main", "2026-02-01", body, slug="main"),
            "static/img/pic.png": b"\x89PNG\r\n\x1a\n",
        },
        config,
    )


def _line(root: Path, needle: str) -> int:
    lines = (root / "posts/main.md").read_text().split("\n")
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_links_that_resolve_build(make_site: MakeSite) -> None:
    result = build(_site(make_site, GOOD))
    assert result.code == 0, result.err


def test_each_broken_link_is_an_error_at_its_line(make_site: MakeSite) -> None:
    body = GOOD + (
        "\nSee [a typo](/2026/01/othr/) and ![gone](/img/missing.png).\n\n"
        "Jump to [nowhere](#no-such-section) or [there](/2026/01/other/#no-part).\n\n"
        '<a href="../../01/other/missing.html">raw HTML</a>\n'
    )
    root = _site(make_site, body)
    result = build(root)
    assert result.code == 1
    assert "Traceback" not in result.err
    typo, hole = _line(root, "[a typo]"), _line(root, "[nowhere]")
    expected = [
        f"posts/main.md:{typo}: link to `/2026/01/othr/`: no such page or file in the site",
        f"posts/main.md:{typo}: link to `/img/missing.png`: no such page or file",
        f"posts/main.md:{hole}: link to `#no-such-section`: no element with id `no-such-section`",
        f"posts/main.md:{hole}: link to `/2026/01/other/#no-part`: no element with id `no-part`",
        f"posts/main.md:{_line(root, 'raw HTML')}: link to `../../01/other/missing.html`",
    ]
    for text in expected:
        assert text in result.err, result.err
    assert result.err.strip().endswith(f"build failed: {len(expected)} errors"), result.err
    assert not (root / "public").exists()


def test_link_to_a_draft_fails_a_build_without_drafts(make_site: MakeSite) -> None:
    draft = post("Later", "2026-01-20", "Soon.\n", slug="later", draft="true")
    body = "Read [the draft](/2026/01/later/).\n"
    root = make_site(
        {"posts/d.md": draft, "posts/main.md": post("Main", "2026-02-01", body, slug="main")}
    )
    assert "link to `/2026/01/later/`" in build(root).err
    assert build(root, "--drafts").code == 0


def test_base_path_is_respected(make_site: MakeSite) -> None:
    config = BLOG_TOML.replace("https://blog.example.org/", "https://example.org/blog/")
    body = "[ok](/blog/2026/01/other/), [outside the blog](/shop/), [bad](/blog/nope/)\n"
    root = _site(make_site, body, config)
    result = build(root)
    assert result.code == 1
    assert "link to `/blog/nope/`" in result.err
    assert "/shop/" not in result.err
    assert "/blog/2026/01/other/" not in result.err


def test_links_inside_code_are_not_links(make_site: MakeSite) -> None:
    body = (
        "Write `[x](/nope/)` like this:\n\n```markdown\n[x](/nope/)\n```\n\n    <a href='/nope'>\n"
    )
    assert build(_site(make_site, body)).code == 0


def test_a_cached_build_judges_links_as_a_cold_one(make_site: MakeSite) -> None:
    body = GOOD + "\nJump to [nowhere](#no-such-section).\n"
    root = _site(make_site, body)
    first = quick_build(root)
    assert first.code == 1 and "`#no-such-section`" in first.err, first.err
    assert any((root / CACHE_DIR).rglob("*"))  # so the next build takes the renderings
    assert quick_build(root).err == first.err
    assert quick_build(root, "--no-cache").err == first.err
    (root / "posts/main.md").write_text(post("Main", "2026-02-01", GOOD, slug="main"))
    assert quick_build(root).code == 0
    # main.md's rendering comes from the cache; the id it links to is gone from other.md.
    (root / "posts/other.md").write_text(post("Other", "2026-01-05", "Gone.\n", slug="other"))
    result = quick_build(root)
    line = _line(root, "#deep-part")
    assert f"posts/main.md:{line}: link to `../../01/other/#deep-part`: no element" in result.err


def test_a_kept_link_check_sees_an_id_a_template_no_longer_writes(
    make_site: MakeSite, tmp_path: Path
) -> None:
    """The link check's answer is kept in the cache under the keys of the pages it reads:
    a template edit changes the page's key, so the check runs again."""
    end = '<p id="{}">The end.</p>\n'
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01", "Jump to [the end](#the-end).\n"),
            "templates/post_end.html": end.format("the-end"),
        }
    )
    out = tmp_path / "out"
    assert quick_build(root, "--out", out).code == 0
    assert quick_build(root, "--out", out).code == 0  # kept: pages, and the check
    (root / "templates/post_end.html").write_text(end.format("elsewhere"))
    result = quick_build(root, "--out", out)
    assert result.code == 1
    assert "link to `#the-end`: no element with id `the-end` on that page" in result.err
    (root / "templates/post_end.html").write_text(end.format("the-end"))
    assert quick_build(root, "--out", out).code == 0


def test_a_link_into_a_page_with_no_element_is_an_error_not_a_crash(make_site: MakeSite) -> None:
    """A template may make a page of nothing but a comment; lxml finds no document in
    it, and the page has no id to link to."""
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01", "See [B's part](/2026/01/b/#part).\n"),
            "posts/b.md": post("B", "2026-01-02", "## Part\n"),
            "templates/post.html": "<!-- a page to come -->\n",
        }
    )
    result = quick_build(root)
    assert result.code == 1 and "Traceback" not in result.err
    assert "link to `/2026/01/b/#part`: no element with id `part` on that page" in result.err
    assert links.page_ids(b"  <!-- nothing -->\n") == frozenset()


def test_each_post_s_kept_link_check_runs_again_when_what_it_reads_changes(
    make_site: MakeSite, tmp_path: Path
) -> None:
    """A post's problems are kept (in the cache, per output folder) while its post, the
    output paths and the pages its links look into are the same."""
    section = "## {}\n\nText.\n"
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01", "See [B's part](/2026/01/b/#part).\n"),
            "posts/b.md": post("B", "2026-01-02", section.format("Part")),
            "posts/c.md": post("C", "2026-01-03", "A [missing page](/nowhere/).\n"),
            "blog.toml": BLOG_TOML + '\n[build]\nbroken_links = "warn"\n',
        }
    )
    out = tmp_path / "out"
    first = quick_build(root, "--out", out)
    missing = "posts/c.md:5: warning: link to `/nowhere/`: no such page or file in the site"
    assert first.code == 0 and missing in first.err and "a.md" not in first.err
    again = quick_build(root, "--out", out)  # every post's answer from the record
    assert again.code == 0 and again.err == first.err
    (root / "posts/b.md").write_text(post("B", "2026-01-02", section.format("Other")))
    edited = quick_build(root, "--out", out)  # b's page changed: a is checked again
    assert (
        "posts/a.md:5: warning: link to `/2026/01/b/#part`: no element with id `part`" in edited.err
    )
    assert missing in edited.err
    (root / "posts/nowhere.md").write_text(post("Nowhere", "2026-01-04", slug="nowhere"))
    (root / "posts/c.md").write_text(post("C", "2026-01-03", "A [page](/2026/01/nowhere/).\n"))
    fixed = quick_build(root, "--out", out)
    assert "c.md" not in fixed.err and "posts/a.md:5:" in fixed.err


MALFORMED = """\
Intro.

A [bad host](http://[::1) and
<a href="//[::1/x">raw HTML</a> and [a wide hash](//a\uff03b/).
"""


def test_a_malformed_link_is_an_error_not_a_traceback(
    broken_build: Callable[..., Result],
) -> None:
    # urlsplit raises ValueError on these: the build must report them, not crash.
    result = broken_build({"posts/bad.md": post("Bad", "2026-02-01", MALFORMED)}, "posts/bad.md:")
    # The body starts on line 5, below the front matter's four lines.
    first = 5 + MALFORMED.split("\n").index("A [bad host](http://[::1) and")
    for line, url in [(first, "http://[::1"), (first + 1, "//[::1/x"), (first + 1, "//a\uff03b/")]:
        assert f"posts/bad.md:{line}: link to `{url}`: not a valid URL" in result.err, result.err
    assert result.err.strip().endswith("build failed: 3 errors"), result.err


URL_PIECES = [
    "#",
    "#fn-1",
    "#top",
    "#a%20b",
    "#x#y",
    "\t",
    "\n",
    " ",
    "/",
    "../",
    "./",
    "b/",
    "index.html",
    "?q=1",
    "https:",
    "http:",
    "//",
    "blog.example.org",
    "other.example.org",
    "mailto:me@x.org",
    "HTTPS://BLOG.EXAMPLE.ORG/",
    ":",
    "%",
    "é",
]
PAGES = [
    "https://blog.example.org/2026/01/a/",
    "https://blog.example.org/blog/2026/01/a/",
    "https://blog.example.org/2026/01/a#b/",
    "https://blog.example.org/2026/01/a?x/",
]
SITES = ["https://blog.example.org/", "https://blog.example.org/blog/", "http://blog.example.org/"]
FILES = {
    path: Output(path, b"")
    for path in ["2026/01/a/index.html", "2026/01/b/index.html", "a.png", "index.html"]
}


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from(URL_PIECES), max_size=8).map("".join),
    st.sampled_from(PAGES),
    st.sampled_from(SITES),
)
def test_quick_link_checks_judge_as_the_full_parse(url: str, page: str, site: str) -> None:
    def judged(check: Callable[[], object]) -> object:
        try:
            return check()
        except ValueError as exc:  # urlsplit refuses some URLs: both must, alike
            return type(exc), str(exc)

    full = judged(lambda: links._problem(site, page, url, FILES))
    elsewhere: dict[str, bool] = {}
    assert judged(lambda: links._quick_problem(site, page, url, FILES, elsewhere)) == full
    # and with what another page learnt about the same URL
    assert judged(lambda: links._quick_problem(site, page, url, FILES, elsewhere)) == full


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=200), st.integers(0, 3))
def test_holds_is_in(data: bytes, part: bytes, repeat: int) -> None:
    # Long parts with repeated heads and near-misses, as well as random ones.
    long_part = part * (1 + repeat) + b"x" * 70
    for needle in (part, long_part, long_part[:-1] + b"y"):
        for haystack in (data, data + needle + data, data + needle[:-1] + needle, needle[:80]):
            assert links.holds(haystack, needle) == (needle in haystack)


def test_srcset_is_read_as_the_html_standard_reads_it() -> None:
    from blogkeeper.links import srcset_candidates

    cdn = "https://res.example.net/upload/w_300,h_200/sample.jpg"
    assert srcset_candidates(f"{cdn} 1x, /b.png 2x") == [(cdn, "1x"), ("/b.png", "2x")]
    assert srcset_candidates("data:image/gif;base64,R0lGOD= 1x") == [
        ("data:image/gif;base64,R0lGOD=", "1x")
    ]
    assert srcset_candidates(" ,a.png, b.png (x, y) 1x") == [("a.png", ""), ("b.png", "(x, y) 1x")]


def test_urls_with_commas_in_srcset_and_svg_links_are_checked_and_made_absolute(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    cdn = "https://res.example.net/upload/w_300,h_200/sample.jpg"
    body = (
        f'x\n\n<img alt="" src="/img/a.png" srcset="{cdn} 1x, /img/a.png 2x">\n\n'
        '<svg><a xlink:href="/nope/"><text>t</text></a></svg>\n'
    )
    root = make_site({"posts/p.md": post("P", "2026-01-01", body), "static/img/a.png": b"png"})
    result = build(root, "--out", tmp_path / "out")
    assert result.code == 1
    assert "link to `/nope/`" in result.err and "h_200" not in result.err
    (root / "posts/p.md").write_text(post("P", "2026-01-01", body.replace("/nope/", "/")))
    assert build(root, "--out", tmp_path / "out").code == 0
    feed = (tmp_path / "out/feed/rss.xml").read_text()
    assert f"{cdn} 1x, https://blog.example.org/img/a.png 2x" in feed
    assert 'xlink:href="https://blog.example.org/"' in feed


def test_a_link_to_this_site_in_capitals_is_still_checked_and_shown_on_one_line(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    body = '[x](HTTPS://BLOG.EXAMPLE.ORG/nope/) and <a href="/no\npe/">y</a>\n'
    root = make_site({"posts/p.md": post("P", "2026-01-01", body)})
    result = build(root, "--out", tmp_path / "out")
    assert result.code == 1
    assert "link to `HTTPS://BLOG.EXAMPLE.ORG/nope/`: no such page" in result.err
    assert "link to `/no\\npe/`" in result.err  # the newline shown, the message on one line


BROKEN = "Intro.\n\nSee [gone](/2020/01/gone/) and [no id](#nowhere).\n"


def test_broken_links_fail_the_build_by_default(make_site: MakeSite) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", BROKEN)})
    result = build(root)
    assert result.code == 1
    assert "posts/a.md:7: link to `/2020/01/gone/`: no such page or file" in result.err
    assert not (root / "public").exists()


def test_broken_links_warn_prints_them_and_builds(make_site: MakeSite) -> None:
    config = BLOG_TOML + '\n[build]\nbroken_links = "warn"\n'
    root = make_site({"posts/a.md": post("A", "2026-01-01", BROKEN)}, config)
    result = build(root)  # the CLI in a process of its own, as a user runs it
    assert result.code == 0, result.err
    assert (
        "posts/a.md:7: warning: link to `/2020/01/gone/`: no such page or file in the site"
    ) in result.err
    assert "posts/a.md:7: warning: link to `#nowhere`: no element with id `nowhere`" in result.err
    assert "build: 2 warnings" in result.err
    assert (root / "public/2026/01/a/index.html").is_file()


def test_a_relative_link_in_an_intro_is_checked_as_every_page_shows_it(
    make_site: MakeSite, tmp_path: Path
) -> None:
    """List pages show an intro with its URLs resolved against the post's page, so the
    post's own check judges the intro wherever it appears: a file beside the post passes
    (and the front page names that file), a missing one fails at its line."""
    body = "Look: ![plot](plot.png)\n\n<!--more-->\n\nRest.\n"
    files = {"posts/main.md": post("Main", "2026-02-01", body, slug="main")}
    root = make_site({**files, "static/2026/02/main/plot.png": b"\x89PNG\r\n\x1a\n"})
    out = tmp_path / "out"
    result = quick_build(root, "--out", out)
    assert result.code == 0, result.err
    front = (out / "index.html").read_text()
    assert 'src="/2026/02/main/plot.png"' in front
    (root / "static/2026/02/main/plot.png").unlink()
    result = build(root)
    assert result.code == 1
    assert "posts/main.md:6: link to `plot.png`: no such page or file" in result.err, result.err
