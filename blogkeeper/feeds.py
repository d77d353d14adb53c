"""Full-text RSS 2.0 and Atom 1.0 feeds for the site, each topic and each series.

Built with feedgen. Every value that goes into a feed is made safe for XML first (the
characters XML 1.0 forbids are dropped), and every URL inside item content is made
absolute, so no post can break a feed or a reader. Finding the URLs means the start tags
of each item's HTML: found where the post was rendered (`RenderedPost.html_tags`) or
parsed here; the edits they give can be kept in a `memo`, and each feed file in `files`,
by a hash of all its input (the build keeps them between builds). Pure: returns
`Output` values, reads no file, writes no file, and never asks the clock — feedgen's
now() defaults for `lastBuildDate` and `updated` are always overridden with post dates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import quote, urljoin, urlsplit

import feedgen.version
import lxml

from blogkeeper import __version__
from blogkeeper.cache import code_digest, digest
from blogkeeper.links import StartTag, start_tags
from blogkeeper.pages import Link, feed_links

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry
    from feedgen.feed import FeedGenerator

    from blogkeeper.cache import Stored
    from blogkeeper.config import SiteConfig
    from blogkeeper.site import Output, RenderedPost, Site

MAIN_FOLDER = "feed/"
RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
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


def head_links(site: Site) -> tuple[Link, ...]:
    """The site's feeds for every page head, beyond the RSS link pages adds itself."""
    links = feed_links(MAIN_FOLDER, site.config.title)
    return tuple(link for link in links if link.type != RSS_TYPE)


class Memo(Protocol):
    def get(self, key: str) -> object | None: ...
    def __setitem__(self, key: str, value: object) -> None: ...


class FileMemo(Protocol):
    def find(self, key: str) -> Stored | None: ...
    def put(self, key: str, data: bytes) -> object: ...


def render_feeds(
    site: Site, memo: Memo | None = None, files: FileMemo | None = None
) -> list[Output]:
    """RSS and Atom files for the whole site, each topic and each series.

    `files`, when given, keeps each feed file by a hash of everything it is made from,
    found from the posts without making their feed items: a feed kept makes none.
    """
    from blogkeeper.site import Output

    outputs: list[Output] = []
    # lxml's, not lxml.etree's (the same string): the package imports without the library.
    versions = (__version__, feedgen.version.version_str, lxml.__version__)
    config_key = digest(repr(site.config), code_digest("blogkeeper"), *versions)
    entry_keys: dict[int, str] = {}
    made: dict[str, FeedItem] = {}  # a post is in several feeds; its HTML is done once
    touched: set[int] = set()
    for plan in feed_plans(site):
        spec_key = _plan_key(config_key, plan, entry_keys) if files is not None else ""
        spec: FeedSpec | None = None
        # pages.feed_links names the files, so the feeds written are the feeds linked.
        for link in feed_links(plan.folder, plan.title):
            key = digest(spec_key, link.href, link.type)
            stored = files.find(key) if files is not None else None
            if stored is not None:  # read when written, not held until then (49 MB at 1,000)
                outputs.append(Output.kept(link.href, stored))
                continue
            spec = spec or _spec(site.config, plan, made, memo)
            build = _rss if link.type == RSS_TYPE else _atom
            data = build(site.config, spec, link.href)
            if files is not None:
                files.put(key, data)
            outputs.append(Output(link.href, data))
        if spec is None and memo is not None:  # every file of this feed was kept
            _keep_edits(site.config, plan, memo, touched)
    return outputs


@dataclass(frozen=True)
class FeedPlan:
    """A feed before its items are made: its posts (newest first, as many as it holds)."""

    folder: str
    title: str
    description: str
    entries: tuple[RenderedPost, ...]


def _plan_key(config_key: str, plan: FeedPlan, entry_keys: dict[int, str]) -> str:
    """A hash of everything a feed file is made from; `config_key` stands for the site's
    settings and the code of blogkeeper, feedgen and lxml."""
    parts = [config_key, plan.folder, plan.title, plan.description]
    for entry in plan.entries:
        if id(entry) not in entry_keys:  # a post is in several feeds: hash it once
            entry_keys[id(entry)] = _entry_key(entry)
        parts.append(entry_keys[id(entry)])
    return digest(*parts)


def _entry_key(entry: RenderedPost) -> str:
    """A hash of what a post's feed item is made from: the post but its Markdown (feeds
    use the HTML), and the HTML and intro, by the render key they are a function of when
    known. The item's URL follows from the post and the settings."""
    post = entry.post
    if post.key:
        fields = "post " + post.key
    else:
        names = [f.name for f in dataclasses.fields(post) if f.repr and f.name != "body"]
        fields = repr([getattr(post, name) for name in names])
    if entry.html_key:
        return digest("r", entry.html_key, fields)
    return digest("h", entry.html, entry.intro, str(entry.folded), fields)


