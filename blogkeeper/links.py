"""Check that every internal link and image in a post resolves within the built site.

An `href` or `src` in a post's rendered HTML that has no scheme (or points under the
site's own `url`) must name an output file, and a `#fragment` must name an `id` (or an
`<a name>`) in the page it points to. A failure is a `ContentError` at the post's Markdown
line where the link is written. External links are never fetched. A post's links and ids
are found once, where it is rendered (`facts`, on lxml's HTML parser); a page is parsed
here only when a link points into it for an id its post's HTML does not hold. List pages
show a post's intro with its URLs resolved against the post's page (`resolved_html`, in
`pages`), so checking the post checks its intro wherever it is shown. It writes nothing:
a `Site`, its output paths and a way to read an output (and a preview's last check,
`model.Earlier`) in, the problems out (the build makes them errors, or warnings with
`[build] broken_links = "warn"`).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import lxml.html
from lxml import etree

from blogkeeper import urls
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.model import Earlier, Post, RenderedPost, Site

# The characters lxml refuses (XML 1.0's forbidden ones); they hold no link or id.
_UNPARSABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class TooDeep(ValueError):
    """HTML nested deeper than lxml reads: what lies below would silently go missing."""


def parse(fragment: str) -> lxml.html.HtmlElement:
    """An HTML fragment parsed by lxml, inside a `<div>` of its own; the characters XML
    forbids (and lxml refuses) are dropped first. `TooDeep` if it nests deeper than
    libxml2 reads (2,048 elements with `huge_tree`): libxml2 would drop the rest."""
    parser = lxml.html.HTMLParser(huge_tree=True)
    text = _UNPARSABLE.sub("", fragment)
    root = lxml.html.fragment_fromstring(text, create_parent="div", parser=parser)
    if any(entry.type_name == "ERR_RESOURCE_LIMIT" for entry in parser.error_log):
        raise TooDeep("HTML nested too deeply to read")
    return root


# Found with XPath, in C: walking the elements in Python costs five times as much. An
# SVG's `xlink:href` is one attribute named so to lxml's HTML parser.
_LINKS = etree.XPath("//@href | //@src | //@poster | //@srcset | //@*[name()='xlink:href']")
_IDS = etree.XPath("//@id | //a/@name")


def facts(root: lxml.html.HtmlElement) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every link and image URL under `root` as written, first seen first; its ids, sorted)."""
    links: list[str] = []
    for value in _LINKS(root):
        if value.attrname == "srcset":
            links += [url for url, _ in srcset_candidates(str(value))]
        else:
            links.append(str(value))
    return tuple(dict.fromkeys(links)), tuple(sorted({str(v) for v in _IDS(root)}))


_SPACE = " \t\n\r\f"


def srcset_candidates(value: str) -> list[tuple[str, str]]:
    """A `srcset` as (URL, descriptors) pairs, read as the HTML standard reads it: a URL
    runs to the next space (so a comma inside one, as CDN and data: URLs have, stays in
    it); trailing commas end it; descriptors run to a comma outside parentheses."""
    candidates: list[tuple[str, str]] = []
    index = 0
    while True:
        while index < len(value) and value[index] in _SPACE + ",":
            index += 1
        if index >= len(value):
            return candidates
        start = index
        while index < len(value) and value[index] not in _SPACE:
            index += 1
        url, descriptors = value[start:index], ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth, start = 0, index
            while index < len(value) and (value[index] != "," or depth):
                if value[index] == "(":
                    depth += 1
                elif value[index] == ")" and depth:
                    depth -= 1
                index += 1
            descriptors = value[start:index].strip(_SPACE)
        candidates.append((url, descriptors))


# The attributes that hold a URL (srcset: a list of them), found with XPath, in C.
_URLS = etree.XPath(
    "//@href | //@src | //@poster | //@cite | //@action | //@formaction | //@longdesc"
    " | //@background | //@srcset | //@*[name()='xlink:href']"
)


