"""The data a build flows through: frozen values, made once and never filled in later.

`Post` is a post as its author wrote it (content.py makes it); `Rendering` is what the
one expensive step, rendering its Markdown, gives (build.py makes it, through the cache);
`RenderedPost` joins the two; `Site` is every post with its topics and series; `Output`
is one file of the built site. This module imports no feature module: every other module
may import it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

from blogkeeper.config import SiteConfig


@dataclass(frozen=True)
class Post:
    """A post as its author wrote it, validated; `body` is LF-normalised Markdown."""

    source: str  # the file, relative to the site folder: "posts/x.md"
    title: str
    date: dt.datetime
    updated: dt.datetime | None
    tags: tuple[str, ...]
    series: str | None
    part: int | None
    summary: str
    slug: str
    draft: bool
    check_code: bool | None
    llms: bool
    body: str
    body_line: int  # the file line where `body` starts
    fold: int | None  # the index in `body.split("\n")` of the fold line
    path: str  # the site path of its page, relative to the site root: "2026/03/slug/"

    @property
    def last_modified(self) -> dt.datetime:
        return self.updated or self.date


@dataclass(frozen=True)
class Rendering:
    """What rendering a post's Markdown gives: a pure function of its body, its fold and
    its absolute URL, kept in the cache under a digest of those and of the code.

    Besides the HTML, the facts later steps would otherwise parse the HTML again for.
    """

    html: str
    intro: str  # the part above the fold, ids removed
    folded: bool  # whether there is more below the intro
    links: tuple[str, ...]  # every link and image URL in `html`, as written, first seen first
    ids: tuple[str, ...]  # every id (and `<a name>`) in `html`, sorted
    feed_html: str  # `html` made XML-safe, every URL in it absolute
    feed_intro: str  # the same for `intro`
    twin: str  # the body of the post's Markdown twin, URLs absolute


@dataclass(frozen=True)
class RenderedPost:
    post: Post
    rendering: Rendering

    @property
    def html(self) -> str:
        return self.rendering.html

    @property
    def intro(self) -> str:
        return self.rendering.intro

    @property
    def folded(self) -> bool:
        return self.rendering.folded

    @property
    def description(self) -> str:
        """A one-line description: the summary, else the intro as plain text."""
        return self.post.summary or plain_text(self.intro)


def plain_text(fragment: str, limit: int = 200) -> str:
    """An HTML fragment as one line of text, cut at a word to at most `limit` characters."""
    text = re.sub(r"<[^>]+>", " ", fragment)
    text = html.unescape(re.sub(r"\s+", " ", text).strip())
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Group:
    """A topic or a series: a name, its URL segment and its posts."""

    name: str
    slug: str
    posts: tuple[RenderedPost, ...]


@dataclass(frozen=True)
class Site:
    config: SiteConfig
    posts: tuple[RenderedPost, ...]  # newest first
    topics: tuple[Group, ...]  # by name
    series: tuple[Group, ...]  # by name; posts in part order
    preview: bool = False
    now: dt.datetime | None = None  # set only in previews: marks future posts "Scheduled"
    drafts_left_out: int = 0  # drafts this build does not publish
    scheduled_left_out: int = 0  # posts dated after the build's "now", not published


@dataclass(frozen=True)
class Output:
    """One file of the built site: its path relative to the output root (POSIX
    separators, no leading slash) and its bytes."""

    path: str
    data: bytes

    def __repr__(self) -> str:
        return f"Output({self.path!r}, <{len(self.data)} bytes>)"


@dataclass(frozen=True)
class BuildOptions:
    drafts: bool = False
    future: bool = False
    now: dt.datetime | None = None
    preview: bool = False
    cache: bool = True  # False: read no cache entry; keep only what this build made
