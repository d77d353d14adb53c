"""Feeds, judged by feedparser and a strict XML parser, on the sample blog and a hostile one."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import feedparser
import lxml.etree
import lxml.html
import pytest
from conftest import BLOG_TOML, build, copy_sample, now, post, snapshot
from hypothesis import example, given, settings
from hypothesis import strategies as st

from blogkeeper import links
from blogkeeper.build import assemble, build_site, render_post
from blogkeeper.config import SiteConfig
from blogkeeper.errors import BuildError
from blogkeeper.feeds import feed_html, render_feeds, xml_safe
from blogkeeper.model import BuildOptions, Output, Post, RenderedPost, pack

ATOM = "{http://www.w3.org/2005/Atom}"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
SAMPLE_URL = "https://tensors-and-tea.example.org/"
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def strict(data: bytes) -> lxml.etree._Element:
    """The feed parsed by lxml with recovery off: any well-formedness error raises."""
    parser = lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    return lxml.etree.fromstring(data, parser)


def judged(data: bytes) -> feedparser.FeedParserDict:
    """The feed as feedparser reads it, failing on anything it has to work around."""
    strict(data)
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def raw_items(data: bytes) -> list[dict[str, str]]:
    """Link, content and summary of each item as the XML has them: feedparser would
    sanitise the HTML and resolve relative URLs itself, hiding what a reader receives."""
    root = strict(data)
    if root.tag == "rss":
        return [
            {
                "link": item.findtext("link", ""),
                "content": item.findtext("content:encoded", "", NS),
                "summary": item.findtext("description", ""),
            }
            for item in root.iter("item")
        ]
    return [
        {
            "link": entry.find(f"{ATOM}link").get("href", ""),  # type: ignore[union-attr]
            "content": entry.findtext(f"{ATOM}content", ""),
            "summary": entry.findtext(f"{ATOM}summary", ""),
        }
        for entry in root.iter(f"{ATOM}entry")
    ]


def links_in(fragment: str) -> list[str]:
    """Every URL in an HTML fragment, found by lxml's HTML parser (srcset included)."""
    document = lxml.html.document_fromstring(f"<html><body>{fragment}</body></html>")
    urls = [link for _, _, link, _ in document.iterlinks()]
    for value in document.xpath("//@srcset"):
        urls += [candidate.split()[0] for candidate in value.split(",") if candidate.strip()]
    return urls


def is_absolute(url: str) -> bool:
    """A URL a reader can follow on its own: with a scheme (`//host/x` is not: it needs
    the page's, which a feed reader does not have)."""
    return bool(urlsplit(url).scheme)


def feed_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.xml") if p.name in ("rss.xml", "atom.xml"))


# --- the sample blog at the repository root -------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    out = folder / "public"
    result = build(copy_sample(folder / "site"), "--out", str(out))
    assert result.code == 0, result.err
    return out


def test_sample_feeds_parse_and_carry_whole_posts(sample: Path) -> None:
    """The site's feed carries whole posts; topic and series feeds (by default) intros."""
    files = feed_files(sample)
    assert {p.relative_to(sample).as_posix() for p in files} >= {
        "feed/rss.xml",
        "feed/atom.xml",
        "topics/ai/rss.xml",
        "topics/ai/atom.xml",
        "series/llm-from-scratch/rss.xml",
        "series/llm-from-scratch/atom.xml",
    }
    judge = {
        "feed/rss.xml",
        "feed/atom.xml",
        "topics/ai/rss.xml",
        "series/llm-from-scratch/atom.xml",
    }
    headings: dict[str, list[str]] = {}
    checked: set[str] = set()
    for path in files:
        data = path.read_bytes()
        # Every feed is strict XML; feedparser (slow) judges some of each kind.
        if path.relative_to(sample).as_posix() in judge:
            assert judged(data).entries, path
        for item in raw_items(data):
            content, link = item["content"], item["link"]
            if content + item["summary"] in checked:  # the same post in another feed
                continue
            checked.add(content + item["summary"])
            if link not in headings:
                page = sample / urlsplit(link).path.lstrip("/") / "index.html"
                headings[link] = lxml.html.parse(str(page)).xpath("//main//article//h2/text()")
            if path.relative_to(sample).parts[0] == "feed":
                # The whole post: the page's article body is in the item, not just the intro.
                assert headings[link] and all(h in content for h in headings[link]), (path, link)
                assert len(content) > len(item["summary"])
            else:
                assert not any(h in content for h in headings[link]), (path, link)
                assert content.startswith(item["summary"]) and "Read more" in content
            urls = links_in(content) + links_in(item["summary"])
            assert [u for u in urls if not is_absolute(u)] == []


def test_sample_rss_channel(sample: Path) -> None:
    channel = strict((sample / "feed/rss.xml").read_bytes()).find("channel")
    assert channel is not None
    assert channel.findtext("title") == "Tensors & Tea"
    assert channel.findtext("link") == "https://tensors-and-tea.example.org/"
    assert channel.findtext("language") == "en"
    self_link = channel.find("atom:link", NS)
    assert self_link is not None
    assert self_link.get("rel") == "self"
    assert self_link.get("href") == "https://tensors-and-tea.example.org/feed/rss.xml"
    items = channel.findall("item")
    dates = [parsedate_to_datetime(item.findtext("pubDate", "")) for item in items]
    assert dates == sorted(dates, reverse=True)
    newest = parsedate_to_datetime(channel.findtext("lastBuildDate", ""))
    assert newest == dates[0] and newest.utcoffset() == dt.timedelta(hours=1)  # BST
    guids = [item.findtext("guid") for item in items]
    assert len(set(guids)) == len(guids) == min(20, len(list(sample.glob("20*/*/*/index.html"))))
    assert all(item.find("guid").get("isPermaLink") == "true" for item in items)  # type: ignore[union-attr]
    assert [item.findtext("link") for item in items] == guids
    full_text_rss = next(i for i in items if "full-text-rss" in i.findtext("link", ""))
    assert full_text_rss.findtext("pubDate") == "Wed, 22 Oct 2025 00:00:00 +0100"
    assert full_text_rss.findtext("dc:creator", namespaces=NS) == "Sam Okafor"
    assert [c.text for c in full_text_rss.findall("category")] == ["Blogkeeping", "Website design"]


