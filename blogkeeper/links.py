"""Check that every internal link and image in a post resolves within the built site.

An `href` or `src` in a post's rendered HTML that has no scheme (or points under the
site's own `url`) must name an output file, and a `#fragment` must name an `id` (or an
`<a name>`) in the page it points to. A failure is a `ContentError` at the post's Markdown
line where the link is written. External links are never fetched. Pure: it reads the
build's outputs in memory and writes nothing. Parsing HTML is its one cost, so what a
parse found can be kept in a `memo` by the hash of the HTML parsed (the build keeps it
between builds).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit

from blogkeeper.errors import BuildError, ContentError

LINK_ATTRS = {"href", "src", "poster", "srcset"}


class _Output(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def data(self) -> bytes: ...


class _Post(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def body_line(self) -> int: ...
    @property
    def path(self) -> str: ...


class Memo(Protocol):
    def get(self, key: str) -> object | None: ...
    def __setitem__(self, key: str, value: object) -> None: ...


class _Entry(Protocol):
    @property
    def post(self) -> _Post: ...
    @property
    def html(self) -> str: ...


def check_links(
    site_url: str,
    entries: Iterable[_Entry],
    outputs: Sequence[_Output],
    memo: Memo | None = None,
) -> None:
    """Raise `BuildError` naming each post line whose link does not resolve."""
    files = {o.path: o.data for o in outputs}
    ids = _Ids(files, memo)
    errors = []
    for entry in entries:
        page = urljoin(site_url, entry.post.path)
        for url in _found(entry.html, memo)[0]:
            problem = _problem(site_url, page, url, files, ids)
            if problem:
                line = _line_of(entry.post, url)
                hint = "fix the address, or remove the link"
                errors.append(ContentError(entry.post.source, line, problem, hint))
    if errors:
        raise BuildError(errors)


class _Ids:
    """The ids of each output page, parsed when first asked for."""

    def __init__(self, files: dict[str, bytes], memo: Memo | None) -> None:
        self.files = files
        self.memo = memo
        self.found: dict[str, frozenset[str]] = {}

    def __getitem__(self, path: str) -> frozenset[str]:
        if path not in self.found:
            self.found[path] = frozenset(_found(self.files[path], self.memo)[1])
        return self.found[path]


def _found(html: str | bytes, memo: Memo | None) -> tuple[list[str], list[str]]:
    """The links (first appearances, in order) and the ids in `html`, from `memo` if there.

    Bytes are a page as written (decoded leniently), text a post's HTML as rendered.
    """
    if isinstance(html, str):
        key = "t" + hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()
    else:
        key = "b" + hashlib.sha256(html).hexdigest()
    kept = memo.get(key) if memo is not None else None
    if _valid(kept):
        return kept  # type: ignore[return-value]
    text = html if isinstance(html, str) else html.decode("utf-8", "replace")
    collector = _parse(text)
    result = (list(dict.fromkeys(collector.links)), sorted(collector.ids))
    if memo is not None:
        memo[key] = result
    return result


def _valid(kept: object) -> bool:
    """Whether a memo entry has the shape `_found` returns (a memo file may be damaged)."""
    return (
        isinstance(kept, list | tuple)
        and len(kept) == 2
        and all(isinstance(part, list) and all(isinstance(s, str) for s in part) for part in kept)
    )


def _problem(site_url: str, page: str, url: str, files: dict[str, bytes], ids: _Ids) -> str | None:
    """What is wrong with `url` on the page at `page`, or None when it resolves."""
    parts = urlsplit(urljoin(page, url.strip()))
    if parts[:2] != urlsplit(site_url)[:2]:
        return None  # another site, or a scheme such as mailto:
    base = urlsplit(site_url).path
    if not parts.path.startswith(base):
        return None  # this host, but outside the blog: not ours to judge
    path = _output_path(unquote(parts.path[len(base) :]), files)
    if path is None:
        return f"link to `{url}`: no such page or file in the site"
    fragment = unquote(parts.fragment)
    if fragment.lower() == "top":  # HTML: `#top` scrolls to the top, with or without an id
        return None
    if fragment and path.endswith(".html"):
        if fragment in ids[path]:
            return None
        return f"link to `{url}`: no element with id `{fragment}` on that page"
    return None


def _output_path(path: str, files: dict[str, bytes]) -> str | None:
    for candidate in (path, path + "index.html", path + "/index.html"):
        if candidate in files and not candidate.endswith("/"):
            return candidate
    return None


def _line_of(post: _Post, url: str) -> int | None:
    """The first body line where the link is written, as written or decoded."""
    lines = post.body.split("\n")
    for needle in dict.fromkeys((url, unquote(url), url.replace("&", "&amp;"))):
        for index, line in enumerate(lines):
            if needle in line:
                return post.body_line + index
    return post.body_line


# A start tag with no attribute but `class` (most tags: Pygments' spans, <p>, <li>) and an
# end tag: parsing them in full is most of HTMLParser's time, and neither holds a URL or id.
_PLAIN_START = re.compile(r'<([a-zA-Z][a-zA-Z0-9]*)(?: class="[^"<>&]*")?>')
_PLAIN_END = re.compile(r"</[a-zA-Z][a-zA-Z0-9]*>")


class QuickParser(HTMLParser):
    """An `HTMLParser` that consumes plain start tags and end tags without calling
    `handle_starttag` or `handle_endtag`, ending each exactly where HTMLParser would.

    Only for subclasses that ignore end tags and tags whose one attribute is `class`.
    """

    def parse_starttag(self, i: int) -> int:
        match = _PLAIN_START.match(self.rawdata, i)
        if match is None or match.group(1).lower() in self.CDATA_CONTENT_ELEMENTS:
            return super().parse_starttag(i)  # type: ignore[no-any-return]
        self._HTMLParser__starttag_text = match.group(0)  # what get_starttag_text returns
        self.lasttag = match.group(1).lower()
        return match.end()

    def parse_endtag(self, i: int) -> int:
        # Outside <script> and <style> HTMLParser only reports a plain end tag.
        match = _PLAIN_END.match(self.rawdata, i) if self.cdata_elem is None else None
        return match.end() if match else super().parse_endtag(i)  # type: ignore[no-any-return]


class _Collector(QuickParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)
            elif name == "srcset":
                self.links += [c.split()[0] for c in value.split(",") if c.strip()]
            elif name in LINK_ATTRS:
                self.links.append(value)


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector
