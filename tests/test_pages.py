"""Pages from templates: ids, links, escaping, series, pagination, template errors."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
import pytest
from conftest import (
    BLOG_TOML,
    REPO,
    Result,
    copy_sample,
    forked_children,
    post,
    quick_build,
    snapshot,
)
from lxml import etree, html

from blogkeeper import llms, pages
from blogkeeper.build import assemble, render_posts
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, load_posts
from blogkeeper.links import srcset_candidates
from blogkeeper.model import BuildOptions, Earlier

MakeSite = Callable[..., Path]
BrokenBuild = Callable[[dict[str, str | bytes], str], Result]

SITE_URL = "https://blog.example.org/"


def built(root: Path, out: Path, *extra: str) -> dict[str, bytes]:
    result = quick_build(root, "--out", out, *extra)
    assert result.code == 0, result.err
    return snapshot(out)


def parse(data: bytes) -> html.HtmlElement:
    return html.fromstring(data)


def target_file(page_path: str, link: str, base_url: str) -> tuple[str, str] | None:
    """(output file, fragment) a link on `page_path` points to, or None if off-site."""
    parts = urlsplit(link)
    if parts.scheme in ("mailto", "data", "javascript"):
        return None
    if (parts.scheme or parts.netloc) and not link.startswith(base_url):
        return None
    base_path = urlsplit(base_url).path
    if parts.scheme:
        parts = urlsplit(base_path + link[len(base_url) :])
    here = base_path + page_path
    path = parts.path or here
    if not path.startswith("/"):
        path = posixpath.normpath(posixpath.join(posixpath.dirname(here), path)) + (
            "/" if path.endswith("/") else ""
        )
    assert path.startswith(base_path), (page_path, link)
    relative = unquote(path[len(base_path) :])
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    return relative, parts.fragment


def broken_links(files: dict[str, bytes], base_url: str) -> list[str]:
    """Every internal href/src in the HTML files that names no output file or no id."""
    ids = {
        path: set(parse(data).xpath("//@id"))
        for path, data in files.items()
        if path.endswith(".html")
    }
    problems = []
    for path in ids:
        doc = parse(files[path])
        for element, attribute in [
            (e, a) for a in ("href", "src") for e in doc.xpath(f"//*[@{a}]")
        ]:
            found = target_file(path, element.get(attribute), base_url)
            if found is None:
                continue
            target, fragment = found
            if target not in files:
                problems.append(f"{path}: {element.get(attribute)} -> missing {target}")
            elif fragment and fragment not in ids.get(target, set()):
                problems.append(f"{path}: {element.get(attribute)} -> no id {fragment!r}")
    return problems


# --- links -----------------------------------------------------------------------------


def test_every_internal_link_and_image_in_the_sample_blog_resolves(tmp_path: Path) -> None:
    files = built(copy_sample(tmp_path / "site"), tmp_path / "public")
    base_url = "https://tensors-and-tea.example.org/"
    assert len([p for p in files if p.endswith(".html")]) > 10
    assert broken_links(files, base_url) == []


def test_links_resolve_under_a_sub_path_and_from_every_list_page(
    make_site: MakeSite, tmp_path: Path
) -> None:
    config = 'title = "Sub"\nurl = "https://example.org/blog/"\nposts_per_page = 1\n'
    files = {
        f"posts/p{n}.md": post(
            f"Post {n}",
            f"2026-01-0{n}",
            "Intro with a note[^1] and [a link](#later).\n\n<!--more-->\n\n## Later\n\n"
            "![Alt](/blog/img/pic.png)\n\n[^1]: The note.\n",
            tags="[AI, Musings]",
            series="Tour",
            part=str(n),
        )
        for n in (1, 2, 3)
    }
    files["static/img/pic.png"] = "not really a png"
    out = built(make_site(files, config=config), tmp_path / "out")
    assert "topics/ai/page/3/index.html" in out
    assert "page/3/index.html" in out
    assert broken_links(out, "https://example.org/blog/") == []


SERIES_PAGE = "series/tour/index.html"


def test_relative_links_in_an_intro_resolve_as_on_its_post_page(
    make_site: MakeSite, tmp_path: Path
) -> None:
    """An intro's `diagram.png` names the file beside the post: on the front page, a topic
    page and their later pages it must name the same file."""
    config = 'title = "Sub"\nurl = "https://example.org/blog/"\nposts_per_page = 1\n'
    intro = (
        "See ![Diagram](diagram.png) and [the notes](notes.txt),"
        ' <img src="small.png" srcset="small.png 1x, big.png 2x" alt="Both">.\n\n'
        "<!--more-->\n\nRest.\n"
    )
    files: dict[str, str | bytes] = {
        f"posts/p{n}.md": post(
            f"Post {n}", f"2026-01-0{n}", intro, tags="[AI]", series="Tour", part=str(n)
        )
        for n in (1, 2)
    }
    # The built-in series page shows no intros; a site's own may, from `entries`.
    files["templates/series.html"] = (
        '{% for e in entries %}<div class="intro-body">{{ e.html | safe }}</div>{% endfor %}'
    )
    for n in (1, 2):
        for name in ("diagram.png", "notes.txt", "small.png", "big.png"):
            files[f"static/2026/01/p{n}/{name}"] = f"{name} of p{n}"
    out = built(make_site(files, config=config), tmp_path / "out")
    assert broken_links(out, "https://example.org/blog/") == []
    for page in ("index.html", "page/2/index.html", "topics/ai/index.html", SERIES_PAGE):
        doc = parse(out[page])
        srcsets = doc.xpath("//div[@class='intro-body']//img/@srcset")
        assert srcsets and all(s.startswith("/blog/2026/01/p") for s in srcsets), page
        for srcset in srcsets:
            for url, _ in srcset_candidates(srcset):
                assert url[len("/blog/") :] in out, (page, url)
    post_page = out["2026/01/p1/index.html"].decode()
    assert 'src="diagram.png"' in post_page and 'href="notes.txt"' in post_page


def test_head_links_feed_canonical_and_open_graph(make_site: MakeSite, tmp_path: Path) -> None:
    files = built(
        make_site({"posts/a.md": post("A", "2026-01-01", summary="Sum.")}), tmp_path / "o"
    )
    for path in (p for p in files if p.endswith(".html")):
        doc = parse(files[path])
        [feed] = doc.xpath("//head/link[@rel='alternate'][@type='application/rss+xml']")
        assert feed.get("href") == "/feed/rss.xml"
        [canonical] = doc.xpath("//head/link[@rel='canonical']/@href")
        assert canonical.startswith(SITE_URL)
        assert doc.xpath("//head/meta[@property='og:title']/@content")
    post_page = parse(files["2026/01/a/index.html"])
    assert post_page.xpath("//link[@rel='canonical']/@href") == [SITE_URL + "2026/01/a/"]
    assert post_page.xpath("//meta[@name='description']/@content") == ["Sum."]
    assert post_page.xpath("//meta[@property='og:type']/@content") == ["article"]


# --- ids -------------------------------------------------------------------------------


def test_ids_are_unique_on_a_front_page_with_two_footnoted_intros(
    make_site: MakeSite, tmp_path: Path
) -> None:
    body = (
        '# Same heading\n\nIntro with a note[^1] and `<a href="#x">`.\n\n<!--more-->\n\n'
        "More[^2].\n\n[^1]: One.\n[^2]: Two.\n"
    )
    root = make_site(
        {
            "posts/one.md": post("One", "2026-01-01", body),
            "posts/two.md": post("Two", "2026-01-02", body),
        }
    )
    files = built(root, tmp_path / "out")
    for path in ("index.html", "topics/index.html", "2026/01/one/index.html"):
        ids = parse(files[path]).xpath("//@id")
        assert len(ids) == len(set(ids)), (path, ids)
    front = parse(files["index.html"])
    assert [c.text for c in front.xpath("//article//code")] == ['<a href="#x">'] * 2
    refs = front.xpath("//article[@class='intro']//sup//a/@href")
    assert sorted(refs) == ["/2026/01/one/#fn-1", "/2026/01/two/#fn-1"]
    assert broken_links(files, SITE_URL) == []


# --- content of pages ------------------------------------------------------------------


def test_titles_are_escaped_everywhere(make_site: MakeSite, tmp_path: Path) -> None:
    title = "<script>alert(1)</script> & Co"
    root = make_site({"posts/x.md": post(title.replace('"', '\\"'), "2026-01-01", tags="[AI]")})
    files = built(root, tmp_path / "out")
    for path in (
        "index.html",
        "2026/01/x/index.html",
        "topics/ai/index.html",
        "archive/index.html",
    ):
        doc = parse(files[path])
        assert not doc.xpath("//script[not(@type='application/ld+json')]"), path
        assert title in doc.text_content(), path
    assert parse(files["2026/01/x/index.html"]).findtext(".//title").startswith(title)


def test_post_page_has_dates_tags_and_series_navigation(
    make_site: MakeSite, tmp_path: Path
) -> None:
    files = {
        "posts/a.md": post("Part one", "2026-01-01", series="Tour", part="1", tags="[AI]"),
        "posts/b.md": post(
            "Part two",
            "2026-01-05",
            series="Tour",
            part="2",
            updated="2026-02-01",
            tags="[AI, Musings]",
        ),
        "posts/c.md": post("Part three", "2026-01-03", series="Tour", part="3"),
    }
    out = built(make_site(files), tmp_path / "out")
    doc = parse(out["2026/01/b/index.html"])
    assert doc.xpath("//time/@datetime")[:2] == [
        "2026-01-05T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
    ]
    assert doc.xpath("//ul[@class='tags']//a/@href") == ["/topics/ai/", "/topics/musings/"]
    box = doc.xpath("//aside[@class='series-box']")[0].text_content()
    assert " ".join(box.split()) == "Part 2 of the series Tour."
    nav = doc.xpath("//nav[@class='series-nav']//a")
    assert [(a.get("rel"), a.get("href")) for a in nav] == [
        ("prev", "/2026/01/a/"),
        ("next", "/2026/01/c/"),
    ]
    series = parse(out["series/tour/index.html"])
    assert [a.text for a in series.xpath("//ol[@class='series-list']/li/a")] == [
        "Part one",
        "Part two",
        "Part three",
    ]


def ordinals(items: list[html.HtmlElement]) -> list[int]:
    """The number a browser shows for each `<li>` of an `<ol>`: its `value`, else one
    more than the item before."""
    numbers: list[int] = []
    for item in items:
        numbers.append(int(item.get("value") or (numbers[-1] if numbers else 0) + 1))
    return numbers


@pytest.mark.parametrize(
    ("parts", "numbers"),
    [
        ({"a": None, "b": None, "c": None}, {"a": 1, "c": 2, "b": 3}),  # by date
        ({"a": "5", "b": "1", "c": "3"}, {"b": 1, "c": 3, "a": 5}),  # a part yet to come
    ],
    ids=["no-parts", "parts-with-a-gap"],
)
def test_each_part_of_a_series_has_its_own_number_on_every_page(
    make_site: MakeSite, tmp_path: Path, parts: dict[str, str | None], numbers: dict[str, int]
) -> None:
    dates = {"a": "2026-01-01", "b": "2026-01-09", "c": "2026-01-05"}
    files = {
        f"posts/{name}.md": post(
            name.upper(), dates[name], series="S", **({"part": part} if part else {})
        )
        for name, part in parts.items()
    }
    out = built(make_site(files), tmp_path / "out")
    claimed = {}
    for name in parts:
        box = parse(out[f"2026/01/{name}/index.html"]).xpath("//aside[@class='series-box']")[0]
        words = box.text_content().split()
        assert words[0] == "Part" and words[2:5] == ["of", "the", "series"], words
        claimed[name] = int(words[1])
    assert claimed == numbers
    series = parse(out["series/s/index.html"])
    items = series.xpath("//ol[@class='series-list']/li")
    listed = {
        item.xpath("a/@href")[0].split("/")[-2]: n
        for item, n in zip(items, ordinals(items), strict=True)
    }
    assert list(listed) == list(numbers)  # in part order
    assert listed == numbers
    assert f"A series in {len(items)} parts." in series.text_content()


def test_front_page_is_paginated_newest_first_with_read_more(
    make_site: MakeSite, tmp_path: Path
) -> None:
    config = f'title = "T"\nurl = "{SITE_URL}"\nposts_per_page = 2\n'
    files = {f"posts/p{n}.md": post(f"Post {n}", f"2026-01-0{n}") for n in range(1, 6)}
    out = built(make_site(files, config=config), tmp_path / "out")
    pages = ["index.html", "page/2/index.html", "page/3/index.html"]
    titles = [
        [a.text for a in parse(out[p]).xpath("//article[@class='intro']/h2/a")] for p in pages
    ]
    assert titles == [["Post 5", "Post 4"], ["Post 3", "Post 2"], ["Post 1"]]
    assert "page/4/index.html" not in out
    first = parse(out["index.html"])
    assert first.xpath("//p[@class='read-more']/a/@href") == ["/2026/01/p5/", "/2026/01/p4/"]
    assert first.xpath("//nav[@class='pager']/a[@rel='next']/@href") == ["/page/2/"]


def test_archive_sitemap_robots_and_404(make_site: MakeSite, tmp_path: Path) -> None:
    files = {
        "posts/old.md": post("Old", "2025-06-01"),
        "posts/new.md": post("New", "2026-01-01", updated="2026-03-01"),
    }
    out = built(make_site(files), tmp_path / "out")
    archive = parse(out["archive/index.html"])
    assert [h.text for h in archive.xpath("//section/h2")] == ["2026", "2025"]
    sitemap = etree.fromstring(out["sitemap.xml"])
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = sitemap.xpath("//s:loc/text()", namespaces=ns)
    assert SITE_URL + "2026/01/new/" in locs
    for loc in locs:
        relative = loc[len(SITE_URL) :]
        assert (
            relative + "index.html" if relative.endswith("/") or not relative else relative
        ) in out
    assert f"Sitemap: {SITE_URL}sitemap.xml" in out["robots.txt"].decode()
    assert parse(out["404.html"]).xpath("//h1")[0].text == "Page not found"


def test_site_templates_override_built_ins_and_static_is_copied(
    make_site: MakeSite, tmp_path: Path
) -> None:
    files = {
        "posts/a.md": post("A", "2026-01-01"),
        "templates/post.html": '{% extends "base.html" %}{% block content %}'
        '<p id="custom">{{ post.title }}</p>{% endblock %}',
        "static/favicon.ico": "icon",
        "static/assets/style.css": "body { color: red }",
    }
    out = built(make_site(files), tmp_path / "out")
    assert parse(out["2026/01/a/index.html"]).xpath("//p[@id='custom']")[0].text == "A"
    assert out["favicon.ico"] == b"icon"
    assert out["assets/style.css"] == b"body { color: red }"
    assert b".highlight" in out["assets/pygments.css"]


def test_static_follows_links_to_files_and_folders_kept_elsewhere(
    make_site: MakeSite, tmp_path: Path
) -> None:
    """As posts/ does; a folder link back to a folder above it is an error."""
    shared = tmp_path / "shared"
    (shared / "img").mkdir(parents=True)
    (shared / "img/a.png").write_bytes(b"\x89PNG")
    (shared / "notes.txt").write_text("kept elsewhere")
    root = make_site({"posts/a.md": post("A", "2026-01-01", "![a](/img/a.png)\n")})
    (root / "static").mkdir()
    (root / "static/img").symlink_to(shared / "img")
    (root / "static/notes.txt").symlink_to(shared / "notes.txt")
    out = built(root, tmp_path / "out")
    assert out["img/a.png"] == b"\x89PNG" and out["notes.txt"] == b"kept elsewhere"
    (shared / "img/loop").symlink_to(shared / "img")
    result = quick_build(root, "--out", tmp_path / "out")
    assert result.code == 1 and "Traceback" not in result.err
    assert "static/img/loop: folder link leads back to a folder it is inside" in result.err


# --- template errors: exit 1, template file and line, old output kept --------------------

POST_TEMPLATE = (REPO / "blogkeeper" / "templates" / "post.html").read_text()


def broken_template(line: str) -> str:
    """The built-in post.html with `line` inserted as its line 8."""
    lines = POST_TEMPLATE.split("\n")
    return "\n".join([*lines[:7], line, *lines[7:]])


def test_template_syntax_error(broken_build: BrokenBuild) -> None:
    broken_build({"templates/post.html": broken_template("{% if %}")}, "templates/post.html:8:")


@pytest.mark.parametrize("where", ["templates/post.html", "templates/post_end.html"])
def test_a_template_that_is_not_utf8_is_an_error_at_its_line(
    broken_build: BrokenBuild, where: str
) -> None:
    """Saved as Latin-1 (`café`): the page's own template, or one it includes."""
    text = broken_template("<p>caf@</p>") if where.endswith("post.html") else "<p>caf@</p>\n"
    line = 8 if where.endswith("post.html") else 1
    result = broken_build({where: text.encode().replace(b"@", b"\xe9")}, f"{where}:{line}:")
    assert "not UTF-8: byte 0xe9" in result.err