def test_sample_atom_dates_follow_updated(sample: Path) -> None:
    parsed = judged((sample / "feed/atom.xml").read_bytes())
    entry = next(e for e in parsed.entries if "full-text-rss" in e.link)
    assert entry.published == "2025-10-22T00:00:00+01:00"
    assert entry.updated == "2025-11-03T00:00:00+00:00"  # GMT again by November
    assert parsed.feed.updated == max(e.updated for e in parsed.entries)


def test_sample_pages_link_the_feeds_that_concern_them(sample: Path) -> None:
    def alternates(page: str) -> list[tuple[str, str]]:
        root = lxml.html.parse(str(sample / page)).getroot()
        links = root.xpath("//head/link[@rel='alternate'][contains(@type, 'xml')]")
        return [(link.get("type"), link.get("href")) for link in links]

    main = [
        ("application/rss+xml", "/feed/rss.xml"),
        ("application/atom+xml", "/feed/atom.xml"),
    ]
    assert alternates("index.html") == main
    assert alternates("2026/08/adding-llms-txt/index.html") == main
    assert alternates("topics/ai/index.html") == [
        *main,
        ("application/rss+xml", "/topics/ai/rss.xml"),
        ("application/atom+xml", "/topics/ai/atom.xml"),
    ]
    assert alternates("series/llm-from-scratch/index.html")[2:] == [
        ("application/rss+xml", "/series/llm-from-scratch/rss.xml"),
        ("application/atom+xml", "/series/llm-from-scratch/atom.xml"),
    ]


def test_sample_topic_and_series_feeds_hold_their_posts(sample: Path) -> None:
    series = judged((sample / "series/llm-from-scratch/rss.xml").read_bytes())
    assert series.feed.link == "https://tensors-and-tea.example.org/series/llm-from-scratch/"
    page = lxml.html.parse(str(sample / "series/llm-from-scratch/index.html"))
    parts = [SAMPLE_URL + a.lstrip("/") for a in page.xpath("//ol[@class='series-list']//a/@href")]
    assert len(parts) >= 4
    # Newest first, as every feed: the series page lists them in part order.
    assert [e.link for e in series.entries] == list(reversed(parts))
    musings = judged((sample / "topics/musings/atom.xml").read_bytes())
    assert all("Musings" in [t.term for t in e.tags] for e in musings.entries)