def feed_plans(site: Site) -> list[FeedPlan]:
    config = site.config
    limit = config.feed.items
    about = config.description or f"Posts from {config.title}."
    plans = [FeedPlan(MAIN_FOLDER, config.title, about, _newest(site.posts, limit))]
    for topic in site.topics:
        plans.append(
            FeedPlan(
                f"topics/{topic.slug}/",
                f"{config.title}: {topic.name}",
                f"Posts about {topic.name} on {config.title}.",
                _newest(topic.posts, limit),
            )
        )
    for series in site.series:
        plans.append(
            FeedPlan(
                f"series/{series.slug}/",
                f"{config.title}: {series.name}",
                f"Every part of the series {series.name} on {config.title}.",
                _newest(series.posts, limit),
            )
        )
    return plans


def feed_specs(site: Site, memo: Memo | None = None) -> list[FeedSpec]:
    made: dict[str, FeedItem] = {}
    return [_spec(site.config, plan, made, memo) for plan in feed_plans(site)]


def _spec(
    config: SiteConfig, plan: FeedPlan, made: dict[str, FeedItem], memo: Memo | None
) -> FeedSpec:
    """The feed of `plan` with its items, each made once (`made`) for all feeds."""
    items = []
    for entry in plan.entries:
        if entry.post.source not in made:
            made[entry.post.source] = feed_item(config, entry, memo)
        items.append(made[entry.post.source])
    page = "" if plan.folder == MAIN_FOLDER else plan.folder
    return FeedSpec(plan.folder, plan.title, plan.description, page, tuple(items))


def _newest(posts: Iterable[RenderedPost], limit: int) -> tuple[RenderedPost, ...]:
    """Published posts newest first; a draft never goes out, even in a --drafts build,
    because a reader keeps every item it has once fetched."""
    kept = [e for e in posts if not e.post.draft]
    kept.sort(key=lambda e: (e.post.date, e.post.source), reverse=True)
    return tuple(kept[:limit])


def feed_item(config: SiteConfig, entry: RenderedPost, memo: Memo | None = None) -> FeedItem:
    url = _uri(config, entry.post.path)
    keys = _edit_keys(url, entry)
    intro = _feed_html(entry.intro, entry.intro_tags, url, memo, keys[0])
    if config.feed.full_text:
        content = _feed_html(entry.html, entry.html_tags, url, memo, keys[1])
    else:
        content = intro + f'<p><a href="{html.escape(url)}">Read more</a></p>\n'
    return FeedItem(entry, url, content, intro)


def _edit_keys(url: str, entry: RenderedPost) -> tuple[str | None, str | None]:
    """The memo keys of the URL edits of a post's intro and HTML in its feed item, by the
    render key they are a function of; (None, None) when it is not known."""
    if not entry.html_key:
        return None, None
    code = code_digest("blogkeeper")
    intro = digest("feed html", code, url, "intro", entry.html_key)
    return intro, digest("feed html", code, url, "html", entry.html_key)


def _keep_edits(config: SiteConfig, plan: FeedPlan, memo: Memo, seen: set[int]) -> None:
    """Mark as used the memo entries a kept feed's items would read, so that the memo keeps
    them for a build that has to make those items (one that edits a post of the feed)."""
    for entry in plan.entries:
        if id(entry) not in seen:
            seen.add(id(entry))
            intro, full = _edit_keys(_uri(config, entry.post.path), entry)
            for key in (intro, full if config.feed.full_text else None):
                if key is not None:
                    memo.get(key)


def _feed_html(
    html: str, tags: Sequence[StartTag] | None, url: str, memo: Memo | None, key: str | None
) -> str:
    """`html` made XML-safe, its URLs absolute; its known start `tags` are of no use if
    `xml_safe` took characters out."""
    safe = xml_safe(html)
    return absolute_urls(safe, url, memo, tags if len(safe) == len(html) else None, key)


def _rss(config: SiteConfig, spec: FeedSpec, path: str) -> bytes:
    fg = _generator(config, spec, path, RSS_TYPE)
    fg.load_extension("dc", atom=False, rss=True)
    for item in spec.items:
        fe = _entry(fg, config, item)
        if xml_safe(config.author):
            # RSS <author> must be an e-mail address; a name goes in dc:creator.
            fe.dc.dc_creator(xml_safe(config.author))
    return bytes(fg.rss_str(pretty=True))


def _atom(config: SiteConfig, spec: FeedSpec, path: str) -> bytes:
    fg = _generator(config, spec, path, ATOM_TYPE)
    fg.id(_uri(config, path))
    # Atom requires an author for every entry: the feed's, inherited, is the site's.
    fg.author({"name": _text(config.author, _text(config.title, config.url))})
    for item in spec.items:
        _entry(fg, config, item)
    return bytes(fg.atom_str(pretty=True))


