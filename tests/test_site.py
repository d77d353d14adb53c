"""Assembling the site: topics and series, and outputs that would share a URL."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Result, now, post, quick_build, snapshot
from lxml import html

from blogkeeper import llms
from blogkeeper.cache import CACHE_DIR, RENDER_DIR
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, load_posts
from blogkeeper.errors import BuildError
from blogkeeper.site import BuildOptions, build_site, render_posts

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


def test_two_posts_claiming_the_same_part(broken_build: BrokenBuild) -> None:
    broken_build(
        {
            "posts/a.md": post("A", "2026-01-02", series="Tour", part="2"),
            "posts/b.md": post("B", "2026-01-03", series="Tour", part="2"),
        },
        "posts/b.md: part 2 of the series `Tour` is also posts/a.md",
    )


# --- what render workers derive from each post ------------------------------------------

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
MEMOS = ("feeds.json", "links.json", "twins", "feed-files")


def _outputs(root: Path, cache: bool = True) -> dict[str, bytes]:
    built = build_site(root, BuildOptions(now=now(), cache=cache))
    return {o.path: o.data for o in built}


def _forget_memos(root: Path) -> None:
    for name in MEMOS:
        path = root / CACHE_DIR / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def test_derived_in_the_worker_or_parsed_here_the_site_is_the_same(
    make_site: Callable[..., Path],
) -> None:
    root = make_site(DERIVED_POSTS)
    derived = _outputs(root)  # cold: links, tags and twins come from the render step
    _forget_memos(root)
    parsed = _outputs(root)  # render cache hits: everything parsed again in this process
    assert parsed == derived == _outputs(root) == _outputs(root, cache=False)
    feed = derived["feed/rss.xml"].decode()
    # After a malformed reference, links are still made absolute.
    assert 'href="https://blog.example.org/2026/01/other/"&gt;a link after it' in feed


def test_a_changed_site_url_changes_feeds_and_twins(make_site: Callable[..., Path]) -> None:
    root = make_site(DERIVED_POSTS)
    before = _outputs(root)
    assert "https://blog.example.org/2026/01/other/" in before["feed/rss.xml"].decode()
    config = root / "blog.toml"
    config.write_text(config.read_text().replace("blog.example.org", "new.example.com"))
    after = _outputs(root)  # render cache hits; feed and twin memos keyed by the old URL
    for path in ("feed/rss.xml", "feed/atom.xml", "2026/02/main/index.md", "llms-full.txt"):
        text = after[path].decode()
        assert "new.example.com/2026/01/other/" in text and "blog.example.org" not in text
    _forget_memos(root)
    shutil.rmtree(root / CACHE_DIR / RENDER_DIR)
    assert _outputs(root) == after  # all derived afresh, for the new URL


def test_a_twin_made_for_another_url_is_not_used(make_site: Callable[..., Path]) -> None:
    root = make_site(DERIVED_POSTS)
    config = load_config(root)
    [entry, _] = render_posts(load_posts(config, LoadOptions(now=now())), None, config)
    assert entry.twin is not None and entry.twin[0] == "https://blog.example.org/2026/02/main/"
    stale = replace(entry, twin=("https://old.example.org/2026/02/main/", "stale body\n"))
    assert llms.twin(config, stale) == llms.twin(config, entry)
    assert "stale body" not in llms.twin(config, stale)


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


def test_damaged_memos_are_ignored(make_site: Callable[..., Path]) -> None:
    root = make_site(DERIVED_POSTS)
    first = _outputs(root)
    cache = root / CACHE_DIR
    for name in ("feeds.json", "links.json"):
        (cache / name).write_text("{damaged")
    for folder in ("twins", "feed-files"):
        for path in (cache / folder).iterdir():
            path.write_bytes(path.read_bytes()[:-3] + b"\xff")
    assert _outputs(root) == first
    assert _outputs(root) == first  # and from what that build wrote again