def test_sample_builds_are_byte_identical(sample: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert build(copy_sample(tmp_path / "site"), "--out", str(again)).code == 0
    assert snapshot(again) == snapshot(sample)


# --- a hostile blog ----------------------------------------------------------------------

HOSTILE_TOML = """\
title = "Hostile \\uFFFE & <Co>"
url = "https://h.example.org/blog/"
description = "Edge cases."
author = "Tess <Tester>"
timezone = "America/New_York"

[feed]
items = 5
atom = true
topics = "full"
series = "full"
"""

HOSTILE_BODY = """\
Intro with a [root link](/about/), a [page link](../other/), a [fragment](#deep-section),
an image ![pic](img/pic.png), a [protocol-relative](//cdn.example.net/x.png) one,
[external](https://example.com/x?a=1&b=2) and [mail](mailto:me@example.org).
Noncharacters: \ufffe\uffff end.

<!--more-->

## Deep section

A note[^1] and math $x^2 < y$ and ]]> and & and < in text. Emoji: 🫖.

$$
\\frac{a}{b}
$$

<img src="pics/a.png" srcset="pics/a.png 1x, /pics/a@2x.png 2x" alt="a">
<a href='single.html'>single</a> <a href=unquoted.html>unquoted</a>
<a
  href="multi/line.html">multi-line tag</a>

```python
print("]]>")  # CDATA's end inside code
```

[^1]: The note, with a [link](note/).
"""

POST_URL = "https://h.example.org/blog/2024/02/hostile/"


def hostile_files() -> dict[str, str | bytes]:
    control_title = r"Bell and escape <b>bold</b> & ]]> 😀 \uFFFE end"
    return {
        "posts/hostile.md": post(
            control_title,
            "2024-02-29 09:30",
            HOSTILE_BODY,
            tags=r'[Hostile, "Tag\uFFFF"]',
            series="Edge cases",
            part="1",
        ),
        "posts/summer.md": post(
            "Summer",
            "2024-07-04 12:00",
            series="Edge cases",
            part="2",
            updated="2024-08-01 10:00",
            tags="[Hostile]",
        ),
        "posts/markup.md": post("<script>alert(1)</script> & <i>it</i>", "2024-03-10 12:00"),
        "posts/filler-1.md": post("Filler 1", "2023-01-01"),
        "posts/filler-2.md": post("Filler 2", "2023-01-02"),
        "posts/filler-3.md": post("Filler 3", "2023-01-03"),
        "posts/draft.md": post("A draft", "2024-09-01", draft="true"),
        "posts/future.md": post("From the future", "2027-01-01"),
        # The body's relative links must resolve: a link to nothing fails the build.
        **{f"static/2024/02/{name}": "x" for name in LINK_TARGETS},
    }


LINK_TARGETS = [
    "other/index.html",
    *(f"hostile/{name}" for name in ("img/pic.png", "pics/a.png", "note/index.html")),
    *(f"hostile/{name}" for name in ("single.html", "unquoted.html", "multi/line.html")),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile blog, built once; tests that change it build their own copy."""
    root = tmp_path_factory.mktemp("hostile")
    for name, text in {"blog.toml": HOSTILE_TOML, **hostile_files()}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(str(text), encoding="utf-8")
    out = root / "public"
    result = build(root, "--out", str(out))
    assert result.code == 0, result.err
    return out


def test_hostile_feeds_are_well_formed(hostile: Path) -> None:
    out = hostile
    files = feed_files(out)
    assert len(files) == 8  # RSS and Atom for the site, topics Hostile and Tag, a series
    for path in files:
        data = path.read_bytes()
        assert not FORBIDDEN.search(data.decode("utf-8")), path
        judged(data)


def test_hostile_titles_lose_only_what_xml_forbids(hostile: Path) -> None:
    out = hostile
    for name in ("rss.xml", "atom.xml"):
        parsed = judged((out / "feed" / name).read_bytes())
        titles = [e.title for e in parsed.entries]
        assert "Bell and escape <b>bold</b> & ]]> 😀  end" in titles
        assert "<script>alert(1)</script> & <i>it</i>" in titles
        assert parsed.feed.title == "Hostile  & <Co>"
    channel = strict((out / "feed/rss.xml").read_bytes()).find("channel")
    assert channel is not None
    hostile_item = channel.findall("item")[2]
    assert [c.text for c in hostile_item.findall("category")] == ["Hostile", "Tag"]
    assert hostile_item.findtext("dc:creator", namespaces=NS) == "Tess <Tester>"
    assert hostile_item.find("author") is None  # RSS <author> must be an e-mail address


def test_hostile_content_is_whole_and_every_url_absolute(hostile: Path) -> None:
    out = hostile
    for name in ("rss.xml", "atom.xml"):
        data = (out / "feed" / name).read_bytes()
        judged(data)
        item = next(i for i in raw_items(data) if i["link"] == POST_URL)
        content, summary = item["content"], item["summary"]
        urls = links_in(content)
        assert [u for u in urls + links_in(summary) if not is_absolute(u)] == []
        expected = {
            "https://h.example.org/about/",
            "https://h.example.org/blog/2024/02/other/",
            POST_URL + "#deep-section",
            POST_URL + "img/pic.png",
            "https://cdn.example.net/x.png",  # protocol-relative: the post's scheme
            "https://example.com/x?a=1&b=2",
            "mailto:me@example.org",
            POST_URL + "#fn-1",
            POST_URL + "#fnref-1",
            POST_URL + "note/",
            POST_URL + "pics/a.png",
            "https://h.example.org/pics/a@2x.png",
            POST_URL + "single.html",
            POST_URL + "unquoted.html",
            POST_URL + "multi/line.html",
        }
        assert expected <= set(urls), expected - set(urls)
        assert "Deep section" in content and "The note" in content  # below the fold
        assert "Deep section" not in summary
        assert "<math" in content and "<mfrac>" in content
        assert "Noncharacters:  end." in content and "🫖" in content
        assert "]]&gt;" in content


def test_hostile_dates_order_and_limit(hostile: Path) -> None:
    out = hostile
    channel = strict((out / "feed/rss.xml").read_bytes()).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert [i.findtext("link", "").split("/")[-2] for i in items] == [
        "summer",
        "markup",
        "hostile",
        "filler-3",
        "filler-2",
    ]
    assert [i.findtext("pubDate") for i in items[:3]] == [
        "Thu, 04 Jul 2024 12:00:00 -0400",
        "Sun, 10 Mar 2024 12:00:00 -0400",  # hours after the switch to daylight time
        "Thu, 29 Feb 2024 09:30:00 -0500",
    ]
    assert channel.findtext("lastBuildDate") == "Thu, 01 Aug 2024 10:00:00 -0400"
    atom = judged((out / "feed/atom.xml").read_bytes())
    leap = next(e for e in atom.entries if e.link == POST_URL)
    assert leap.published == "2024-02-29T09:30:00-05:00"
    assert leap.published_parsed == time.struct_time((2024, 2, 29, 14, 30, 0, 3, 60, 0))
    assert atom.entries[0].updated == "2024-08-01T10:00:00-04:00"
    assert atom.feed.updated == "2024-08-01T10:00:00-04:00"


def test_hostile_drafts_and_future_posts_stay_out(hostile: Path) -> None:
    out = hostile
    for path in feed_files(out):
        text = path.read_text(encoding="utf-8")
        assert "A draft" not in text and "From the future" not in text


def test_drafts_stay_out_of_feeds_even_in_a_drafts_build(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    files = {
        "posts/draft.md": post("A draft", "2024-09-01", draft="true", tags="[T]"),
        "posts/real.md": post("Real", "2024-01-01", tags="[T]"),
    }
    out = tmp_path / "out"
    assert build(make_site(files), "--out", str(out), "--drafts").code == 0
    assert (out / "2024/09/draft/index.html").exists()  # the preview shows it
    for path in feed_files(out):
        titles = [e.title for e in judged(path.read_bytes()).entries]
        assert titles == ["Real"], path


def test_hostile_group_feeds(hostile: Path) -> None:
    out = hostile
    series = judged((out / "series/edge-cases/atom.xml").read_bytes())
    assert [e.link for e in series.entries] == [
        "https://h.example.org/blog/2024/07/summer/",
        POST_URL,
    ]
    assert series.feed.id == "https://h.example.org/blog/series/edge-cases/atom.xml"
    tag = judged((out / "topics/tag/rss.xml").read_bytes())
    assert [e.link for e in tag.entries] == [POST_URL]


def test_guids_survive_an_unrelated_post(make_site: Callable[..., Path], tmp_path: Path) -> None:
    root = make_site(hostile_files(), config=HOSTILE_TOML)
    out = tmp_path / "before"
    assert build(root, "--out", str(out)).code == 0

    def guids(folder: Path) -> dict[str, str]:
        channel = strict((folder / "feed/rss.xml").read_bytes()).find("channel")
        assert channel is not None
        return {i.findtext("title", ""): i.findtext("guid", "") for i in channel.findall("item")}

    before = guids(out)
    assert len(set(before.values())) == len(before)
    make_site({"posts/unrelated.md": post("Unrelated", "2024-05-01")}, config=HOSTILE_TOML)
    later = tmp_path / "later"
    assert build(root, "--out", str(later)).code == 0
    after = guids(later)
    assert "Unrelated" in after and len(set(after.values())) == len(after)
    assert {t: g for t, g in after.items() if t in before} == {
        t: g for t, g in before.items() if t in after
    }


def test_hostile_builds_are_byte_identical(hostile: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert build(hostile.parent, "--out", str(again)).code == 0
    assert snapshot(again) == snapshot(hostile)


def test_a_lone_surrogate_in_front_matter_is_an_error(make_site: Callable[..., Path]) -> None:
    root = make_site({"posts/a.md": post(r"Half \uD800 a character", "2024-01-01")})
    result = build(root)
    assert result.code == 1
    assert "posts/a.md:2: `title` contains a lone surrogate" in result.err
    assert "Traceback" not in result.err


def test_zero_posts_still_give_valid_feeds(make_site: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert build(make_site({}, BLOG_TOML + "[feed]\natom = true\n"), "--out", str(out)).code == 0
    assert [p.relative_to(out).as_posix() for p in feed_files(out)] == [
        "feed/atom.xml",
        "feed/rss.xml",
    ]
    rss = judged((out / "feed/rss.xml").read_bytes())
    atom = judged((out / "feed/atom.xml").read_bytes())
    assert rss.entries == [] and atom.entries == []
    assert atom.feed.updated == "1970-01-01T00:00:00+00:00"  # not the wall clock


def test_full_text_off_gives_intros(make_site: Callable[..., Path], tmp_path: Path) -> None:
    config = (
        'title = "T"\nurl = "https://t.example.org/"\n\n[feed]\nfull_text = false\natom = true\n'
    )
    body = "The intro, with [a link](#below).\n\n<!--more-->\n\n## Below\n\nThe rest.\n"
    root = make_site({"posts/p.md": post("P", "2024-01-01", body)}, config=config)
    out = tmp_path / "out"
    assert build(root, "--out", str(out)).code == 0
    for name in ("rss.xml", "atom.xml"):
        data = (out / "feed" / name).read_bytes()
        judged(data)
        content = raw_items(data)[0]["content"]
        assert "The intro" in content and "The rest" not in content
        assert links_in(content) == [
            "https://t.example.org/2024/01/p/#below",
            "https://t.example.org/2024/01/p/",
        ]


def test_non_ascii_topic_and_series_feeds_name_their_own_files(
    make_site: Callable[..., Path],
) -> None:
    files = {"posts/p.md": post("P", "2024-01-01", tags="[naïve]", series="日本語", part="1")}
    root = make_site(files, BLOG_TOML + "[feed]\natom = true\n")
    built = {o.path: o.data for o in build_site(root, BuildOptions(now=now()))}
    site_url = "https://blog.example.org/"

    def served(url: str) -> str:
        """The output file an absolute URL from a feed names; it must be plain ASCII,
        encoded once: decoding it once more would change a doubly-encoded `%25C3`."""
        assert url.isascii() and url.startswith(site_url), url
        path = unquote(url[len(site_url) :])
        assert unquote(path) == path, url
        return path + "index.html" if path.endswith("/") else path

    for folder in ("topics/naïve/", "series/日本語/"):
        assert folder + "index.html" in built
        for name in ("rss.xml", "atom.xml"):
            parsed = judged(built[folder + name])
            assert [e.title for e in parsed.entries] == ["P"]
            by_rel = {link.rel: link.href for link in parsed.feed.links}
            assert served(by_rel["self"]) == folder + name
            assert served(by_rel["alternate"]) == folder + "index.html"
            if name == "atom.xml":
                assert served(parsed.feed.id) == folder + name
            else:
                assert served(parsed.feed.link) == folder + "index.html"


# --- the pure functions, directly --------------------------------------------------------

BASE = "https://x.example/blog/2026/03/post/"


def shape(fragment: str) -> list[tuple[object, ...]]:
    """What an HTML fragment means to an HTML parser: each node's tag, attributes, text
    and tail, so that two spellings of the same HTML compare equal."""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    return [(e.tag, sorted(e.attrib.items()), e.text or "", e.tail or "") for e in root.iter()]


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('<a href="#fn-1">1</a>', f'<a href="{BASE}#fn-1">1</a>'),
        ('<A HREF="/x">x</A>', '<a href="https://x.example/x">x</a>'),
        ('<img src="a.png" alt="A &amp; B"/>', f'<img src="{BASE}a.png" alt="A &amp; B">'),
        ('<a href="q?a=1&amp;b=2">q</a>', f'<a href="{BASE}q?a=1&amp;b=2">q</a>'),
        ('<a href="">self</a>', f'<a href="{BASE}">self</a>'),
        ('<a href=" /x\n">x</a>', '<a href="https://x.example/x">x</a>'),
        ('<a href="//cdn.example/x">x</a>', '<a href="https://cdn.example/x">x</a>'),
        ('<a href="https://e.example/">e</a>', '<a href="https://e.example/">e</a>'),
        ('<a href="mailto:a@b.example">m</a>', '<a href="mailto:a@b.example">m</a>'),
        ('<a href="http://[::1">v6</a>', '<a href="http://[::1">v6</a>'),  # kept as written
        ('<a name="n" id="i">n</a>', '<a name="n" id="i">n</a>'),
        ('<img srcset="a.png 1x,b.png 2x">', f'<img srcset="{BASE}a.png 1x, {BASE}b.png 2x">'),
        (
            '<video poster="p.jpg" src="v.mp4"></video><blockquote cite="/q">q</blockquote>',
            f'<video poster="{BASE}p.jpg" src="{BASE}v.mp4"></video>'
            '<blockquote cite="https://x.example/q">q</blockquote>',
        ),
        (
            '<pre><code>&lt;a href="x"&gt;</code></pre>',
            '<pre><code>&lt;a href="x"&gt;</code></pre>',
        ),
        ("<p>a\n<b>b</b>\n<a\nhref='y'>y</a></p>", f'<p>a\n<b>b</b>\n<a href="{BASE}y">y</a></p>'),
        ("<math><mi>x</mi><mo>&lt;</mo></math>", "<math><mi>x</mi><mo>&lt;</mo></math>"),
        ("lead\x01 &eacute; <b>\x0bb</b> ]]&gt;", "lead é <b>b</b> ]]&gt;"),
    ],
)
def test_feed_html_makes_every_url_absolute(fragment: str, expected: str) -> None:
    made = feed_html(links.parse(fragment), BASE)
    assert shape(made) == shape(expected), made
    assert not FORBIDDEN.search(made)


def test_urls_after_a_malformed_character_reference_are_made_absolute() -> None:
    # A parser that stops at `&#xZ` (HTMLParser with convert_charrefs=False) once left
    # every later URL in a feed relative.
    for fragment in ('<p>x &#xZ y <a href="/q">', 'x &#xZ; y &#xY; z <a href="/q">'):
        made = feed_html(links.parse(fragment), BASE)
        assert links_in(made) == ["https://x.example/q"], made


def test_xml_safe_drops_exactly_what_xml_forbids() -> None:
    kept = "tab\t lf\n cr\r é 😀 \u0085 \U0001fffe ]]> & <"
    assert xml_safe(kept) == kept
    assert xml_safe("a\x00b\x01c\x08d\x0be\x0cf\x1fg\ufffeh\uffffi\ud800j\udfffk") == "abcdefghijk"


def _feeds_of(title: str, body: str, tag: str) -> list[bytes]:
    """The XML feeds of a one-post site (see `_feed_outputs_of`)."""
    return [o.data for o in _feed_outputs_of(title, body, tag) if o.path.endswith(".xml")]


def _feed_outputs_of(title: str, body: str, tag: str) -> list[Output]:
    """The feeds of a one-post site, the post rendered as a build renders it; none if
    the renderer refuses the body, which it must do with a `BuildError` naming the post."""
    config = SiteConfig(root=Path("."), title=title or "t", url="https://x.example/", author=title)
    date = dt.datetime(2024, 2, 29, 9, 30, tzinfo=config.tz)
    one = Post(
        source="posts/p.md",
        title=title,
        date=date,
        updated=None,
        tags=(tag,) if tag.strip() else (),
        series=None,
        part=None,
        summary="",
        slug="p",
        draft=False,
        check_code=None,
        llms=True,
        packed_body=pack(body),
        body_line=5,
        fold=None,
        path="2024/02/p/",
    )
    try:
        rendering = render_post(one, config.absolute(one.path))
    except BuildError as exc:
        assert exc.errors and {e.path for e in exc.errors} == {"posts/p.md"}
        return []
    site = assemble(config, [RenderedPost(one, rendering)])
    return render_feeds(site)[0]


HTML_PIECES = [
    '<a href="x">',
    "<a href='/y' id=z>",
    "</a>",
    '<img src="//h/i" srcset="a 1x, b 2x">',
    "<![",
    "<!--",
    "-->",
    "]]>",
    "&",
    "&#xZ",
    "&amp;",
    "<",
    ">",
    '"',
    "\n",
    "\n\n",
    "\x01",
    "\ufffe",
    "http://[::1",
    "[l](#f)",
    "<math>",
    "<script>",
    "<p",
    "é",
]


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(min_size=1),
    body=st.text() | st.lists(st.sampled_from(HTML_PIECES) | st.text(max_size=3)).map("".join),
    tag=st.text(),
)
@example(title="0", body="<![0", tag="")  # HTMLParser asserted on it (Python < 3.13)
@example(title="0", body="a <![0 b > c <![x", tag="")
@example(title="0", body='<a href="http://[::1">v6</a> <img src="//[::1/x">', tag="")
def test_any_text_gives_well_formed_feeds(title: str, body: str, tag: str) -> None:
    for data in _feeds_of(title, body, tag):
        strict(data)
        assert feedparser.parse(data).bozo == 0


def _feed_outputs(root: Path, cache: bool = True) -> dict[str, bytes]:
    built = build_site(root, BuildOptions(now=now(), cache=cache))
    return {o.path: o.data for o in built if o.path.endswith(".xml")}


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("posts/a.md", "Rest.", "Rest, edited."),  # the HTML only
        ("posts/a.md", "Intro,", "Intro, edited,"),  # the intro too
        ("posts/a.md", '"A"', '"A, renamed"'),  # the title: the body is the same
        ("posts/a.md", "date: 2024-05-01", "date: 2024-05-01\nslug: other"),  # the URL
        ("posts/a.md", "date: 2024-05-01", "date: 2024-05-01\nupdated: 2024-06-01"),
        ("posts/b.md", "tags: [x]", "tags: [x, y]"),
        ("posts/b.md", "date: 2024-04-01", "date: 2024-05-02"),  # the order
        ("blog.toml", 'title = "Test blog"', 'title = "Renamed blog"'),
        ("blog.toml", 'url = "https://blog.example.org/"', 'url = "https://b.example.org/x/"'),
        ("blog.toml", 'timezone = "UTC"', 'timezone = "UTC"\n[feed]\nfull_text = false'),
    ],
)
def test_cached_builds_feeds_are_never_stale(
    make_site: Callable[..., Path], path: str, old: str, new: str
) -> None:
    body = 'Intro, [link](sub/).\n\n<!--more-->\n\nRest.\n\n<img src="/i.png">\n'
    root = make_site(
        {
            "posts/a.md": post("A", "2024-05-01", body, tags="[x]"),
            "posts/b.md": post("B", "2024-04-01", tags="[x]", series="S"),
            "static/2024/05/a/sub/index.html": "sub",
            "static/2024/05/other/sub/index.html": "sub",
            "static/i.png": b"\x89PNG\r\n\x1a\n",
        }
    )
    before = _feed_outputs(root)
    assert _feed_outputs(root) == before == _feed_outputs(root, cache=False)
    text = (root / path).read_text()
    assert old in text
    (root / path).write_text(text.replace(old, new, 1))
    after = _feed_outputs(root)
    assert after == _feed_outputs(root, cache=False) != before


# --- [feed] settings ----------------------------------------------------------------------

FEED_POSTS = {
    f"posts/p{n}.md": post(
        f"Post {n}",
        f"2026-01-{n + 1:02d}",
        f"Intro {n}.\n\n<!--more-->\n\n## Body heading {n}\n\nMore.\n",
        tags="[Topic]",
        series="Tour",
        part=str(n + 1),
    )
    for n in range(4)
}
CONFIG = "title = 'T'\nurl = 'https://blog.example.org/'\ntimezone = 'UTC'\n"


def built_feeds(make_site: Callable[..., Path], tmp_path: Path, feed: str) -> dict[str, bytes]:
    root = make_site(FEED_POSTS, CONFIG + "[feed]\n" + feed)
    result = build(root, "--out", tmp_path / "out", "--now", now().isoformat())
    assert result.code == 0, result.err
    return snapshot(tmp_path / "out")


def head_feeds(page: bytes) -> list[str]:
    doc = lxml.html.fromstring(page)
    return doc.xpath("//head/link[@rel='alternate'][contains(@type, 'xml')]/@href")


def test_by_default_topic_and_series_feeds_carry_ten_intros(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    files = built_feeds(make_site, tmp_path, "group_items = 3\n")
    assert not [p for p in files if p.endswith("atom.xml")]  # Atom only when asked for
    for path in ("topics/topic/rss.xml", "series/tour/rss.xml"):
        feed = judged(files[path])
        assert len(feed.entries) == 3  # group_items
        assert all("Body heading" not in e.content[0].value for e in feed.entries)
        assert all("Read more" in e.content[0].value for e in feed.entries)
    site_feed = judged(files["feed/rss.xml"])
    assert len(site_feed.entries) == 4
    assert all("Body heading" in e.content[0].value for e in site_feed.entries)


def test_feed_settings_turn_feeds_off_and_their_links_with_them(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    files = built_feeds(make_site, tmp_path, 'topics = "none"\nseries = "full"\n')
    feeds = sorted(p for p in files if p.endswith((".xml",)) and p != "sitemap.xml")
    assert feeds == ["feed/rss.xml", "series/tour/rss.xml"]
    assert head_feeds(files["topics/topic/index.html"]) == ["/feed/rss.xml"]
    assert head_feeds(files["series/tour/index.html"]) == ["/feed/rss.xml", "/series/tour/rss.xml"]
    assert b"atom.xml" not in files["index.html"]  # nor in the footer
    series = judged(files["series/tour/rss.xml"])
    assert all("Body heading" in e.content[0].value for e in series.entries)


def test_a_wrong_feed_kind_is_an_error_with_a_hint(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_site(FEED_POSTS, CONFIG + '[feed]\ntopics = "intros"\n')
    result = build(root, "--out", tmp_path / "out")
    assert result.code == 1
    assert "blog.toml:5: `feed.topics` must be one of 'full', 'intro', 'none'" in result.err
    assert "did you mean `intro`?" in result.err


def test_math_in_a_feed_keeps_its_tex_through_a_readers_sanitiser(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    """feedparser's sanitiser (what many readers run) keeps the annotation with the TeX."""
    root = make_site({"posts/m.md": post("M", "2026-01-01", "Euler: $e^{i\\pi} + 1 = 0$.\n")})
    assert build(root, "--out", tmp_path / "out").code == 0
    entry = judged((tmp_path / "out/feed/rss.xml").read_bytes()).entries[0]
    content = entry.content[0].value
    assert 'encoding="application/x-tex"' in content
    assert "e^{i\\pi} + 1 = 0" in content


def test_math_and_tex_shown_as_source_reach_the_feeds_intact(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    """MathML stays MathML in item content, and TeX shown as source stays code a reader
    can read, in every feed: RSS and Atom strict XML that feedparser reads without
    complaint, JSON Feed valid against its schema."""
    body = "Fine \\(a_1\\) and broken $x^$.\n\n\\[\n\\left( y\n\\]\n"
    files = {"posts/m.md": post("M", "2026-01-01", body)}
    root = make_site(files, BLOG_TOML + "\n[feed]\natom = true\n")
    assert build(root, "--out", str(tmp_path / "out")).code == 0
    contents = []
    for feed in ("feed/rss.xml", "feed/atom.xml"):
        data = (tmp_path / "out" / feed).read_bytes()
        judged(data)
        [item] = raw_items(data)
        contents.append(item["content"])
    [item] = json_feed((tmp_path / "out/feed/feed.json").read_bytes())["items"]
    contents.append(item["content_html"])
    for html_text in contents:
        content = lxml.html.fragment_fromstring(html_text, create_parent="div")
        [math] = content.xpath(".//*[local-name()='math']")
        assert math.get("alttext") == "a_1"
        sources = content.xpath(".//*[@class='math-source']")
        assert [s.tag for s in sources] == ["code", "pre"]
        assert [s.text_content() for s in sources] == ["x^", "\\left( y"]
        assert all(s.get("aria-label", "").startswith("TeX source: ") for s in sources)


# --- JSON Feed 1.1 -----------------------------------------------------------------------

# JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) as a JSON Schema, written from the
# specification: every field it defines with its type, the required ones required, and
# "one or both of content_html and content_text must be present". Extensions (keys
# starting with `_`) are allowed anywhere, as the specification allows them; any other key
# is not, so a misspelt field fails.
_URL = {"type": "string", "format": "uri", "pattern": "^https?://"}
_AUTHOR = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "url": _URL, "avatar": _URL},
    "minProperties": 1,
    "patternProperties": {"^_[A-Za-z]": {}},
    "additionalProperties": False,
}
_RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"  # RFC 3339 date-time
JSON_FEED_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string", "minLength": 1},
        "home_page_url": _URL,
        "feed_url": _URL,
        "description": {"type": "string"},
        "user_comment": {"type": "string"},
        "next_url": _URL,
        "icon": _URL,
        "favicon": _URL,
        "authors": {"type": "array", "items": _AUTHOR, "minItems": 1},
        "language": {"type": "string", "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"},
        "expired": {"type": "boolean"},
        "hubs": {"type": "array"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "url": _URL,
                    "external_url": _URL,
                    "title": {"type": "string"},
                    "content_html": {"type": "string"},
                    "content_text": {"type": "string"},
                    "summary": {"type": "string"},
                    "image": _URL,
                    "banner_image": _URL,
                    "date_published": {"type": "string", "pattern": _RFC3339},
                    "date_modified": {"type": "string", "pattern": _RFC3339},
                    "authors": {"type": "array", "items": _AUTHOR, "minItems": 1},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "language": {"type": "string"},
                    "attachments": {"type": "array"},
                },
                "patternProperties": {"^_[A-Za-z]": {}},
                "additionalProperties": False,
            },
        },
    },
    "patternProperties": {"^_[A-Za-z]": {}},
    "additionalProperties": False,
}


