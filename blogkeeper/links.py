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
from typing import Protocol, cast
from urllib.parse import unquote, urljoin, urlsplit

from blogkeeper.cache import parallel_map
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
    """Raise `BuildError` naming each post line whose link does not resolve.

    Pages are parsed (for their ids) only when a link points into them; HTML not in
    `memo` is parsed in worker processes when there is a lot of it.
    """
    entries = list(entries)
    files = {o.path: o.data for o in outputs}
    found = _found_all([entry.html for entry in entries], memo)
    checked: list[tuple[_Entry, str, str | tuple[str, str] | None]] = []
    for entry, (links, _) in zip(entries, found, strict=True):
        page = urljoin(site_url, entry.post.path)
        checked += [(entry, url, _problem(site_url, page, url, files)) for url in links]
    # Fragments need the ids of the page they point into: parse those pages, together.
    paths = sorted({p[0] for _, _, p in checked if isinstance(p, tuple)})
    parsed = _found_all([files[path] for path in paths], memo)
    ids = {path: frozenset(f[1]) for path, f in zip(paths, parsed, strict=True)}
    errors = []
    for entry, url, problem in checked:
        if isinstance(problem, tuple):
            path, fragment = problem
            problem = None if fragment in ids[path] else _no_id(url, fragment)
        if problem:
            hint = "fix the address, or remove the link"
            errors.append(ContentError(entry.post.source, _line_of(entry.post, url), problem, hint))
    if errors:
        raise BuildError(errors)


def _no_id(url: str, fragment: str) -> str:
    return f"link to `{url}`: no element with id `{fragment}` on that page"


Found = tuple[list[str], list[str]]  # links (first appearances, in order), ids (sorted)


def _found_all(htmls: Sequence[str | bytes], memo: Memo | None) -> list[Found]:
    """What each HTML holds, from `memo` if there, else parsed (in parallel when many).

    Bytes are a page as written (decoded leniently), text a post's HTML as rendered.
    """
    keys = [_key(html) for html in htmls]
    results: list[Found | None] = [None] * len(htmls)
    if memo is not None:
        for index, key in enumerate(keys):
            kept = memo.get(key)
            results[index] = cast(Found, kept) if _valid(kept) else None
    missing = [i for i, result in enumerate(results) if result is None]
    parsed = parallel_map(_parse_found, [htmls[i] for i in missing], small=True)
    for index, result in zip(missing, parsed, strict=True):
        results[index] = result
        if memo is not None:
            memo[keys[index]] = result
    return results  # type: ignore[return-value]


def _key(html: str | bytes) -> str:
    if isinstance(html, str):
        return "t" + hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()
    return "b" + hashlib.sha256(html).hexdigest()


def _parse_found(html: str | bytes) -> Found:
    collector = _parse(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    return list(dict.fromkeys(collector.links)), sorted(collector.ids)


def _valid(kept: object) -> bool:
    """Whether a memo entry has the shape `_found_all` returns (a memo may be damaged)."""
    return (
        isinstance(kept, list | tuple)
        and len(kept) == 2
        and all(isinstance(part, list) and all(isinstance(s, str) for s in part) for part in kept)
    )


def _problem(
    site_url: str, page: str, url: str, files: dict[str, bytes]
) -> str | tuple[str, str] | None:
    """What is wrong with `url` on the page at `page`, None when it resolves, or the
    (output path, fragment) to look for when that depends on the page's ids."""
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
        return path, fragment
    return None  # a file, or a page without a fragment


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
            return super().parse_starttag(i)
        self._HTMLParser__starttag_text = match.group(0)  # what get_starttag_text returns
        self.lasttag = match.group(1).lower()
        return match.end()

    def parse_endtag(self, i: int) -> int:
        # Outside <script> and <style> HTMLParser only reports a plain end tag.
        match = _PLAIN_END.match(self.rawdata, i) if self.cdata_elem is None else None
        return match.end() if match else super().parse_endtag(i)


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
