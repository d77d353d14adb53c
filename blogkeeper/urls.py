"""Where every output lives: the one place that spells an output path.

Paths are site paths relative to the output root, with POSIX separators and no leading
slash; a folder path ends in "/" and its page is `folder + "index.html"`; a post whose
permalink ends in ".html" is that file. `SiteConfig.absolute` turns a site path into an
absolute URL. Pure: no I/O. It imports no blogkeeper module (config reads the permalink
rules from here), so the settings and posts it takes are described by protocols.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Protocol
from urllib.parse import quote


class _LlmsSettings(Protocol):
    @property
    def enabled(self) -> bool: ...
    @property
    def twins(self) -> bool: ...


class _Settings(Protocol):  # a SiteConfig
    @property
    def llms(self) -> _LlmsSettings: ...
    @property
    def image(self) -> str: ...
    def absolute(self, path: str) -> str: ...


class _Page(Protocol):  # a Post
    @property
    def path(self) -> str: ...
    @property
    def llms(self) -> bool: ...
    @property
    def image(self) -> str | None: ...


PAGE = "index.html"
TWIN = "index.md"
HTML = ".html"
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
REDIRECTS = "_redirects"
ASSETS = "assets/"

# --- permalinks ------------------------------------------------------------------------

DEFAULT_PERMALINK = "/:year/:month/:slug/"
TOKENS = ("year", "month", "day", "slug", "title")
_TOKEN = re.compile(r":([A-Za-z_]+)")
_LITERAL = re.compile(r"[A-Za-z0-9._~/-]*")
# What a site path may not hold: a query or fragment, a backslash, spaces, `%`-escapes,
# and `*` and `:`, which a `_redirects` line would read as a splat or a placeholder.
_UNSAFE = re.compile(r"[?#\\%*:\s]")


def permalink_problem(pattern: str) -> tuple[str, str] | None:
    """(message, hint) for what is wrong with a `permalink` pattern of blog.toml, or None."""
    example = 'for example permalink = "/:year/:month/:slug/" or "/blog/:year/:title.html"'
    for token in _TOKEN.findall(pattern):
        if token not in TOKENS:
            close = [t for t in TOKENS if t.startswith(token[:2])]
            hint = f"did you mean `:{close[0]}`?" if close else ""
            known = ", ".join(f":{t}" for t in TOKENS)
            hint = f"{hint} the tokens are {known}".strip()
            if token in ("categories", "category", "section"):
                hint += "; give posts whose URL holds a category their own `permalink`"
            return f"`permalink` has an unknown token `:{token}`", hint
    literal = _TOKEN.sub("x", pattern)
    if not _LITERAL.fullmatch(literal):
        return (
            f"`permalink` {pattern!r} may hold only tokens, letters, digits and `-._~/`",
            example,
        )
    problem = _shape_problem(literal)
    if problem:
        return f"`permalink` {problem}, not {pattern!r}", example
    if ":slug" not in pattern and ":title" not in pattern:
        return "`permalink` must contain `:slug` or `:title`, or posts would share a URL", example
    return None


def path_problem(path: str, page: bool) -> str | None:
    """What is wrong with a site path written in front matter (a post's `permalink`, with
    `page`, or an alias), or None."""
    if _UNSAFE.search(path):
        return "must not hold spaces, `?`, `#`, `%`, `*`, `:` or `\\` (write letters as themselves)"
    if not page:
        if not path.startswith("/") or path == "/":
            return "must be a path from the site's root, such as /2015/05/old-name/"
        return _segments_problem(path)
    return _shape_problem(path)


def _shape_problem(path: str) -> str | None:
    if not path.startswith("/") or not (path.endswith("/") or path.endswith(HTML)):
        return "must start with `/` and end with `/` or `.html`"
    if path == "/" or path.endswith("/" + HTML):
        return "must name a page below the front page"
    if path.endswith("/" + PAGE):
        return "must end with `/` rather than `/index.html` (hosts serve both from it)"
    return _segments_problem(path)


def _segments_problem(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if any(part == "" for part in parts):
        return "must not hold `//`"
    if any(part.startswith(".") for part in parts):
        return "must not hold a segment starting with `.` (hosts hide such files)"
    return None


def permalink_path(pattern: str, date: dt.datetime, slug: str, title: str) -> str:
    """The site path `pattern` gives a post: "/:year/:month/:slug/" -> "2026/03/slug/".
    `title` is the `:title` value: the file name (or `slug:`) with its case kept."""
    values = {
        "year": f"{date.year:04d}",
        "month": f"{date.month:02d}",
        "day": f"{date.day:02d}",
        "slug": slug,
        "title": title,
    }
    return _TOKEN.sub(lambda m: values[m[1]], pattern).removeprefix("/")


def title_segment(text: str) -> str:
    """The `:title` of a file name: its case and `._~` kept, every run of other characters
    that are not letters, marks or digits a `-` (`Javascript Tips!` -> `Javascript-Tips`);
    "" when nothing is left."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(c if c in "._~" or unicodedata.category(c)[0] in "LMN" else "-" for c in text)
    return re.sub(r"-+", "-", kept).strip("-").lstrip(".")


def inside(path: str) -> bool:
    """Whether the output path `path` names a file inside the site's folder."""
    parts = path.split("/")
    return not (path.startswith("/") or "" in parts or "." in parts or ".." in parts)


def page_file(path: str) -> str:
    """The file a site path is served from: "" -> "index.html"; "x.html" -> itself."""
    return path if path.endswith(HTML) else path + PAGE


def served_path(path: str) -> str:
    """The URL path a file is served at, relative to the site: "x/index.html" -> "x/"."""
    if path == PAGE:
        return ""
    return path.removesuffix(PAGE) if path.endswith("/" + PAGE) else path


def twin_path(post: _Page) -> str:
    """A post's Markdown twin: its page's file with `.md` for `.html`:
    "2026/03/slug/index.md", or "2015/05/Slug.md" beside "2015/05/Slug.html"."""
    return page_file(post.path).removesuffix(HTML) + ".md"


def twin_name(post: _Page) -> str:
    """The twin's file name, as a link relative to the post's page: "index.md"."""
    return twin_path(post).rpartition("/")[2]


# --- aliases ---------------------------------------------------------------------------


def alias_page(alias: str) -> str:
    """The output file of an alias's redirect page: "/a/b/" and "/a/b" -> "a/b/index.html"
    (a host serves both there), "/a/b.html" -> "a/b.html"."""
    path = alias.removeprefix("/")
    return page_file(path if path.endswith(("/", HTML)) else path + "/")


def alias_sources(alias: str) -> tuple[str, ...]:
    """The site paths a `_redirects` line answers for an alias: as written, and for a
    folder written without its `/`, the `/` form too, where its redirect page is."""
    path = alias.removeprefix("/")
    if path.endswith(("/", HTML)):
        return (path,)
    return (path, path + "/")


def encoded(base: str, path: str) -> str:
    """A site path as a URL path under `base` ("/" or "/blog/"), percent-encoded."""
    return quote(base + path, safe="/~@!$&'()*+,;=:")


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


def card_image(config: _Settings, post: _Page | None = None) -> str | None:
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


def has_twin(config: _Settings, post: _Page) -> bool:
    return config.llms.enabled and config.llms.twins and post.llms


def markdown_alternate(config: _Settings, post: _Page | None = None) -> str | None:
    """The site path a page's `text/markdown` alternate points at, or None for no link.

    A post links its twin (llms.txt when twins are off); other pages link llms.txt; a
    post whose front matter says `llms: false` links nothing.
    """
    if not config.llms.enabled or (post is not None and not post.llms):
        return None
    if post is not None and has_twin(config, post):
        return twin_path(post)
    return LLMS_TXT