def json_feed(data: bytes) -> dict[str, Any]:
    """The JSON Feed, checked against the specification's schema; its items' ids unique."""
    import jsonschema

    assert not data.startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte order mark
    feed = json.loads(data.decode("utf-8"))
    jsonschema.Draft202012Validator.check_schema(JSON_FEED_SCHEMA)
    jsonschema.validate(feed, JSON_FEED_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert next(iter(feed)) == "version"  # "should appear at the very top"
    ids = [item["id"] for item in feed["items"]]
    assert len(ids) == len(set(ids))
    for item in feed["items"]:
        for key in ("date_published", "date_modified"):
            if key in item:
                assert dt.datetime.fromisoformat(item[key]).tzinfo is not None
    return feed


def test_json_feed_schema_refuses_what_the_specification_refuses() -> None:
    """The schema is a judge: each of these breaks a rule of the specification."""
    import jsonschema

    good = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "T",
        "items": [{"id": "1", "content_html": "<p>x</p>"}],
    }
    json_feed(json.dumps(good).encode())
    bad = [
        {**good, "version": "https://jsonfeed.org/version/1"},
        {k: v for k, v in good.items() if k != "title"},
        {**good, "items": [{"id": "1"}]},  # no content
        {**good, "items": [{"content_html": "x"}]},  # no id
        {**good, "items": [{"id": 1, "content_html": "x"}]},  # id not a string
        {**good, "items": [{"id": "1", "content_html": "x", "date_published": "2026-01-01"}]},
        {**good, "items": [{"id": "1", "content_html": "x", "summmary": "typo"}]},
        {**good, "authors": [{}]},
        {**good, "home_page_url": "/relative/"},
    ]
    for feed in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(feed, JSON_FEED_SCHEMA, cls=jsonschema.Draft202012Validator)