def resolved_html(root: lxml.html.HtmlElement, base: str) -> str:
    """The fragment parsed into `root` (see `parse`) with every URL in it resolved against
    `base` (an absolute URL, or a site path such as `/blog/2026/01/post/`): page-relative
    and fragment-only URLs then mean the same on any page. A URL that cannot be parsed is
    kept as written. Changes `root`."""
    for value in _URLS(root):
        resolve = _resolve_srcset if value.attrname == "srcset" else _resolve
        value.getparent().set(value.attrname, resolve(str(value), base))
    inner = [etree.tostring(child, encoding="unicode", method="html") for child in root]
    return html.escape(root.text or "", quote=False) + "".join(inner)


def _resolve_srcset(value: str, base: str) -> str:
    return ", ".join(
        " ".join(filter(None, [_resolve(url, base), descriptors]))
        for url, descriptors in srcset_candidates(value)
    )


def _resolve(value: str, base: str) -> str:
    try:
        return urljoin(base, value.strip(_SPACE))
    except ValueError:  # a malformed URL (bad IPv6 host): left as the author wrote it
        return value


def page_ids(data: bytes) -> frozenset[str]:
    """The ids (and `<a name>`s) of a whole page as written."""
    text = data.decode("utf-8", "replace")
    if not text.strip():
        return frozenset()
    parser = lxml.html.HTMLParser(huge_tree=True)
    try:
        document = lxml.html.document_fromstring(_UNPARSABLE.sub("", text), parser=parser)
    except lxml.etree.ParserError:  # no element at all: a comment, say
        return frozenset()
    return frozenset(str(v) for v in _IDS(document))


def check_links(
    site: Site,
    paths: frozenset[str],
    read: Callable[[str], bytes],
    earlier: Earlier | None = None,
) -> list[ContentError]:
    """A problem naming each post line whose link does not resolve, in a site of the
    output `paths`; `read` gives the bytes of the one at a path.

    With `earlier` (a preview's last link check), a post's problems are those of that
    check when everything they depend on is equal: the site's URL, the post, its links,
    the set of output paths, and the bytes and post of each page its links look for an id
    in (the pages are found again only when the rest differs)."""
    earlier = earlier or Earlier()
    # The last build's set when equal: each post's comparison below then takes no time.
    files = earlier.value("output paths", paths, lambda: paths)
    check = Check(site, files, read)
    errors: list[ContentError] = []
    for entry in site.posts:
        if not entry.rendering.links:
            continue
        if not earlier.remember:  # no key to make: each page is read once, if at all
            errors += check.problems(entry)
            continue
        given = (check.site_url, entry.post, entry.rendering.links, files)
        targets = earlier.value(
            "targets " + entry.post.source, given, functools.partial(check.targets, entry)
        )
        pages = tuple((path, read(path), check.own.get(path)) for path in targets)
        found = dict(zip(targets, (data for _, data, _ in pages), strict=True))
        errors += earlier.value(
            "links " + entry.post.source,
            (given, pages),
            functools.partial(check.problems, entry, found.__getitem__),
        )
    return errors


class Check:
    """The link check of a site of the output `paths`, one post at a time; `read` gives
    the bytes of the output at a path. What one post's check finds (a page's ids, whether
    a URL names another site) is kept for the next."""

    def __init__(self, site: Site, paths: frozenset[str], read: Callable[[str], bytes]) -> None:
        self.site_url = site.config.url
        self.files = paths
        self.read = read
        self.own = {urls.page_file(e.post.path): e for e in site.posts}
        self.ids: dict[str, tuple[frozenset[str], bool]] = {}  # the pages' ids found, by path
        self.elsewhere: dict[str, bool] = {}

    def targets(self, entry: RenderedPost) -> tuple[str, ...]:
        """The output paths of the pages in which `entry`'s links look for an id."""
        return _targets(self.site_url, entry, self.files, self.elsewhere)

    def problems(
        self, entry: RenderedPost, read: Callable[[str], bytes] | None = None
    ) -> list[ContentError]:
        """A problem naming each line of `entry`'s post whose link does not resolve."""
        return _post_problems(
            self.site_url, entry, self.files, read or self.read, self.own, self.ids, self.elsewhere
        )