def _generator(config: SiteConfig, spec: FeedSpec, path: str, kind: str) -> FeedGenerator:
    # Here: feedgen brings lxml and dateutil, which a build whose feeds are kept never needs.
    from feedgen.feed import FeedGenerator

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
        fe.category(term=tag, scheme=_uri(config, "topics/"))
    fe.content(item.content, type="html")
    fe.summary(item.intro, type="html")  # also the RSS <description>
    return fe


def _uri(config: SiteConfig, path: str) -> str:
    """An absolute URL for a site path, percent-encoded so feeds carry plain URIs."""
    return config.absolute(quote(path, safe="/%"))


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids: C0 controls other than tab, LF and
    CR, U+FFFE, U+FFFF and lone surrogates. Everything else XML can carry escaped."""
    return _FORBIDDEN.sub("", text)


def _text(value: str, fallback: str) -> str:
    """`value` made XML-safe, or `fallback` when nothing is left (feedgen refuses "")."""
    return xml_safe(value) or fallback


# Attributes whose value is one URL; srcset, a list of them, is handled on its own.
_URL_ATTRIBUTES = frozenset(
    {"href", "src", "poster", "cite", "action", "formaction", "longdesc", "background"}
)
_ASCII_SPACE = " \t\n\r\f"


def absolute_urls(
    fragment: str,
    base: str,
    memo: Memo | None = None,
    tags: Sequence[StartTag] | None = None,
    key: str | None = None,
) -> str:
    """`fragment` with every URL attribute resolved against `base` (the post's URL).

    Root-relative, page-relative and fragment-only URLs become absolute; URLs with a
    scheme and protocol-relative ones are kept. Only start tags that change are
    rewritten; every other byte of the fragment is kept as it was. `tags`: the
    fragment's `start_tags` when already known; `key`: the memo key, when a hash the
    fragment and `base` are a function of is at hand.
    """
    key = key or digest(base, fragment)
    edits = memo.get(key) if memo is not None else None
    if not _valid(edits, len(fragment)):
        edits = _edits(fragment, base, start_tags(fragment) if tags is None else tags)
        if memo is not None:
            memo[key] = edits
    pieces, done = [], 0
    for start, end, tag in cast("list[tuple[int, int, str]]", edits):
        pieces += [fragment[done:start], tag]
        done = end
    pieces.append(fragment[done:])
    return "".join(pieces)


def _valid(edits: object, size: int) -> bool:
    """Whether a memo entry is a list of in-order [start, end, text] edits of the text."""
    if not isinstance(edits, list):
        return False
    done = 0
    for edit in edits:
        if not (isinstance(edit, list) and len(edit) == 3 and isinstance(edit[2], str)):
            return False
        start, end = edit[0], edit[1]
        if not (type(start) is int and type(end) is int and done <= start <= end <= size):
            return False
        done = end
    return True


def _edits(fragment: str, base: str, tags: Sequence[StartTag]) -> list[list[Any]]:
    """[start, end, new start tag] for each start tag whose URLs change, in order."""
    edits: list[list[Any]] = []
    for tag in tags:
        attrs = [(name, _resolve(name, value, base)) for name, value in tag.attrs]
        start, end = tag.start, tag.start + len(tag.raw)
        if attrs == list(tag.attrs) or fragment[start:end] != tag.raw:
            continue
        edits.append([start, end, _start_tag(tag.name, attrs, tag.self_closing)])
    return edits


def _resolve(name: str, value: str | None, base: str) -> str | None:
    if value is None:
        return None
    if name == "srcset":
        return _resolve_srcset(value, base)
    if name in _URL_ATTRIBUTES:
        return _absolute(value, base)
    return value


def _resolve_srcset(value: str, base: str) -> str:
    candidates = []
    for candidate in value.split(","):
        words = candidate.strip(_ASCII_SPACE).split(maxsplit=1)
        if words:
            candidates.append(" ".join([_absolute(words[0], base), *words[1:]]))
    return ", ".join(candidates)


def _absolute(value: str, base: str) -> str:
    url = value.strip(_ASCII_SPACE)
    if url.startswith("//"):
        return value  # protocol-relative: the reader's scheme is the right one
    try:
        return value if urlsplit(url).scheme else urljoin(base, url)
    except ValueError:  # a malformed URL (bad IPv6 host): left as the author wrote it
        return value


def _start_tag(name: str, attrs: list[tuple[str, str | None]], self_closing: bool) -> str:
    parts = [name]
    for key, value in attrs:
        parts.append(key if value is None else f'{key}="{html.escape(value)}"')
    return "<" + " ".join(parts) + (" />" if self_closing else ">")
