"""Permalinks: the `permalink` pattern of blog.toml and a post's own `permalink`, built for
real and read back with lxml, feedparser and the llms.txt parser; URL clashes; and a
property: for random patterns, every URL the site gives (links in every page, feeds,
sitemap, llms.txt) answers, through the host emulation `serve` uses."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html
import pytest
from conftest import BLOG_TOML, NOW, beside, post, quick_build, write_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llms_txt import parse_llms_file

from blogkeeper import hosting, urls
from blogkeeper.build import build_site
from blogkeeper.errors import BuildError
from blogkeeper.model import BuildOptions

MakeSite = Callable[..., Path]
JEKYLL = BLOG_TOML + 'permalink = "/blog/:year/:month/:day/:title.html"\n'


def built(root: Path) -> Path:
    result = quick_build(root)
    assert result.code == 0, result.err
    return root / "public"


def head_links(page: Path) -> dict[str, str]:
    tree = lxml.html.parse(str(page))
    found = {}
    for link in tree.iter("link"):
        key = link.get("rel") + (" " + link.get("type") if link.get("type") else "")
        found.setdefault(key, link.get("href"))
    return found


def test_every_token_and_literal_segments(make_site: MakeSite) -> None:
    config = BLOG_TOML + 'permalink = "/posts/:year/:month/:day/:slug/"\n'
    root = make_site({"posts/2015-05-21-Javascript-Tips.md": post("JS", "2015-05-21")}, config)
    out = built(root)
    page = out / "posts/2015/05/21/javascript-tips/index.html"
    assert head_links(page)["canonical"] == (
        "https://blog.example.org/posts/2015/05/21/javascript-tips/"
    )
    assert (out / "posts/2015/05/21/javascript-tips/index.md").is_file()


def test_html_ending_keeps_the_case_of_the_file_name(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/2015-05-21-Javascript-Tips.md": post("JS tips", "2015-05-21", tags="[JS]"),
            "posts/2016-01-02-renamed.md": post("Other", "2016-01-02", slug="Own_Name.v2"),
        },
        JEKYLL,
    )
    out = built(root)
    page = out / "blog/2015/05/21/Javascript-Tips.html"
    url = "https://blog.example.org/blog/2015/05/21/Javascript-Tips.html"
    links = head_links(page)
    assert links["canonical"] == url
    # the twin sits beside the page: the page's name with .md for .html
    assert links["alternate text/markdown"] == "/blog/2015/05/21/Javascript-Tips.md"
    twin = (out / "blog/2015/05/21/Javascript-Tips.md").read_text()
    assert f"- HTML version: {url}" in twin
    # `slug:` overrides `:title`, its case and `._` kept
    assert (out / "blog/2016/01/02/Own_Name.v2.html").is_file()
    feed = feedparser.parse((out / "feed/rss.xml").read_bytes())
    assert not feed.bozo
    assert url in [entry.link for entry in feed.entries]
    sitemap = lxml.etree.parse(str(out / "sitemap.xml"))
    locs = [loc.text for loc in sitemap.iter("{*}loc")]
    assert url in locs
    parsed = parse_llms_file((out / "llms.txt").read_text())
    listed = [link["url"] for links in parsed["sections"].values() for link in links]
    assert url.removesuffix(".html") + ".md" in listed
    topic = lxml.html.parse(str(out / "topics/js/index.html"))
    assert "/blog/2015/05/21/Javascript-Tips.html" in topic.xpath("//a/@href")


def test_html_post_through_the_host_emulation(make_site: MakeSite) -> None:
    """The `_headers` rules a host applies give a .html post and its twin their links,
    and `Accept: text/markdown` gets the twin, as for a folder post."""
    root = make_site({"posts/2015-05-21-Tips.md": post("Tips", "2015-05-21")}, JEKYLL)
    outputs = build_site(root, BuildOptions(now=dt.datetime.fromisoformat(NOW)))
    site = hosting.Snapshot.of("/", {o.path: o.data for o in outputs})
    segments = ["blog", "2015", "05", "21", "Tips.html"]
    page = hosting.lookup(site, segments, "", "text/html")
    headers = dict(page.headers)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Link"] == (
        '<Tips.md>; rel="alternate"; type="text/markdown", </llms.txt>; rel="describedby"'
    )
    twin = hosting.lookup(site, segments, "", "text/markdown")
    assert dict(twin.headers)["Content-Type"] == "text/markdown; charset=utf-8"
    assert twin.body.startswith(b"# Tips")
    direct = hosting.lookup(site, [*segments[:-1], "Tips.md"], "", "*/*")
    assert dict(direct.headers)["Link"] == (
        '<Tips.html>; rel="canonical", </llms.txt>; rel="describedby"'
    )


def test_a_post_of_its_own(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": post("A", "2015-05-21", permalink="/2015/05/21/Old-Name/"),
            "posts/b.md": post("B", "2015-05-22", permalink="/pages/b.html"),
        }
    )
    out = built(root)
    assert head_links(out / "2015/05/21/Old-Name/index.html")["canonical"].endswith(
        "/2015/05/21/Old-Name/"
    )
    assert (out / "pages/b.html").is_file() and (out / "pages/b.md").is_file()


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/:year/:categories/:slug/", "unknown token `:categories`"),
        ("/:year/:month/", "must contain `:slug` or `:title`"),
        ("/:year/:slug", "must start with `/` and end with `/` or `.html`"),
        (":year/:slug/", "must start with `/`"),
        ("/:year//:slug/", "must not hold `//`"),
        ("/a b/:slug/", "may hold only tokens"),
        ("/:slug/index.html", "rather than `/index.html`"),
    ],
)
def test_bad_patterns_point_at_their_line(make_site: MakeSite, pattern: str, message: str) -> None:
    config = BLOG_TOML + f'\npermalink = "{pattern}"\n'
    root = make_site({"posts/a.md": post("A", "2026-01-01")}, config)
    result = quick_build(root)
    assert result.code == 1
    assert f"blog.toml:7: `permalink` {message}" in result.err or (
        "blog.toml:7:" in result.err and message in result.err
    ), result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2015/x/", "must start with `/`"),
        ("/x", "end with `/` or `.html`"),
        ("/", "below the front page"),
        ("/a/../b/", "segment starting with `.`"),
        ("/a?b/", "must not hold spaces, `?`"),
        ("/caf%C3%A9/", "must not hold spaces"),
    ],
)
def test_bad_post_permalink_points_at_its_line(
    make_site: MakeSite, value: str, message: str
) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", permalink=value)})
    result = quick_build(root)
    assert result.code == 1
    assert "posts/a.md:4: `permalink`" in result.err and message in result.err, result.err


def test_two_posts_on_one_url_name_both_files(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01", permalink="/same/"),
            "posts/b.md": post("B", "2026-01-02", permalink="/same/"),
        }
    )
    result = quick_build(root)
    assert result.code == 1
    assert "posts/b.md:4: this post has the same URL /same/ as posts/a.md" in result.err


def test_case_only_difference_is_a_clash(make_site: MakeSite) -> None:
    config = BLOG_TOML + 'permalink = "/:title.html"\n'
    root = make_site(
        {
            "posts/Tips.md": post("A", "2026-01-01"),
            "posts/x/tips.md": post("B", "2026-01-02"),
        },
        config,
    )
    result = quick_build(root)
    assert result.code == 1
    assert "posts/x/tips.md:1: this post has the same URL /tips.html as posts/Tips.md" in result.err
    assert "on hosts that ignore case" in result.err


def test_a_post_on_a_topic_page_is_a_clash(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01", tags="[AI]"),
            "posts/b.md": post("B", "2026-01-02", permalink="/topics/AI/"),
        }
    )
    result = quick_build(root)
    assert result.code == 1
    assert "posts/b.md:4: the page of posts/b.md and /topics/ai/index.html" in result.err
    assert "on hosts that ignore case" in result.err


def test_a_post_on_a_static_file_is_a_clash(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/b.md": post("B", "2026-01-02", permalink="/about.html"),
            "static/about.html": "<!doctype html><title>x</title>",
        }
    )
    result = quick_build(root)
    assert result.code == 1
    assert "posts/b.md:4: the page of posts/b.md and static/about.html are one file" in result.err


@pytest.mark.parametrize("static", ["static/about", "static/About"])
def test_a_post_in_a_folder_that_is_a_static_file_is_a_clash(
    make_site: MakeSite, tmp_path: Path, static: str
) -> None:
    """A file where a page needs a folder: reported at the post, before anything of the
    new site replaces the old one (the pages are written while the build runs)."""
    root = make_site({"posts/b.md": post("B", "2026-01-02")})
    out = tmp_path / "out"
    assert quick_build(root, "--out", out).code == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    (root / "posts/c.md").write_text(post("C", "2026-01-03", permalink="/about/c/"))
    (root / static).parent.mkdir(exist_ok=True)
    (root / static).write_text("not a folder")
    result = quick_build(root, "--out", out)
    assert result.code == 1
    expected = f"posts/c.md:4: {static} is a file where the page of posts/c.md needs a folder"
    assert expected in result.err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert beside(out) == sorted(["out", root.name, "set aside"])  # no staging left


# --- the property ------------------------------------------------------------------------

SEGMENTS = st.sampled_from(["posts", "b", "x-1", ":year", ":month", ":day", "~p", "v1.0"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    folders = draw(st.lists(SEGMENTS, max_size=3))
    name = draw(st.sampled_from([":slug", ":title", ":year-:slug", ":title-:day"]))
    end = draw(st.sampled_from(["/", ".html"]))
    return "/" + "".join(f"{f}/" for f in folders) + name + end


@st.composite
def blogs(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    base = draw(st.sampled_from(["https://blog.example.org/", "https://example.org/b/"]))
    config = BLOG_TOML.replace("https://blog.example.org/", base)
    config += f'permalink = "{draw(patterns())}"\n'
    files = {}
    names = draw(
        st.lists(st.sampled_from(["Alpha", "beta-Two", "Ünï", "x_y"]), min_size=1, unique=True)
    )
    for number, name in enumerate(names, start=1):
        day = f"2025-{number:02d}-{number + 9:02d}"
        meta = {"tags": "[Topic]"} if number % 2 else {}
        files[f"posts/{day}-{name}.md"] = post(f"Post {number}", day, **meta)
    return config, files


def answers(site: hosting.Snapshot, url: str) -> bool:
    """Whether a host following the build's files answers `url` with a page or a file."""
    parts = urlsplit(url)
    segments = unquote(parts.path)[1:].split("/")
    return hosting.lookup(site, segments, "", "text/html").status == 200


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blogs())
def test_every_url_the_site_gives_answers(blog: tuple[str, dict[str, str]]) -> None:
    config, files = blog
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_files(root, {"blog.toml": config, **files})
        try:
            outputs = build_site(root, BuildOptions(now=dt.datetime.fromisoformat(NOW)))
        except BuildError as exc:
            # two names may give one URL under a pattern without :slug's lowercasing
            assert all("same URL" in e.message for e in exc.errors), exc
            return
    files_out = {o.path: o.data for o in outputs}
    base = urlsplit(config.split('url = "')[1].split('"')[0])
    site = hosting.Snapshot.of(base.path, files_out)
    given_urls: list[str] = []
    for path, data in files_out.items():
        if path.endswith(".html"):
            page = urljoin(f"{base.scheme}://{base.netloc}{base.path}", urls.served_path(path))
            tree = lxml.html.fromstring(data)
            for href in tree.xpath("//a/@href | //link/@href"):
                absolute = urljoin(page, href)
                if absolute.startswith(f"{base.scheme}://{base.netloc}{base.path}"):
                    given_urls.append(absolute.partition("#")[0])
    feed = feedparser.parse(files_out["feed/rss.xml"])
    given_urls += [entry.link for entry in feed.entries]
    sitemap = lxml.etree.fromstring(files_out["sitemap.xml"])
    given_urls += [loc.text for loc in sitemap.iter("{*}loc")]
    llms = parse_llms_file(files_out["llms.txt"].decode())
    given_urls += [link["url"] for links in llms["sections"].values() for link in links]
    pages = {
        o for o in files_out if o.endswith(".html") and o.rpartition(".")[0] + ".md" in files_out
    }
    assert len(pages) == len(files)  # each post's page has its twin beside it
    missing = sorted({u for u in given_urls if not answers(site, u)})
    assert missing == []
    files_out["_headers"].decode("ascii")  # header values are ASCII: names percent-encoded
    for page in pages:  # and each page's Link names its twin, as its head does
        segments = unquote(base.path + urls.served_path(page))[1:].split("/")
        link = dict(hosting.lookup(site, segments, "", "text/html").headers)["Link"]
        twin = quote(page.rpartition(".")[0].rpartition("/")[2] + ".md")
        assert link.startswith(f'<{twin}>; rel="alternate"') or link.startswith("<index.md>")