def _resolved(
    site_url: str, page: str, url: str, files: frozenset[str], elsewhere: dict[str, bool]
) -> str | tuple[str, str] | None:
    try:
        return _quick_problem(site_url, page, url, files, elsewhere)
    except ValueError:  # urlsplit: a bracketed host that does not close, say
        return f"link to `{url}`: not a valid URL"


def _targets(
    site_url: str, entry: RenderedPost, files: frozenset[str], elsewhere: dict[str, bool]
) -> tuple[str, ...]:
    """The output paths of the pages in which `entry`'s links look for an id."""
    page = urljoin(site_url, entry.post.path)
    found: dict[str, None] = {}
    for url in entry.rendering.links:
        problem = _resolved(site_url, page, url, files, elsewhere)
        if isinstance(problem, tuple):
            found[problem[0]] = None
    return tuple(found)


def _post_problems(
    site_url: str,
    entry: RenderedPost,
    files: frozenset[str],
    read: Callable[[str], bytes],
    own: dict[str, RenderedPost],
    ids: dict[str, tuple[frozenset[str], bool]],
    elsewhere: dict[str, bool],
) -> list[ContentError]:
    """A problem naming each line of `entry`'s post whose link does not resolve."""
    page = urljoin(site_url, entry.post.path)
    errors = []
    for url in entry.rendering.links:
        problem = _resolved(site_url, page, url, files, elsewhere)
        if isinstance(problem, tuple):
            path, fragment = problem
            found = _has_id(path, fragment, read, own, ids)
            problem = None if found else _no_id(url, fragment)
        if problem:
            problem = problem.translate(_SHOWN)  # one line: `path:line: message`
            hint = "fix the address, or remove the link"
            line = _line_of(entry.post, url)
            errors.append(ContentError(entry.post.source, line, problem, hint))
    return errors


def check_images(site: Site, paths: frozenset[str]) -> None:
    """Raise `BuildError` for a card image (front matter or blog.toml `image`) that names a
    site path the build does not publish (not in the output `paths`). An https URL is
    never fetched."""
    config = site.config
    errors = []
    wanted: list[tuple[str, int | None, str | None]] = [
        (e.post.source, e.post.image_line, e.post.image) for e in site.posts if e.post.image
    ]
    if config.image and not config.image.startswith("https://"):
        wanted.append(("blog.toml", config.image_line, urls.image_path(config.image, "")))
    for source, line, path in wanted:
        if path is None:
            message = f"`image` {config.image!r} climbs above the site root"
            errors.append(ContentError(source, line, message, "write it like /assets/card.png"))
        elif not path.startswith("https://") and path not in paths:
            message = f"`image` /{path} is not a file the site publishes"
            hint = f"put the image at static/{path}, or fix the path"
            errors.append(ContentError(source, line, message, hint))
    if errors:
        raise BuildError(errors)


def _has_id(
    path: str,
    fragment: str,
    read: Callable[[str], bytes],
    own: dict[str, RenderedPost],
    found: dict[str, tuple[frozenset[str], bool]],
) -> bool:
    """Whether the page at `path` (`read` gives its bytes) has the id `fragment`. Most
    links into a page are to an id of its post's HTML (footnotes), known without a
    parse when the page holds that HTML as rendered; the whole page is parsed only for
    another id (one its template writes, or none). `found` keeps, by path, the ids found
    and whether they are all the page's."""
    if path in found:
        ids, whole = found[path]
        if fragment in ids or whole:
            return fragment in ids
    data = read(path)
    entry = own.get(path)
    first = path not in found
    if first and entry is not None and holds(data, entry.html.encode("utf-8", "replace")):
        found[path] = (frozenset(entry.rendering.ids), False)
        if fragment in found[path][0]:
            return True
    found[path] = (page_ids(data), True)
    return fragment in found[path][0]


