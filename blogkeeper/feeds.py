"""Full-text RSS 2.0, Atom 1.0 and JSON Feed 1.1 feeds for the site, each topic and each
series.

RSS and Atom are built with feedgen, JSON Feed with the json module; every format carries
the same items, from one `FeedSpec`. Every value that goes into a feed is made safe for
XML first (the characters XML 1.0 forbids are dropped), and every URL inside item content is made
absolute (`feed_html`, on lxml's parse of the post's HTML), so no post can break a feed or
a reader. Pure: a `Site` in, `Output` values out (and, for a caller that keeps files by
key, a question for each file: is it kept?); reads no file, writes no file, and
never asks the clock — feedgen's now() defaults for `lastBuildDate` and `updated` are
always overridden with post dates.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lxml.html
from feedgen.feed import FeedGenerator

from blogkeeper import __version__, urls
from blogkeeper.config import SiteConfig
from blogkeeper.links import parse, resolved_html
from blogkeeper.model import Earlier, Output, RenderedPost, Site

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry

# A feed with no posts has to name some time for Atom's required <updated>; the epoch is
# honest ("nothing published yet") and, unlike the wall clock, the same in every build.
NOTHING_PUBLISHED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class FeedItem:
    """A post as feeds carry it: HTML with every URL absolute, made safe for XML."""

    entry: RenderedPost
    url: str
    content: str
    intro: str


@dataclass(frozen=True)
class FeedSpec:
    """One feed: where it lives, what it is called, and its items (newest first)."""

    folder: str  # "feed/", "topics/ai/", "series/llm-from-scratch/"
    title: str
    description: str
    page: str  # the site path of the HTML page the feed mirrors
    items: tuple[FeedItem, ...]


def render_feeds(
    site: Site,
    earlier: Earlier | None = None,
    kept: Callable[[str, Any], bool] | None = None,
) -> tuple[list[Output], list[str]]:
    """RSS (and Atom) files for the whole site, and each topic and series as configured:
    the files made, and the paths of all. A feed whose plan and posts equal those of
    `earlier`'s build keeps its files. `kept(path, inputs)` says whether the file at
    `path`, made from `inputs`, is held already (a `Sink.reuse` by its key): a feed all of
    whose files are is not made."""
    outputs, paths = [], []
    made: dict[tuple[str, bool], FeedItem] = {}  # a post is in several feeds: made once
    earlier = earlier or Earlier()
    config = site.config
    for plan, entries in _plans(site):
        found = urls.feed_files(plan.folder, config.feed.atom, config.feed.json)
        paths += [path for path, _, _ in found]
        inputs = (config, plan, entries)
        # Each file is asked (a list, not a generator): one not kept is to be made.
        if kept is not None and all([kept(path, inputs) for path, _, _ in found]):
            continue

        def files(
            plan: _Plan = plan,
            entries: tuple[RenderedPost, ...] = entries,
            found: list[tuple[str, str, str]] = found,
        ) -> list[Output]:
            spec = _spec(config, plan, entries, made)
            builders = {urls.RSS_TYPE: _rss, urls.ATOM_TYPE: _atom, urls.JSON_FEED_TYPE: json_feed}
            return [Output(path, builders[kind](config, spec, path)) for path, kind, _ in found]

        outputs += earlier.value(plan.folder, inputs, files)
    return outputs, paths


def _plans(site: Site) -> list[tuple[_Plan, tuple[RenderedPost, ...]]]:
    """Every feed of the site, and the posts it carries."""
    config, feed = site.config, site.config.feed
    about = config.description or f"Posts from {config.title}."
    main = _Plan(urls.FEED_FOLDER, config.title, about, "", feed.full_text, feed.items)
    plans = [(main, _newest(site.posts, main.items))]
    kinds = (
        (site.topics, feed.topics, urls.topic_folder, "Posts about {} on {}."),
        (site.series, feed.series, urls.series_folder, "Every part of the series {} on {}."),
    )
    for groups, carries, folder_of, describe in kinds:
        for group in groups if carries != "none" else ():
            folder = folder_of(group.slug)
            title = f"{config.title}: {group.name}"
            text = describe.format(group.name, config.title)
            plan = _Plan(folder, title, text, folder, carries == "full", feed.group_items)
            plans.append((plan, _newest(group.posts, plan.items)))
    return plans


@dataclass(frozen=True)
class _Plan:
    folder: str
    title: str
    description: str
    page: str  # the site path of the HTML page the feed mirrors
    full_text: bool
    items: int


def _spec(
    config: SiteConfig,
    plan: _Plan,
    posts: Iterable[RenderedPost],
    made: dict[tuple[str, bool], FeedItem],
) -> FeedSpec:
    items = []
    for entry in posts:
        key = (entry.post.source, plan.full_text)
        if key not in made:
            made[key] = feed_item(config, entry, plan.full_text)
        items.append(made[key])
    return FeedSpec(plan.folder, plan.title, plan.description, plan.page, tuple(items))


def _newest(posts: Iterable[RenderedPost], limit: int) -> tuple[RenderedPost, ...]:
    """Published posts newest first; a draft never goes out, even in a --drafts build,
    because a reader keeps every item it has once fetched."""
    kept = [e for e in posts if not e.post.draft]
    kept.sort(key=lambda e: (e.post.date, e.post.source), reverse=True)
    return tuple(kept[:limit])


def feed_item(config: SiteConfig, entry: RenderedPost, full_text: bool = True) -> FeedItem:
    url = _uri(config, entry.post.path)
    intro = feed_html(parse(entry.intro), url)
    if full_text:
        content = feed_html(parse(entry.html), url)
    else:
        content = intro + f'<p><a href="{html.escape(url)}">Read more</a></p>\n'
    return FeedItem(entry, url, content, intro)


def _rss(config: SiteConfig, spec: FeedSpec, path: str) -> bytes:
    fg = _generator(config, spec, path, urls.RSS_TYPE)
    fg.load_extension("dc", atom=False, rss=True)
    for item in spec.items:
        fe = _entry(fg, config, item)
        if xml_safe(config.author):
            # RSS <author> must be an e-mail address; a name goes in dc:creator.
            fe.dc.dc_creator(xml_safe(config.author))
    return bytes(fg.rss_str(pretty=True))


def _atom(config: SiteConfig, spec: FeedSpec, path: str) -> bytes:
    fg = _generator(config, spec, path, urls.ATOM_TYPE)
    fg.id(_uri(config, path))
    # Atom requires an author for every entry: the feed's, inherited, is the site's.
    fg.author({"name": _text(config.author, _text(config.title, config.url))})
    for item in spec.items:
        _entry(fg, config, item)
    return bytes(fg.atom_str(pretty=True))


JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def json_feed(config: SiteConfig, spec: FeedSpec, path: str) -> bytes:
    """The feed as JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/): the same items as
    the RSS feed beside it, `id` and `url` the post's URL (the RSS guid), dates in RFC 3339."""
    feed: dict[str, object] = {
        "version": JSON_FEED_VERSION,  # first, as the specification asks
        "title": spec.title or config.url,
        "home_page_url": _uri(config, spec.page),
        "feed_url": _uri(config, path),
    }
    if spec.description:
        feed["description"] = spec.description
    feed["language"] = config.language
    if config.author.strip():
        feed["authors"] = [{"name": config.author}]
    feed["items"] = [_json_item(config, item) for item in spec.items]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _json_item(config: SiteConfig, item: FeedItem) -> dict[str, object]:
    entry = item.entry
    post = entry.post
    data: dict[str, object] = {
        "id": item.url,
        "url": item.url,
        "title": post.title,
        "content_html": item.content,
        "summary": entry.description,
        "date_published": post.date.isoformat(),
        "date_modified": post.last_modified.isoformat(),
    }
    if post.image:
        data["image"] = urls.card_image(config, post)
    if post.tags:
        data["tags"] = list(post.tags)
    return data


