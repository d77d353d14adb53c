"""Where every output lives: the one place that spells an output path.

Paths are site paths relative to the output root, with POSIX separators and no leading
slash; a folder path ends in "/" and its page is `folder + "index.html"`. `SiteConfig.
absolute` turns a site path into an absolute URL. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blogkeeper.config import SiteConfig
    from blogkeeper.model import Post

PAGE = "index.html"
TWIN = "index.md"
FEED_FOLDER = "feed/"
RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
JSON_FEED_TYPE = "application/feed+json"
# Each feed folder holds these files: (name, type, label).
FEED_FILES = (
    ("rss.xml", RSS_TYPE, "RSS"),
    ("atom.xml", ATOM_TYPE, "Atom"),
    ("feed.json", JSON_FEED_TYPE, "JSON Feed"),
)
RSS = FEED_FOLDER + "rss.xml"  # the site's main feed
JSON_FEED = FEED_FOLDER + "feed.json"  # the site's main feed as JSON Feed 1.1
TOPICS = "topics/"
SERIES = "series/"
ARCHIVE = "archive/"
NOT_FOUND = "404.html"
SITEMAP = "sitemap.xml"
ROBOTS = "robots.txt"
LLMS_TXT = "llms.txt"
LLMS_FULL = "llms-full.txt"
HEADERS = "_headers"
ASSETS = "assets/"


def post_path(date: dt.datetime, slug: str) -> str:
    """A post's folder: "2026/03/slug/"."""
    return f"{date.year:04d}/{date.month:02d}/{slug}/"


def page_file(folder: str) -> str:
    """The file a folder path is served from: "" -> "index.html"."""
    return folder + PAGE


def served_path(path: str) -> str:
    """The URL path a file is served at, relative to the site: "x/index.html" -> "x/"."""
    if path == PAGE:
        return ""
    return path.removesuffix(PAGE) if path.endswith("/" + PAGE) else path


def twin_path(post: Post) -> str:
    """A post's Markdown twin: "2026/03/slug/index.md"."""
    return post.path + TWIN


def topic_folder(slug: str) -> str:
    return f"{TOPICS}{slug}/"


def series_folder(slug: str) -> str:
    return f"{SERIES}{slug}/"


def list_page(base: str, number: int) -> str:
    """The folder of page `number` (from 1) of a paginated list whose first page is `base`."""
    return base if number == 1 else f"{base}page/{number}/"


def feed_files(folder: str, atom: bool = True, json: bool = True) -> list[tuple[str, str, str]]:
    """The feeds kept in `folder` ("feed/", "topics/ai/"): (path, type, label) each; the
    Atom one only with `atom`, the JSON Feed only with `json` (`[feed] atom` and `json`
    in blog.toml)."""
    left_out = {ATOM_TYPE} if not atom else set()
    if not json:
        left_out.add(JSON_FEED_TYPE)
    return [
        (folder + name, kind, label) for name, kind, label in FEED_FILES if kind not in left_out
    ]


def image_path(value: str, folder: str) -> str | None:
    """The site path (relative to the root, no leading slash) of a card image written as
    a site path ("/assets/card.png") or relative to the page in `folder` ("card.png",
    "../x.png"); None when a relative path climbs above the site root. An absolute URL
    is not a site path: the caller keeps it as it is."""
    joined = value if value.startswith("/") else "/" + folder + value
    parts: list[str] = []
    for part in joined.split("/")[1:]:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def card_image(config: SiteConfig, post: Post | None = None) -> str | None:
    """The absolute URL of a page's social card: the post's `image`, else the site's
    (`image` in blog.toml); None when neither is set."""
    if post is not None and post.image:
        image = post.image
    elif config.image:
        image = config.image
        if not image.startswith("https://"):
            image = image_path(image, "") or ""
    else:
        return None
    return image if image.startswith("https://") else config.absolute(image)


def has_twin(config: SiteConfig, post: Post) -> bool:
    return config.llms.enabled and config.llms.twins and post.llms


def markdown_alternate(config: SiteConfig, post: Post | None = None) -> str | None:
    """The site path a page's `text/markdown` alternate points at, or None for no link.

    A post links its twin (llms.txt when twins are off); other pages link llms.txt; a
    post whose front matter says `llms: false` links nothing.
    """
    if not config.llms.enabled or (post is not None and not post.llms):
        return None
    if post is not None and has_twin(config, post):
        return twin_path(post)
    return LLMS_TXT