_SHOWN = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def holds(data: bytes, part: bytes) -> bool:
    """`part in data`, several times faster for a long `part` found once (a post's HTML
    in its page): candidates are where its first bytes are, each compared in full."""
    head = part[:64]
    index = data.find(head)
    while index != -1:
        if data.startswith(part, index):
            return True
        index = data.find(head, index + 1)
    return False


def _no_id(url: str, fragment: str) -> str:
    return f"link to `{url}`: no element with id `{fragment}` on that page"


def _quick_problem(
    site_url: str, page: str, url: str, files: frozenset[str], elsewhere: dict[str, bool]
) -> str | tuple[str, str] | None:
    """`_problem(site_url, page, url, files)` with less parsing: whether a URL names
    another site is the same on every page (kept in `elsewhere`), and a fragment alone
    resolves to the page's own URL with that fragment."""
    target = url.strip()
    if target not in elsewhere:
        elsewhere[target] = _elsewhere(_split(site_url), urlsplit(target))
    if elsewhere[target]:
        return None
    if _same_page(target, page):
        parts = _split(page)._replace(fragment=target[1:])
        return _judge(_split(site_url), url, parts, files)
    return _problem(site_url, page, url, files)


@functools.lru_cache(maxsize=4)
def _split(url: str) -> SplitResult:
    # The site's URL and the page being checked: split once, not once per link.
    return urlsplit(url)


def _problem(
    site_url: str, page: str, url: str, files: frozenset[str]
) -> str | tuple[str, str] | None:
    """What is wrong with `url` on the page at `page`, None when it resolves, or the
    (output path, fragment) to look for when that depends on the page's ids."""
    target = url.strip()
    site = urlsplit(site_url)
    # Most links are to other sites or to a footnote; neither needs urljoin: it keeps a
    # URL's scheme and host, and gives a fragment alone the page's address.
    if _elsewhere(site, urlsplit(target)):
        return None  # another site, or a scheme such as mailto:
    same_page = target.startswith("#") and "#" not in page
    parts = urlsplit(page + target if same_page else urljoin(page, target))
    return _judge(site, url, parts, files)


def _elsewhere(site: SplitResult, written: SplitResult) -> bool:
    """Whether a URL as written (split) names another site, or a scheme like mailto:."""
    if not written.scheme:
        return False
    return (written.scheme.lower(), (written.netloc or site.netloc).lower()) != _origin(site)


def _origin(parts: SplitResult) -> tuple[str, str]:
    """Scheme and host as a browser compares them: neither is case-sensitive."""
    return parts.scheme.lower(), parts.netloc.lower()


def _same_page(target: str, page: str) -> bool:
    """Whether `target` (stripped) is a fragment alone whose split, on `page`, is the
    page's own split with that fragment: `urlsplit` drops tabs and line ends anywhere."""
    return target.startswith("#") and "#" not in page and not _DROPPED.search(target)


_DROPPED = re.compile("[\t\r\n]")


def _judge(
    site: SplitResult, url: str, parts: SplitResult, files: frozenset[str]
) -> str | tuple[str, str] | None:
    """`_problem` for a link written `url` that resolves to `parts`."""
    if _origin(parts) != _origin(site):
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


def _output_path(path: str, files: frozenset[str]) -> str | None:
    for candidate in (path, path + "index.html", path + "/index.html"):
        if candidate in files and not candidate.endswith("/"):
            return candidate
    return None


def _line_of(post: Post, url: str) -> int | None:
    """The first body line where the link is written, as written or decoded."""
    lines = post.body.split("\n")
    for needle in dict.fromkeys((url, unquote(url), url.replace("&", "&amp;"))):
        for index, line in enumerate(lines):
            if needle in line:
                return post.body_line + index
    return post.body_line