def test_sample_json_feeds_match_their_rss_feeds(sample: Path) -> None:
    """Every feed folder has a JSON Feed beside its RSS feed, valid against the spec, with
    the same items in the same order: ids and urls the RSS guids and links, the same
    titles, dates and item HTML."""
    rss_files = sorted(sample.rglob("rss.xml"))
    assert len(rss_files) > 5
    for rss_path in rss_files:
        feed = json_feed((rss_path.parent / "feed.json").read_bytes())
        rss_data = rss_path.read_bytes()
        rss = judged(rss_data)
        folder = rss_path.parent.relative_to(sample).as_posix() + "/"
        assert feed["feed_url"] == SAMPLE_URL + folder + "feed.json"
        assert feed["home_page_url"] == rss.feed.link
        assert feed["title"] == rss.feed.title
        assert feed["language"] == "en"
        assert feed["authors"] == [{"name": "Sam Okafor"}]
        items = feed["items"]
        assert [i["id"] for i in items] == [e.id for e in rss.entries]
        assert [i["url"] for i in items] == [e.link for e in rss.entries]
        assert [i["title"] for i in items] == [e.title for e in rss.entries]
        published = [dt.datetime.fromisoformat(i["date_published"]) for i in items]
        assert [d.utctimetuple()[:6] for d in published] == [
            tuple(e.published_parsed)[:6] for e in rss.entries
        ]
        assert [i["content_html"] for i in items] == [r["content"] for r in raw_items(rss_data)]
        for item in items:
            assert all(is_absolute(url) for url in links_in(item["content_html"]))
    site = json_feed((sample / "feed/feed.json").read_bytes())
    assert all("<!--more-->" not in i["content_html"] for i in site["items"])
    assert any("<pre" in i["content_html"] for i in site["items"])  # whole posts, code too