def rule_count(headers: str) -> int:
    return sum(1 for line in headers.splitlines() if line.startswith("/"))


def test_html_posts_past_cloudflares_rule_limit(make_site: MakeSite) -> None:
    """Two `_headers` rules per `.html` post while they fit in Cloudflare's 100; past it
    none, and a warning (the pages' heads still link their twins)."""
    few = {f"posts/2015-05-{n:02d}-P{n}.md": post(f"P{n}", f"2015-05-{n:02d}") for n in (1, 2)}
    out = built(make_site(few, JEKYLL))
    assert rule_count((out / "_headers").read_text()) == 3 + 2 * 2 + 2 + 1  # + JSON Feed
    many = {
        f"posts/2015-{n // 28 + 1:02d}-{n % 28 + 1:02d}-P{n}.md": post(
            f"P{n}", f"2015-{n // 28 + 1:02d}-{n % 28 + 1:02d}"
        )
        for n in range(60)
    }
    root = make_site(many, JEKYLL)
    result = quick_build(root)
    assert result.code == 0, result.err
    assert (
        "blog.toml:6: warning: _headers has no rules for the 62 posts at `.html` URLs"
    ) in result.err
    headers = (root / "public/_headers").read_text()
    assert rule_count(headers) == 3 + 2 + 1  # patterns, llms.txt, llms-full.txt, feed.json
    assert "P59.md" not in headers
    page = head_links(root / "public/blog/2015/03/04/P59.html")
    assert page["alternate text/markdown"] == "/blog/2015/03/04/P59.md"


def test_a_relative_card_image_resolves_against_a_html_posts_folder(make_site: MakeSite) -> None:
    files: dict[str, str | bytes] = {
        "posts/2015-05-21-Tips.md": post("Tips", "2015-05-21", image="card.png"),
        "static/blog/2015/05/21/card.png": b"\x89PNG\r\n\x1a\n",
    }
    out = built(make_site(files, JEKYLL))
    page = lxml.html.parse(str(out / "blog/2015/05/21/Tips.html"))
    images = page.xpath("//meta[@property='og:image']/@content")
    assert images == ["https://blog.example.org/blog/2015/05/21/card.png"]
