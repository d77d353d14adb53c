"""Check that every internal link and image in a post resolves within the built site.

An `href` or `src` in a post's rendered HTML that has no scheme (or points under the
site's own `url`) must name an output file, and a `#fragment` must name an `id` (or an
`<a name>`) in the page it points to. A failure is a `ContentError` at the post's Markdown
line where the link is written. External links are never fetched. Pure: it reads the
build's outputs in memory and writes nothing. Parsing HTML is its one cost: a post's start
tags can come with it, found where the post was rendered (`start_tags`); what a parse found
is kept in a `memo` by the hash of the HTML parsed (the build keeps it between builds); and
a fragment into a post page is looked up in the ids of the post's own HTML when the page
holds that HTML, so a page is parsed only for an id its template would have to supply.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    @property
    def html_tags(self) -> Sequence[StartTag] | None:
        """`start_tags(self.html)` when already known, else None."""


def check_links(
    site_url: str,
    entries: Iterable[_Entry],
    outputs: Sequence[_Output],
    memo: Memo | None = None,
) -> None:
    """Raise `BuildError` naming each post line whose link does not resolve.

    Pages are parsed (for their ids) only when a link points into them for an id their
    post's HTML does not hold; HTML not in `memo` is parsed in worker processes when there
    is a lot of it.
    """
    entries = list(entries)
    files = {o.path: o for o in outputs}  # bytes read only for the pages fragments need
    found = _found_posts(entries, memo)
    checked: list[tuple[_Entry, str, str | tuple[str, str] | None]] = []
    for entry, (links, _) in zip(entries, found, strict=True):
        page = urljoin(site_url, entry.post.path)
        checked += [(entry, url, _problem(site_url, page, url, files)) for url in links]
    targets = {p for _, _, p in checked if isinstance(p, tuple)}
    known = _post_ids(entries, found, {path for path, _ in targets}, files)
    # The other fragments need the ids of the whole page: parse those pages, together.
    paths = sorted({path for path, fragment in targets if fragment not in known.get(path, ())})
    parsed = _found_all([files[path].data for path in paths], memo)
    ids = {path: frozenset(f[1]) for path, f in zip(paths, parsed, strict=True)}
    errors = []
    for entry, url, problem in checked:
        if isinstance(problem, tuple):
            path, fragment = problem
            present = fragment in known.get(path, ()) or fragment in ids.get(path, ())
            problem = None if present else _no_id(url, fragment)
        if problem:
            hint = "fix the address, or remove the link"
            errors.append(ContentError(entry.post.source, _line_of(entry.post, url), problem, hint))
    if errors:
        raise BuildError(errors)


def _found_posts(entries: Sequence[_Entry], memo: Memo | None) -> list[Found]:
    """What each post's HTML holds: from the tags found when it rendered, else as pages."""
    found: list[Found | None] = [None] * len(entries)
    for index, entry in enumerate(entries):
        if entry.html_tags is not None:
            found[index] = found_in(entry.html_tags)
            if memo is not None:  # for the next build, whose render cache has no tags
                memo[_key(entry.html)] = found[index]
    missing = [i for i, result in enumerate(found) if result is None]
    parsed = _found_all([entries[i].html for i in missing], memo)
    for index, result in zip(missing, parsed, strict=True):
        found[index] = result
    return found  # type: ignore[return-value]


def _post_ids(
    entries: Sequence[_Entry], found: Sequence[Found], paths: set[str], files: dict[str, _Output]
) -> dict[str, frozenset[str]]:
    """For each post page in `paths` that holds its post's HTML as rendered, the ids that
    HTML has: ids the page has too, found without parsing the page."""
    known = {}
    for entry, (_, ids) in zip(entries, found, strict=True):
        path = entry.post.path + "index.html"
        if ids and path in paths and _holds(files[path], entry.html):
            known[path] = frozenset(ids)
    return known


def _holds(page: _Output, html: str) -> bool:
    return html.encode("utf-8", "surrogatepass") in page.data


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
    return found_in(start_tags(html if isinstance(html, str) else html.decode("utf-8", "replace")))


def found_in(tags: Iterable[StartTag]) -> Found:
    """The links and ids among `tags` (see `start_tags`), as `_found_all` returns them."""
    links: list[str] = []
    ids: set[str] = set()
    for tag in tags:
        for name, value in tag.attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag.name == "a"):
                ids.add(value)
            elif name == "srcset":
                links += [c.split()[0] for c in value.split(",") if c.strip()]
            elif name in LINK_ATTRS:
                links.append(value)
    return list(dict.fromkeys(links)), sorted(ids)