def test_undefined_template_variable(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"templates/post.html": broken_template("{{ no_such_thing }}")}, "templates/post.html:8:"
    )
    assert "no_such_thing" in result.err


def test_undefined_attribute(broken_build: BrokenBuild) -> None:
    broken_build(
        {"templates/post.html": broken_template("{{ post.nope }}")}, "templates/post.html:8:"
    )


def test_error_raised_by_a_filter(broken_build: BrokenBuild) -> None:
    broken_build(
        {"templates/post.html": broken_template("{{ post.title | long_date }}")},
        "templates/post.html:8:",
    )


def test_missing_included_template(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"templates/post.html": broken_template('{% include "nothere.html" %}')},
        "templates/post.html:8:",
    )
    assert "nothere.html" in result.err


def test_error_in_an_overridden_macro_file_names_that_file(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"templates/_macros.html": "{% macro post_meta(post) %}\n{{ nope }}\n{% endmacro %}\n"},
        "templates/_macros.html:",
    )
    assert "//" not in result.err
    for line in result.err.splitlines()[:-1]:
        assert line.startswith(("templates/", "blogkeeper/templates/")), line


@pytest.mark.parametrize("name", ["base.html", "index.html"])
def test_syntax_error_in_other_overrides(broken_build: BrokenBuild, name: str) -> None:
    broken_build({f"templates/{name}": "line one\n{% for %}\n"}, f"templates/{name}:2:")


