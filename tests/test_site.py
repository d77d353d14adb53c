"""Assembling the site: topics and series, and outputs that would share a URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, post, quick_build, snapshot
from lxml import html

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