def _valid(kept: object) -> bool:
    """Whether a memo entry has the shape `_found_all` returns (a memo may be damaged)."""
    return (
        isinstance(kept, list | tuple)
        and len(kept) == 2
        and all(isinstance(part, list) and all(isinstance(s, str) for s in part) for part in kept)
    )


def _problem(
    site_url: str, page: str, url: str, files: dict[str, _Output]
) -> str | tuple[str, str] | None:
    """What is wrong with `url` on the page at `page`, None when it resolves, or the
    (output path, fragment) to look for when that depends on the page's ids."""
    target = url.strip()
    site = urlsplit(site_url)
    # Most links are to other sites or to a footnote; neither needs urljoin: it keeps a
    # URL's scheme and host, and gives a fragment alone the page's address.
    written = urlsplit(target)
    if written.scheme and (written.scheme, written.netloc or site.netloc) != site[:2]:
        return None  # another site, or a scheme such as mailto:
    same_page = target.startswith("#") and "#" not in page
    parts = urlsplit(page + target if same_page else urljoin(page, target))
    if parts[:2] != site[:2]:
        return None  # another site, or a scheme such as mailto:
    base = site.path
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


def _output_path(path: str, files: dict[str, _Output]) -> str | None:
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
# What may follow a plain start tag and be skipped with it: text, and plain tags other
# than <script> and <style> (whose content HTMLParser does not read as tags).
_PLAIN_RUN = re.compile(
    r'(?>[^<]+|<(?!(?i:script|style)[ >])[a-zA-Z][a-zA-Z0-9]*(?: class="[^"<>&]*")?>'
    r"|</[a-zA-Z][a-zA-Z0-9]*>)*"
)


class QuickParser(HTMLParser):
    """An `HTMLParser` that consumes plain start tags and end tags, and the text between
    them, without reporting them: it reports only the other start tags (and comments,
    declarations...), exactly where and as HTMLParser would.

    Only for subclasses that ignore text, end tags and tags whose one attribute is
    `class`, with `convert_charrefs=True` (HTMLParser handles `&` in text otherwise).
    """

    def parse_starttag(self, i: int) -> int:
        match = _PLAIN_START.match(self.rawdata, i)
        if match is None or match.group(1).lower() in self.CDATA_CONTENT_ELEMENTS:
            return super().parse_starttag(i)
        self._HTMLParser__starttag_text = match.group(0)  # what get_starttag_text returns
        self.lasttag = match.group(1).lower()
        # Nothing in the run changes HTMLParser's state: skip it all in one step.
        return self._skip_run(match.end())

    def parse_endtag(self, i: int) -> int:
        # Outside <script> and <style> HTMLParser only reports a plain end tag.
        match = _PLAIN_END.match(self.rawdata, i) if self.cdata_elem is None else None
        return self._skip_run(match.end()) if match else super().parse_endtag(i)

    def _skip_run(self, i: int) -> int:
        # Nothing in a plain run changes HTMLParser's state: consume it in one step.
        run = _PLAIN_RUN.match(self.rawdata, i)
        return run.end() if run else i


@dataclass(frozen=True, slots=True)
class StartTag:
    """A start tag as HTMLParser reports it, and where it is in the HTML."""

    start: int  # offset of its `<`, in characters
    raw: str  # the tag as written
    name: str
    attrs: tuple[tuple[str, str | None], ...]
    self_closing: bool


def start_tags(html: str) -> list[StartTag]:
    """Every start tag of `html` with an attribute other than `class`, in order.

    The one parse of a post's HTML: links and ids for the link checker, URLs to make
    absolute for the feeds. Render workers run it on each post they render.
    """
    collector = _StartTags()
    collector.feed(html)
    collector.close()
    line_starts = [0, *(m.end() for m in re.finditer("\n", html))]
    return [
        StartTag(line_starts[line - 1] + column, raw, name, attrs, closing)
        for line, column, raw, name, attrs, closing in collector.tags
    ]


class _StartTags(QuickParser):
    # convert_charrefs=True: with False, HTMLParser stops reporting tags after a
    # malformed character reference such as `&#x;`.
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[int, int, str, str, tuple[tuple[str, str | None], ...], bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._collect(tag, attrs, closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._collect(tag, attrs, closing=True)

    def _collect(self, tag: str, attrs: list[tuple[str, str | None]], closing: bool) -> None:
        line, column = self.getpos()
        raw = self.get_starttag_text() or ""
        self.tags.append((line, column, raw, tag, tuple(attrs), closing))
