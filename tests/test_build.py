"""The build: topics and series, outputs that would share a URL, and what the render
step hands on with each post (its links, ids, feed HTML and twin)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, now, post, quick_build, snapshot
from lxml import html

from blogkeeper.build import build_site, render_posts
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, load_posts
from blogkeeper.errors import BuildError
from blogkeeper.model import BuildOptions

BrokenBuild = Callable[[dict[str, str | bytes], str], Result]


@pytest.mark.parametrize(
    ("first", "second", "url"),
    [("AI", "ai", "/topics/ai/"), ("C++", "C#", "/topics/c/")],
)
def test_tags_that_share_a_topic_url(
    broken_build: BrokenBuild, first: str, second: str, url: str
) -> None:
    result = broken_build(
        {
            "posts/a.md": post("A", "2026-01-02", tags=f'["{first}"]'),
            "posts/b.md": post("B", "2026-01-03", tags=f'["{second}"]'),
        },
        "posts/",
    )
    assert url in result.err
    assert "posts/a.md" in result.err and "posts/b.md" in result.err
    assert "static/" not in result.err


def test_series_that_share_a_url(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {
            "posts/a.md": post("A", "2026-01-02", series='"Tour!"'),
            "posts/b.md": post("B", "2026-01-03", series='"Tour?"'),
        },
        "/series/tour/",
    )
    assert "posts/a.md" in result.err and "posts/b.md" in result.err


def test_a_static_file_that_clashes_with_a_page(broken_build: BrokenBuild) -> None:
    broken_build({"static/index.html": "<p>mine</p>"}, "static/index.html:")


def test_a_blog_without_posts_builds(make_site: Callable[..., Path], tmp_path: Path) -> None:
    result = quick_build(make_site({}), "--out", tmp_path / "out")
    assert result.code == 0, result.err
    files = snapshot(tmp_path / "out")
    assert "No posts yet." in html.fromstring(files["index.html"]).text_content()
    assert {"404.html", "archive/index.html", "topics/index.html", "sitemap.xml"} <= set(files)


def _line_of(text: str, key: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), 1) if line.startswith(key + ":"))


def test_two_posts_claiming_the_same_part(broken_build: BrokenBuild) -> None:
    b = post("B", "2026-01-03", series="Tour", part="2")
    broken_build(
        {"posts/a.md": post("A", "2026-01-02", series="Tour", part="2"), "posts/b.md": b},
        f"posts/b.md:{_line_of(b, 'part')}: part 2 of the series `Tour` is also posts/a.md",
    )


def test_two_topics_on_one_url_are_an_error_at_the_tags_line(broken_build: BrokenBuild) -> None:
    a = post("A", "2026-01-02", tags="[c++]")
    broken_build(
        {"posts/a.md": a, "posts/b.md": post("B", "2026-01-03", tags="[C++]")},
        f"posts/a.md:{_line_of(a, 'tags')}: topic `c++` has the same URL /topics/c/ as topic "
        "`C++` in posts/b.md",
    )


def test_a_series_post_without_a_part_among_posts_with_one(broken_build: BrokenBuild) -> None:
    # It took the number of the post before it ("Part 3", as posts/a.md), and the series
    # page listed it as a fourth part of three.
    result = broken_build(
        {
            "posts/a.md": post("A", "2026-01-02", series="S", part="3"),
            "posts/b.md": post("B", "2026-01-03", tags="[x]", series="S"),
            "posts/c.md": post("C", "2026-01-04", series="S", part="1"),
        },
        "posts/b.md:5: this post has no `part`, but other posts of the series `S` have one "
        "(posts/c.md is part 1) (give every post of the series a `part`, or none",
    )
    assert "posts/a.md:" not in result.err and "posts/c.md:" not in result.err


# --- what the render step hands on with each post ------------------------------------------

DERIVED_POSTS = {
    "posts/other.md": post(
        "Other", "2026-01-05", "Intro.\n\n<!--more-->\n\n## Deep part\n\nText.\n", slug="other"
    ),
    "posts/main.md": post(
        "Main",
        "2026-02-01",
        "Intro with a [relative link](../../01/other/) and a note.[^1]\n\n<!--more-->\n\n"
        "See [the deep part](/2026/01/other/#deep-part) and ![pic](/img/pic.png).\n\n"
        '<p>Odd &#xZ; and &#xY; references, then <a href="../../01/other/">a link after it</a>.'
        "</p>\n\n"
        "[^1]: A note, [back home](/).\n",
        slug="main",
    ),
    "static/img/pic.png": b"\x89PNG\r\n\x1a\n",
}


def _outputs(root: Path, cache: bool = True) -> dict[str, bytes]:
    built = build_site(root, BuildOptions(now=now(), cache=cache))
    return {o.path: o.data for o in built}


def test_what_the_render_step_hands_on(make_site: Callable[..., Path]) -> None:
    root = make_site(DERIVED_POSTS)
    config = load_config(root)
    posts = load_posts(config, LoadOptions(now=now()))
    [main, other] = render_posts(config, posts)
    facts = main.rendering
    assert "../../01/other/" in facts.links and "/img/pic.png" in facts.links
    assert facts.links.index("../../01/other/") < facts.links.index("/img/pic.png")
    assert "deep-part" in other.rendering.ids
    assert "(https://blog.example.org/2026/01/other/)" in facts.twin
    built = _outputs(root)
    assert built == _outputs(root) == _outputs(root, cache=False)
    feed = built["feed/rss.xml"].decode()
    assert 'href="https://blog.example.org/2026/01/other/"' in feed
    # After a malformed reference, links are still made absolute.
    assert 'href="https://blog.example.org/2026/01/other/"&gt;a link after it' in feed


def test_a_changed_site_url_changes_feeds_and_twins(make_site: Callable[..., Path]) -> None:
    root = make_site(DERIVED_POSTS)
    before = _outputs(root)
    assert "https://blog.example.org/2026/01/other/" in before["feed/rss.xml"].decode()
    config = root / "blog.toml"
    config.write_text(config.read_text().replace("blog.example.org", "new.example.com"))
    after = _outputs(root)  # the post's URL is an input of its rendering: no stale twin
    for path in ("feed/rss.xml", "2026/02/main/index.md", "llms-full.txt"):
        text = after[path].decode()
        assert "new.example.com/2026/01/other/" in text and "blog.example.org" not in text
    assert _outputs(root, cache=False) == after


def test_a_changed_slug_keeps_the_link_check_right(make_site: Callable[..., Path]) -> None:
    root = make_site(DERIVED_POSTS)
    assert _outputs(root)
    other = root / "posts/other.md"
    other.write_text(other.read_text().replace("slug: other", "slug: renamed"))
    with pytest.raises(BuildError) as caught:
        _outputs(root)
    lines = root.joinpath("posts/main.md").read_text().split("\n")
    errors = {(e.line, e.message.split(":")[0]) for e in caught.value.errors}
    expected = {
        (next(i for i, t in enumerate(lines, 1) if needle in t), f"link to `{url}`")
        for needle, url in [
            ("relative link", "../../01/other/"),
            ("deep part", "/2026/01/other/#deep-part"),
        ]  # a link written twice is reported once, where it first appears
    }
    assert errors == expected
    main = root / "posts/main.md"
    main.write_text(main.read_text().replace("/other/", "/renamed/"))
    assert _outputs(root)


def test_a_fragment_is_looked_up_in_the_page_when_the_page_changed_the_html(
    make_site: Callable[..., Path],
) -> None:
    """The ids of a post's HTML stand for its page's only if the page holds that HTML."""
    files = {**DERIVED_POSTS, "templates/post.html": POST_TEMPLATE}
    root = make_site(files)
    with pytest.raises(BuildError) as caught:
        _outputs(root)
    [error] = caught.value.errors
    assert error.message.endswith("no element with id `deep-part` on that page")
    (root / "templates/post.html").write_text(POST_TEMPLATE.replace("x-deep", "deep"))
    assert _outputs(root)


POST_TEMPLATE = """\
{% extends "base.html" %}
{% block content %}{{ content | replace('id="deep-part"', 'id="x-deep-part"') | safe }}
{% endblock %}
"""


# --- the process pool dies with its build -------------------------------------------------


def slow_post(number: int) -> str:
    """A post that takes Pygments a good fraction of a second: 800 distinct lines."""
    code = "\n".join(f"def f{i}_{number}(x):\n    return [x * {i}]  # c" for i in range(800))
    return post(
        f"P{number}", f"2026-01-{number % 28 + 1:02}", f"Intro.\n\n```python\n{code}\n```\n"
    )


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid`, each with its start time (a pid may be reused)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(stat.parent.name)] = fields[19]
    return found


def alive(pid: int, started: str) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] != "Z" and fields[19] == started


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_pool_workers_die_with_a_killed_build(
    make_site: Callable[..., Path], tmp_path: Path, sig: int
) -> None:
    root = make_site({f"posts/p{n:02}.md": slow_post(n) for n in range(24)})
    command = [sys.executable, "-m", "blogkeeper", "build", "--site", str(root), "--no-cache"]
    env = {**os.environ, "BLOGKEEPER_WORKERS": "2"}
    build = subprocess.Popen([*command, "--out", str(tmp_path / "out")], env=env)
    workers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and build.poll() is None and time.monotonic() < deadline:
            workers = children(build.pid)
            time.sleep(0.01)
        assert len(workers) == 2, "the build ended before its pool was seen"
        build.send_signal(sig)
        build.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(*w) for w in workers.items()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid, started in workers.items() if alive(pid, started)] == []
    finally:
        build.kill()
        build.wait()
        for pid, started in workers.items():
            if alive(pid, started):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("depth", [260, 5000])
def test_html_nested_deeper_than_the_parser_reads_is_an_error_not_a_cut_feed(
    make_site: Callable[..., Path], tmp_path: Path, depth: int
) -> None:
    """libxml2 drops what lies below its depth limit without a word: the feed item would
    lose the rest of the post and the link check would miss its links."""
    body = "x\n\n" + "<div>" * depth + "deep" + "</div>" * depth + "\n\nAFTER [bad](/nope/).\n"
    root = make_site({"posts/p.md": post("P", "2026-01-01", body)})
    result = quick_build(root, "--out", tmp_path / "out")
    assert result.code == 1
    # Either read whole (huge_tree: libxml2 reads 2,048 levels, some builds more), and the
    # link below the deep part is checked, or refused: never a feed cut short, exit 0.
    read_whole = "posts/p.md:9: link to `/nope/`" in result.err
    refused = "posts/p.md: HTML nested too deeply to read" in result.err
    assert read_whole or (refused and depth > 2048), result.err


def test_every_clash_of_an_output_path_is_reported_at_once(broken_build: BrokenBuild) -> None:
    """An alias on a page blogkeeper makes (a file claimed twice) and one on a feed's URL
    (a redirect rule that would hide it) were reported one round at a time."""
    a = post("A", "2026-01-02", aliases="[/topics/, /feed/rss.xml]")
    result = broken_build({"posts/a.md": a}, f"posts/a.md:{_line_of(a, 'aliases')}:")
    assert "alias /topics/ of posts/a.md and /topics/index.html" in result.err
    assert "alias /feed/rss.xml is the URL of /feed/rss.xml" in result.err