def test_the_link_checker_itself_finds_broken_links() -> None:
    files = {
        "index.html": b'<a href="/nope/">x</a><a href="/#gone">y</a><img src="a.png">'
        b'<a href="/feed/rss.xml">feed</a><a href="https://elsewhere.example/">z</a>'
        b'<a href="https://blog.example.org/index.html#here" id="here">ok</a>',
    }
    assert len(broken_links(files, SITE_URL)) == 4


def test_every_internal_link_in_the_golden_site_resolves() -> None:
    files = snapshot(REPO / "tests" / "golden" / "expected")
    assert broken_links(files, "https://golden.example.org/notes/") == []


def test_extension_templates_add_to_every_page_or_every_post(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    """A site's own head, footer, body-end and post-end additions, without copying
    base.html: each is a built-in template that is empty until the site overrides it."""
    files = {
        "posts/a.md": post("A", "2026-01-01"),
        "templates/head_extra.html": '<meta name="x-analytics" content="{{ site.title }}">\n',
        "templates/footer_extra.html": "<p>Licence: CC BY 4.0</p>\n",
        "templates/body_end.html": "<script src=\"{{ 'assets/x.js' | url }}\"></script>\n",
        "templates/post_end.html": '<section id="comments">On {{ post.title }}</section>\n',
    }
    root = make_site(files)
    result = quick_build(root, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    built = snapshot(tmp_path / "out")
    for path in ("index.html", "2026/01/a/index.html", "archive/index.html"):
        doc = html.fromstring(built[path])
        assert doc.xpath("//head/meta[@name='x-analytics']/@content") == ["Test blog"], path
        assert doc.xpath("//footer/p[last()]/text()") == ["Licence: CC BY 4.0"], path
        assert doc.xpath("/html/body/script/@src") == ["/assets/x.js"], path
    post_page = html.fromstring(built["2026/01/a/index.html"])
    assert post_page.xpath("//article/section[@id='comments']/text()") == ["On A"]
    assert not html.fromstring(built["index.html"]).xpath("//section[@id='comments']")


# --- templates that never end or fill the memory are stopped at their line --------------

LOOP_FOR_EVER = "{% for i in range(10**12) %}{% endfor %}"
# 1 GiB: more than the 256 MiB the tests allow, little enough to survive without a bound.
DOUBLE_30_TIMES = (
    '{% set ns = namespace(s="x") %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}'
    "{% endfor %}{{ ns.s | length }}"
)


def test_a_template_that_never_ends_is_stopped_at_its_line(
    broken_build: BrokenBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGES_SECONDS", (1.0, 0.0))
    result = broken_build(
        {"templates/post.html": broken_template(LOOP_FOR_EVER)}, "templates/post.html:8: "
    )
    assert "the pages took longer than 1 s to render; stopped" in result.err


def test_a_template_that_fills_the_memory_is_stopped_at_its_line(
    broken_build: BrokenBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGES_MEMORY", (256 << 20, 0))
    result = broken_build(
        {"templates/post.html": broken_template(DOUBLE_30_TIMES)}, "templates/post.html:8: "
    )
    assert "the pages needed more than 256 MiB of memory; stopped" in result.err


def test_a_template_stuck_where_signals_wait_is_killed(
    broken_build: BrokenBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sum` over a range runs in C and looks at no signal: the parent kills the child."""
    monkeypatch.setattr(pages, "PAGES_SECONDS", (0.5, 0.0))
    monkeypatch.setattr(pages, "GRACE_SECONDS", 0.5)
    result = broken_build(
        {"templates/post.html": broken_template("{{ range(10**12) | sum }}")}, "templates: "
    )
    assert "the pages took longer than 0.5 s to render; stopped" in result.err


def test_page_bounds_grow_with_the_site(make_site: MakeSite) -> None:
    root = make_site({f"posts/p{n}.md": post(f"P{n}", "2026-01-01") for n in range(10)})
    options = BuildOptions()
    config = load_config(root)
    site = assemble(config, render_posts(config, load_posts(config, LoadOptions())), options)
    assert pages.bounds(site) == (5.0 + 0.01 * 10, (1 << 30) + (256 << 10) * 10)


# --- social cards and structured data ---------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # any bytes: the build only checks the file is there
CARD_CONFIG = 'image = "/assets/card.png"\n'


def head_meta(doc: html.HtmlElement) -> dict[str, str]:
    """The page's `<meta property|name=... content=...>` values, by property or name."""
    found = {}
    for meta in doc.xpath("//head/meta[@content]"):
        key = meta.get("property") or meta.get("name")
        if key:
            found[key] = meta.get("content")
    return found


def schema_org_loader(url: str, options: object = None) -> dict[str, object]:
    """Stands in for https://schema.org's remote context so tests fetch nothing: its
    `@vocab` maps every term to a schema.org IRI, as the real context does."""
    assert url.rstrip("/") == "https://schema.org", url
    document = {"@context": {"@vocab": "https://schema.org/"}}
    return {"contextUrl": None, "documentUrl": url, "document": document}


def blog_posting(doc: html.HtmlElement) -> dict[str, list[object]]:
    """The page's one JSON-LD node, read back by a JSON-LD processor (PyLD): expanded, so
    each property is a schema.org IRI with a list of values. Asserts that it is a
    `BlogPosting` and that the page has exactly one JSON-LD script."""
    from pyld import jsonld

    scripts = doc.xpath("//script[@type='application/ld+json']")
    assert len(scripts) == 1
    (node,) = jsonld.expand(json.loads(scripts[0].text), {"documentLoader": schema_org_loader})
    assert node["@type"] == ["https://schema.org/BlogPosting"]
    return {key.removeprefix("https://schema.org/"): value for key, value in node.items()}


def value(node: dict[str, list[object]], name: str) -> object:
    (found,) = node[name]
    assert isinstance(found, dict)
    return found.get("@value", found.get("@id"))


def test_posts_get_cards_and_a_blog_posting(make_site: MakeSite, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "static/assets/card.png": PNG,
        "static/2026/01/own/pic.png": PNG,
        "posts/remote.md": post(
            "Remote", "2026-01-03", image="https://cdn.example.org/r.png", tags="[AI, Notes]"
        ),
        "posts/own.md": post("Own", "2026-01-02 10:30", image="pic.png", updated="2026-02-01"),
        "posts/plain.md": post("Plain", "2026-01-01", summary='"Just text."'),
    }
    out = built(make_site(files, BLOG_TOML_WITH_CARD), tmp_path / "out")
    cards = {
        "2026/01/remote/": "https://cdn.example.org/r.png",
        "2026/01/own/": "https://blog.example.org/2026/01/own/pic.png",
        "2026/01/plain/": "https://blog.example.org/assets/card.png",  # the site's default
    }
    for path, card in cards.items():
        doc = parse(out[path + "index.html"])
        meta = head_meta(doc)
        url = SITE_URL + path
        assert meta["og:image"] == card
        assert meta["twitter:card"] == "summary_large_image"
        assert (meta["og:type"], meta["og:url"]) == ("article", url)
        assert meta["og:title"] == doc.findtext(".//h1")
        node = blog_posting(doc)
        assert value(node, "headline") == meta["og:title"]
        assert value(node, "description") == meta["og:description"]
        assert value(node, "image") == card
        assert value(node, "url") == url
        assert node["mainEntityOfPage"][0]["@id"] == url  # type: ignore[index]
        assert value(node, "datePublished") == meta["article:published_time"]
        author = node["author"][0]
        assert author["@type"] == ["https://schema.org/Person"]  # type: ignore[index]
        assert author["https://schema.org/name"] == [{"@value": "Tester"}]  # type: ignore[index]
    own = blog_posting(parse(out["2026/01/own/index.html"]))
    assert value(own, "datePublished") == "2026-01-02T10:30:00+00:00"
    assert value(own, "dateModified") == "2026-02-01T00:00:00+00:00"
    assert head_meta(parse(out["2026/01/own/index.html"]))["og:updated_time"] == (
        "2026-02-01T00:00:00+00:00"
    )
    plain = parse(out["2026/01/plain/index.html"])
    assert "og:updated_time" not in head_meta(plain)
    assert value(blog_posting(plain), "dateModified") == "2026-01-01T00:00:00+00:00"
    assert value(blog_posting(plain), "description") == "Just text."
    front = head_meta(parse(out["index.html"]))
    assert front["og:image"] == "https://blog.example.org/assets/card.png"
    assert front["og:type"] == "website"
    assert not parse(out["index.html"]).xpath("//script")  # JSON-LD on post pages only


BLOG_TOML_WITH_CARD = BLOG_TOML + CARD_CONFIG


def test_without_an_image_the_card_is_a_summary(make_site: MakeSite, tmp_path: Path) -> None:
    out = built(make_site({"posts/a.md": post("A", "2026-01-01")}), tmp_path / "out")
    for path in ("index.html", "2026/01/a/index.html"):
        meta = head_meta(parse(out[path]))
        assert meta["twitter:card"] == "summary"
        assert "og:image" not in meta
    assert "image" not in blog_posting(parse(out["2026/01/a/index.html"]))


def test_structured_data_cannot_end_its_script(make_site: MakeSite, tmp_path: Path) -> None:
    title = "</script><script>alert(1)</script><!-- ' & \\u2028"
    summary = "ends </SCRIPT > here <!--"
    files = {"posts/x.md": post(title.replace('"', '\\"'), "2026-01-01", summary=f'"{summary}"')}
    page = built(make_site(files), tmp_path / "out")["2026/01/x/index.html"]
    doc = parse(page)
    assert len(doc.xpath("//script")) == 1  # nothing in the title opened another
    script = doc.xpath("//script")[0].text
    assert "<" not in script and ">" not in script
    data = json.loads(script)
    assert data["headline"] == title.replace("\\u2028", "\u2028")
    assert data["description"] == summary
    assert value(blog_posting(doc), "headline") == data["headline"]


@pytest.mark.parametrize(
    ("image", "config", "error"),
    [
        (
            "/assets/nope.png",
            "",
            "posts/x.md:4: `image` /assets/nope.png is not a file the site publishes"
            " (put the image at static/assets/nope.png, or fix the path)",
        ),
        (
            "nope.png",
            "",
            "posts/x.md:4: `image` /2026/01/x/nope.png is not a file the site publishes",
        ),
        ("http://cdn.example.org/a.png", "", "posts/x.md:4: `image` must be an https:// URL"),
        ("//cdn.example.org/a.png", "", "posts/x.md:4: `image` must be an https:// URL"),
        ("https:///a.png", "", "posts/x.md:4: `image` is not a valid https URL"),
        ("[a.png, b.png]", "", "posts/x.md:4: `image` must be text"),
        ("card.png?v=2", "", "posts/x.md:4: `image` is a file path and cannot hold"),
        ("../../../../up.png", "", "posts/x.md:4: `image` '../../../../up.png' climbs above"),
        (
            "/assets/card.png",
            'image = "/assets/missing.png"\n',
            "blog.toml:6: `image` /assets/missing.png is not a file the site publishes",
        ),
        ("/assets/card.png", 'image = "data:image/png;base64,AA"\n', "blog.toml:6: `image` must"),
    ],
)
def test_a_bad_image_is_an_error_at_its_line(
    make_site: MakeSite, tmp_path: Path, image: str, config: str, error: str
) -> None:
    files: dict[str, str | bytes] = {
        "static/assets/card.png": PNG,
        "posts/x.md": post("X", "2026-01-01", image=image),
    }
    result = quick_build(make_site(files, BLOG_TOML + config), "--out", tmp_path / "out")
    assert result.code == 1
    assert error in result.err, result.err
    assert "Traceback" not in result.err


def test_templates_read_post_extra_and_site_extra(make_site: MakeSite) -> None:
    """The example of docs/templates.md: `site.extra` on every page, `post.extra` on its
    post's."""
    config = BLOG_TOML + '\n[extra]\nmastodon = "https://social.example/@me"\n'
    text = post("A", "2026-01-01").replace("---\nIntro", "extra:\n  comments: false\n---\nIntro")
    root = make_site(
        {
            "posts/a.md": text,
            "posts/b.md": post("B", "2026-01-02"),
            "templates/head_extra.html": '<link rel="me" href="{{ site.extra.mastodon }}">\n',
            "templates/post_end.html": (
                "{% if post.extra.comments is not defined or post.extra.comments %}\n"
                '<section class="comments" aria-label="Comments">…</section>\n{% endif %}\n'
            ),
        },
        config,
    )
    result = quick_build(root)
    assert result.code == 0, result.err
    page = html.parse(str(root / "public/2026/01/a/index.html"))
    assert page.xpath("//link[@rel='me']/@href") == ["https://social.example/@me"]
    assert page.xpath("//section[@class='comments']") == []
    other = html.parse(str(root / "public/2026/01/b/index.html"))
    assert len(other.xpath("//section[@class='comments']")) == 1
    assert other.xpath("//link[@rel='me']/@href") == ["https://social.example/@me"]


# --- a build shares its pages out among forked children, one per core ---------------------


def many_posts(count: int) -> dict[str, str | bytes]:
    return {
        f"posts/p{n:02d}.md": post(f"P{n}", f"2026-01-{1 + n % 28:02d}", tags="[a, b]")
        for n in range(count)
    }


def test_pages_shared_out_among_children_are_the_pages_one_child_makes(
    make_site: MakeSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(many_posts(30))
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    one = built(root, tmp_path / "one")
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "3")
    monkeypatch.setattr(pages, "PAGES_PER_CHILD", 5)  # 30 post pages and more: 3 shares
    assert built(root, tmp_path / "three") == one
    monkeypatch.setattr(pages, "PAGES_PER_RUN", 4)  # 3 children at a time, 4 times or more
    assert built(root, tmp_path / "runs") == one


def test_template_errors_of_every_share_are_reported(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An error that names the post: each page's is its own.
    files = {**many_posts(12), "templates/post.html": broken_template("{{ {}[post.title] }}")}
    root = make_site(files)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "3")
    monkeypatch.setattr(pages, "PAGES_PER_CHILD", 5)
    result = quick_build(root, "--out", root / "out")
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.startswith("templates/post.html:8:")]
    assert len(lines) == 12, result.err  # one per post page, from all three children
    monkeypatch.setattr(pages, "PAGES_PER_RUN", 3)  # and from children started later
    again = quick_build(root, "--out", root / "out")
    assert again.err.count("templates/post.html:8:") == 12, again.err


def test_a_share_that_never_ends_stops_the_build(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {**many_posts(12), "templates/post.html": broken_template(LOOP_FOR_EVER)}
    root = make_site(files)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "3")
    monkeypatch.setattr(pages, "PAGES_PER_CHILD", 5)
    monkeypatch.setattr(pages, "PAGES_SECONDS", (1.0, 0.0))
    result = quick_build(root, "--out", root / "out")
    assert result.code == 1
    assert "the pages took longer than 1 s to render; stopped" in result.err
    assert not (root / "out").exists()


def test_an_edit_makes_again_only_the_topic_page_that_lists_the_post(
    make_site: MakeSite, tmp_path: Path
) -> None:
    """The built-in topic.html does not read `topic`: the other pages of the topic are
    kept (their files are the old site's), a template that reads it makes them all."""
    files = {f"posts/p{n}.md": post(f"P{n}", f"2026-01-{n + 1:02d}", tags="[AI]") for n in range(5)}
    files["blog.toml"] = f'title = "T"\nurl = "{SITE_URL}"\nposts_per_page = 2\n'
    root = make_site(files)
    out = tmp_path / "out"

    def inodes() -> dict[str, int]:
        return {
            p: (out / "topics/ai" / p).stat().st_ino for p in ("index.html", "page/3/index.html")
        }

    assert quick_build(root, "--out", out).code == 0
    before = inodes()
    (root / "posts/p4.md").write_text(post("P4 edited", "2026-01-05", tags="[AI]"))
    assert quick_build(root, "--out", out).code == 0
    after = inodes()  # p4, the newest, is on the first page only
    assert after["index.html"] != before["index.html"]
    assert after["page/3/index.html"] == before["page/3/index.html"]
    topic = (REPO / "blogkeeper/templates/topic.html").read_text()
    (root / "templates").mkdir(exist_ok=True)
    newest = "{{ topic.posts[0].post.title }}"
    (root / "templates/topic.html").write_text(topic.replace("</h1>", "</h1>" + newest))
    assert quick_build(root, "--out", out).code == 0
    before = inodes()
    (root / "posts/p4.md").write_text(post("P4 edited again", "2026-01-05", tags="[AI]"))
    assert quick_build(root, "--out", out).code == 0
    assert inodes() != before
    for page in ("index.html", "page/3/index.html"):  # each shows the newest title
        assert "P4 edited again" in (out / "topics/ai" / page).read_text()


# --- a process that renders pages again (a preview's kept worker) compiles once -------------


def test_a_process_compiles_each_template_once_and_again_when_its_source_changes(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a preview's kept worker does on every rebuild: `_render_pages` again in the
    same process. Jinja's compiler is watched, not replaced."""
    root = make_site({**many_posts(3), "templates/post.html": broken_template("")})
    config = load_config(root)
    site = assemble(config, render_posts(config, load_posts(config, LoadOptions())))
    made = pages._pages(site, Earlier())
    compiled: list[str | None] = []
    compile_source = jinja2.Environment.compile

    def watched(env: jinja2.Environment, source: str, name: str | None = None, *rest: Any) -> Any:
        compiled.append(name)
        return compile_source(env, source, name, *rest)

    monkeypatch.setattr(jinja2.Environment, "compile", watched)
    monkeypatch.setattr(pages, "COMPILED", pages.Compiled())  # as a new worker starts
    limits = pages.bounds(site)
    first = pages._render_pages(site, made, limits)
    assert {p.template for p in made} <= set(compiled)  # and what they extend or include
    assert len(compiled) == len(set(compiled))
    compiled.clear()
    assert pages._render_pages(site, made, limits) == first
    assert compiled == []
    (root / "templates/post.html").write_text(broken_template("<p>changed</p>"))
    again = pages._render_pages(site, made, limits)
    assert compiled == ["post.html"]
    changed = [o.path for o, old in zip(again, first, strict=True) if o.data != old.data]
    assert changed == [p.path for p in made if p.template == "post.html"] and changed


# --- the pages render in their children while the build makes the rest --------------------

SLOW_LINE = "{% for i in range(300000) %}{% endfor %}"  # some 0.3 s of a child's time


@pytest.mark.parametrize("fails", [False, True])
def test_the_pages_render_while_the_build_makes_the_rest(
    make_site: MakeSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """LLM files are made while a page child still runs (a slow post.html); a build that
    fails after the pages started (two files at one path) leaves no child running and
    writes nothing."""
    files = {**many_posts(3), "templates/post.html": broken_template(SLOW_LINE)}
    if fails:
        files["static/2026/01/p00/index.html"] = "<p>in the way of a post's page</p>"
    root = make_site(files)
    alive: list[int] = []
    render_llms = llms.render_llms

    def watched(*args: Any) -> Any:
        alive.append(len(forked_children()))
        return render_llms(*args)

    monkeypatch.setattr(llms, "render_llms", watched)
    result = quick_build(root, "--out", tmp_path / "out")
    assert alive and alive[0] >= 1, "no page child ran beside the LLM files"
    assert forked_children() == []
    if fails:
        assert result.code == 1 and "are one file" in result.err, result.err
        assert not (tmp_path / "out").exists()
    else:
        assert result.code == 0, result.err
        assert (tmp_path / "out/2026/01/p00/index.html").read_bytes().startswith(b"<!")