def test_json_feed_is_linked_wherever_feeds_are(sample: Path) -> None:
    page = lxml.html.fromstring((sample / "index.html").read_bytes())
    assert page.xpath("//head/link[@type='application/feed+json']/@href") == ["/feed/feed.json"]
    assert "/feed/feed.json" in page.xpath("//footer//a/@href")
    topic = lxml.html.fromstring((sample / "topics/ai/index.html").read_bytes())
    assert topic.xpath("//head/link[@type='application/feed+json']/@href") == [
        "/feed/feed.json",
        "/topics/ai/feed.json",
    ]
    assert f"({SAMPLE_URL}feed/feed.json)" in (sample / "llms.txt").read_text()
    assert (
        "/feed/feed.json\n  Content-Type: application/feed+json\n"
        in (sample / "_headers").read_text()
    )


def test_json_feed_off_leaves_no_trace(make_site: Callable[..., Path], tmp_path: Path) -> None:
    files = built_feeds(make_site, tmp_path, "json = false\n")
    assert not [p for p in files if p.endswith(".json")]
    assert not [p for p, data in files.items() if b"feed.json" in data or b"feed+json" in data]


@settings(max_examples=40, deadline=None)
@given(
    title=st.text(min_size=1),
    body=st.text() | st.lists(st.sampled_from(HTML_PIECES) | st.text(max_size=3)).map("".join),
    tag=st.text(),
)
def test_any_text_gives_a_valid_json_feed(title: str, body: str, tag: str) -> None:
    feeds = [o for o in _feed_outputs_of(title, body, tag) if o.path.endswith(".json")]
    for output in feeds:
        feed = json_feed(output.data)
        assert [i["title"] for i in feed["items"]] == [title]