def _generator(config: SiteConfig, spec: FeedSpec, path: str, kind: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.title(_text(spec.title, config.url))
    fg.description(_text(spec.description, config.url))
    fg.subtitle(_text(spec.description, config.url))
    fg.language(xml_safe(config.language))
    fg.generator("blogkeeper", version=__version__)
    # feedgen's RSS <link> is the last link added, so the page goes after the self link.
    fg.link(href=_uri(config, path), rel="self", type=kind)
    fg.link(href=_uri(config, spec.page), rel="alternate", type="text/html")
    newest = max((i.entry.post.last_modified for i in spec.items), default=NOTHING_PUBLISHED)
    fg.updated(newest)
    return fg


def _entry(fg: FeedGenerator, config: SiteConfig, item: FeedItem) -> FeedEntry:
    post = item.entry.post
    fe = fg.add_entry(order="append")
    fe.title(_text(post.title, post.slug))
    fe.guid(item.url, permalink=True)
    fe.link(href=item.url, rel="alternate", type="text/html")
    fe.published(post.date)
    fe.updated(post.last_modified)
    for tag in filter(None, map(xml_safe, post.tags)):
        fe.category(term=tag, scheme=_uri(config, urls.TOPICS))
    fe.content(item.content, type="html")
    fe.summary(item.intro, type="html")  # also the RSS <description>
    return fe


def _uri(config: SiteConfig, path: str) -> str:
    """An absolute URL for a site path, percent-encoded once, so feeds carry plain URIs."""
    return config.absolute(path)


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids: C0 controls other than tab, LF and
    CR, U+FFFE, U+FFFF and lone surrogates. Everything else XML can carry escaped."""
    return _FORBIDDEN.sub("", text)


def _text(value: str, fallback: str) -> str:
    """`value` made XML-safe, or `fallback` when nothing is left (feedgen refuses "")."""
    return xml_safe(value) or fallback


def feed_html(root: lxml.html.HtmlElement, base: str) -> str:
    """The fragment parsed into `root` (see `links.parse`, which also drops what XML
    forbids) with every URL in it made absolute against `base`, the post's absolute URL
    (`links.resolved_html`). Changes `root`."""
    return resolved_html(root, base)