def test_a_feed_kept_by_key_is_made_again_when_a_post_it_carries_changes(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    """`blogkeeper build` makes a feed again only when its key (blog.toml, its plan and
    its posts) differs from the last build's: an edit to a post it does not carry keeps it."""
    from conftest import quick_build

    files = {f"posts/p{n}.md": post(f"P{n}", f"2026-01-{n + 1:02d}", tags="[AI]") for n in range(4)}
    root = make_site(files, BLOG_TOML + "\n[feed]\nitems = 2\n")
    out = tmp_path / "out"

    def inodes(folder: str) -> dict[str, int]:
        feeds = (p for p in (out / folder).iterdir() if p.suffix in (".xml", ".json"))
        return {p.name: p.stat().st_ino for p in feeds}

    assert quick_build(root, "--out", out).code == 0
    main, topic = inodes("feed"), inodes("topics/ai")
    assert quick_build(root, "--out", out).code == 0
    assert inodes("feed") == main and inodes("topics/ai") == topic
    (root / "posts/p0.md").write_text(post("P0 edited", "2026-01-01", tags="[AI]"))
    assert quick_build(root, "--out", out).code == 0  # p0, the oldest, is not in feed/
    assert inodes("feed") == main
    assert inodes("topics/ai") != topic and "P0 edited" in (out / "topics/ai/rss.xml").read_text()
    (root / "posts/p3.md").write_text(post("P3 edited", "2026-01-04", tags="[AI]"))
    assert quick_build(root, "--out", out).code == 0
    assert "P3 edited" in (out / "feed/rss.xml").read_text()
