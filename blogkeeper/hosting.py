"""How a static host answers a request for a built site, as pure functions.

Given a `Snapshot` of a build (output path -> bytes) and a request's raw path and headers,
these functions decide the response: unsafe paths refused (`..`, encoded slashes,
backslashes, NUL), folders redirected to their slash form and never off-site, content
types, the build's `_headers` rules (as Cloudflare Pages applies them: in file order,
repeated headers joined, `! Name` detaching, `:splat` and `:name` filled in), its
`_redirects` rules (as Cloudflare Pages follows them: the first that matches, before any
file; only those that stay on the site), `Link:`
discovery headers, `Accept: text/markdown` negotiation, the site's 404.html, ETag
and conditional GET. `serve` is the only user. This module does no I/O and never sends
CORS headers.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

HEADERS_FILE = "_headers"
REDIRECTS_FILE = "_redirects"
HOST_FILES = frozenset({HEADERS_FILE, REDIRECTS_FILE})  # read by hosts, never served by them
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Headers a site's _headers may set in the preview too; never CORS, caching or cookies.
PASSED_HEADERS = frozenset(
    {
        "content-type",
        "link",
        "x-robots-tag",
        "content-language",
        "content-security-policy",
        "referrer-policy",
        "permissions-policy",
        "x-frame-options",
    }
)

LLMS_FILES = frozenset({"llms.txt", "llms-full.txt"})


@dataclass(frozen=True)
class Snapshot:
    """One complete build, never changed once made; requests read it without locks."""

    base: str
    files: Mapping[str, bytes]
    rules: tuple[Rule, ...]  # from the build's _headers file, if it has one
    redirects: tuple[Redirect, ...] = ()  # from its _redirects file, if it has one

    @classmethod
    def of(cls, base: str, files: Mapping[str, bytes]) -> Snapshot:
        rules = header_rules(files.get(HEADERS_FILE, b"").decode("utf-8", "replace"))
        moved = redirect_rules(files.get(REDIRECTS_FILE, b"").decode("utf-8", "replace"))
        return cls(base, dict(files), rules, moved)


@dataclass(frozen=True)
class Redirect:
    """One rule of a Netlify / Cloudflare Pages `_redirects` file: `from to [code]`."""

    pattern: re.Pattern[str]  # matches a decoded URL path; `*` and `:name` are groups
    target: str  # a path on the site, with `:splat` and `:name` to fill in
    status: int


def redirect_rules(text: str) -> tuple[Redirect, ...]:
    """The rules of a `_redirects` file that a preview can follow: a redirect status (the
    one given, else Cloudflare's default 302; blogkeeper writes 301) to a path on this
    site. Rewrites (200), forced rules (`301!`), conditions and targets on other hosts
    are Netlify's or another server's business and are left out."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) not in (2, 3) or fields[0].startswith("#"):
            continue
        source, target = fields[0], fields[1]
        code = fields[2] if len(fields) == 3 else "302"
        if not code.isdigit() or int(code) not in REDIRECT_CODES:
            continue
        if not source.startswith("/") or not target.startswith("/") or target.startswith("//"):
            continue
        pattern = _rule_pattern(source)
        if pattern is not None:
            found.append(Redirect(pattern, target, int(code)))
    return tuple(found)


@dataclass(frozen=True)
class Rule:
    """One path rule of a Netlify / Cloudflare Pages `_headers` file."""

    pattern: re.Pattern[str]  # matches a decoded URL path; `*` and `:name` are groups
    headers: tuple[tuple[str, str], ...]
    detached: tuple[str, ...] = ()  # `! Name` lines: headers earlier rules set, removed


def header_rules(text: str) -> tuple[Rule, ...]:
    """The rules of a `_headers` file, keeping only headers a preview should repeat.

    A rule whose path Cloudflare Pages would refuse (two splats, a placeholder named twice)
    is left out, as Cloudflare leaves it out.
    """
    rules: list[tuple[str, list[tuple[str, str]], list[str]]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            rules.append((stripped, [], []))
        elif rules and stripped.startswith("!"):
            name = stripped[1:].strip()
            if name.lower() in PASSED_HEADERS:
                rules[-1][2].append(name)
        elif rules and ":" in stripped:
            name, value = (part.strip() for part in stripped.split(":", 1))
            if name.lower() in PASSED_HEADERS:
                rules[-1][1].append((name, value))
    parsed = []
    for path, headers, detached in rules:
        pattern = _rule_pattern(path) if path.startswith("/") else None
        if pattern is not None and (headers or detached):
            parsed.append(Rule(pattern, tuple(headers), tuple(detached)))
    return tuple(parsed)


_PLACEHOLDER = re.compile(r":([A-Za-z]\w*)")


def _rule_pattern(path: str) -> re.Pattern[str] | None:
    """As Cloudflare Pages reads a rule path: `*` matches anything (the `:splat` of the
    values), `:name` one path segment; None for a path it refuses."""
    splat = "(?P<splat>.*)"
    escaped = splat.join(re.escape(piece) for piece in unquote(path).split("*"))
    pattern = _PLACEHOLDER.sub(lambda m: f"(?P<{m[1]}>[^/]+)", escaped)
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _filled(value: str, groups: Mapping[str, str]) -> str:
    """A header value with `:splat` and `:name` replaced by what the rule path matched."""
    return _PLACEHOLDER.sub(lambda m: groups.get(m[1], m[0]), value)


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def lookup(site: Snapshot, segments: list[str], query: str, accept: str) -> Response:
    """A `_redirects` rule's redirect, a file of the build, a folder's index.html (or its
    twin), a folder's redirect to its `/` form or the 404."""
    moved = follow_redirects(site.redirects, "/" + "/".join(segments))
    if moved is not None:
        return moved
    base_parts = [p for p in site.base.split("/") if p]
    if segments[: len(base_parts)] != base_parts:
        if segments == [""]:
            return redirect([*base_parts, ""], query)
        return not_found(site)
    parts = segments[len(base_parts) :] or [""]
    path = "/".join(parts)
    if parts[-1] != "":
        if path.endswith(".html") and path in site.files:  # a post at x.html: twin x.md
            return negotiate(site, path, path.removesuffix(".html") + ".md", accept)
        if path in site.files and path not in HOST_FILES:
            return file_response(site, path)
        if path + "/index.html" in site.files:  # a folder with no page is a 404 at once
            return redirect([*segments, ""], query)
        return not_found(site)
    page = path + "index.html"
    if page not in site.files:
        return not_found(site)
    return negotiate(site, page, path + "index.md", accept)


def follow_redirects(rules: tuple[Redirect, ...], path: str) -> Response | None:
    """The redirect of the first rule matching the decoded URL `path`, or None; always
    to a path on this site."""
    for rule in rules:
        match = rule.pattern.fullmatch(path)
        if match is not None:
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            location = quote(_filled(rule.target, groups), safe="/:@!$&'()*+,;=%~?#")
            if location.startswith("//"):
                continue  # a filled-in splat must not make it another host's address
            headers = (("Location", location), ("Content-Type", "text/plain; charset=utf-8"))
            return Response(rule.status, headers, b"")
    return None


def not_found(site: Snapshot) -> Response:
    if "404.html" not in site.files:
        return plain(404, "Not found")
    found = file_response(site, "404.html")
    return Response(404, found.headers, found.body)


def host_name(header: str) -> str | None:
    """The host of a Host header, lowercased, without port; None when malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[: end + 1], value[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name
    name, colon, port = value.partition(":")
    if not name or (colon and not port.isdigit()):
        return None
    return name.rstrip(".")


def parse_path(raw: str) -> tuple[list[str], str] | Response:
    """Decoded path segments and the query, or a 400/404 for anything unsafe or odd."""
    path, _, query = raw.partition("?")
    path = path.partition("#")[0]
    lowered = path.lower()
    if not path.startswith("/") or "\\" in path or "%5c" in lowered or "%00" in lowered:
        return plain(400, "Bad request")
    try:
        segments = [unquote(s, errors="strict") for s in path[1:].split("/")]
    except UnicodeDecodeError:
        return plain(400, "Bad request")
    if any(s in (".", "..") or any(c in s for c in "/\\\x00") for s in segments):
        return plain(400, "Bad request")
    if any(s == "" or s.startswith(".") for s in segments[:-1]) or segments[-1].startswith("."):
        return plain(404, "Not found")
    return segments, query


def redirect(segments: list[str], query: str) -> Response:
    """A permanent redirect, as static hosts send, to a path built from validated
    segments: always on-site, never `//`."""
    location = "/" + "/".join(quote(s, safe="") for s in segments)
    if query:
        location += "?" + quote(query, safe="=&;%+")
    return Response(
        301, (("Location", location), ("Content-Type", "text/plain; charset=utf-8")), b""
    )


def negotiate(site: Snapshot, page: str, twin: str, accept: str) -> Response:
    """A page's HTML, or its Markdown twin when the client prefers text/markdown."""
    if twin not in site.files:
        return file_response(site, page)
    chosen = twin if prefers_markdown(accept) else page
    response = file_response(site, chosen)
    return Response(response.status, (*response.headers, ("Vary", "Accept")), response.body)


def prefers_markdown(accept: str) -> bool:
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        weight = 1.0
        for param in params:
            if param.replace(" ", "").startswith("q="):
                try:
                    weight = float(param.split("=", 1)[1])
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))
    markdown = weights.get("text/markdown", 0.0)
    page = weights.get("text/html", weights.get("text/*", weights.get("*/*", 0.0)))
    return markdown > 0 and markdown >= page


def file_response(site: Snapshot, path: str) -> Response:
    """A file of the build with its type and links; the build's `_headers` rules win."""
    data = site.files[path]
    headers = {"content-type": ("Content-Type", content_type(path, data))}
    links = discovery_links(site, path)
    if links:
        headers["link"] = ("Link", links)
    url = site.base + (path.removesuffix("index.html") if _is_index(path) else path)
    apply_rules(site.rules, url, headers)
    return Response(200, tuple(headers.values()), data)


def apply_rules(rules: tuple[Rule, ...], url: str, headers: dict[str, tuple[str, str]]) -> None:
    """Apply every rule matching `url` in file order, as Cloudflare Pages does: `! Name`
    removes a header, the first value a rule gives replaces the server's own, and later
    values are joined to it with a comma."""
    given: set[str] = set()
    for rule in rules:
        match = rule.pattern.fullmatch(url)
        if match is None:
            continue
        for name in rule.detached:
            headers.pop(name.lower(), None)
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        for name, value in rule.headers:
            key, value = name.lower(), _filled(value, groups)
            if key in given and key in headers:
                value = headers[key][1] + ", " + value
            headers[key] = (name, value)
            given.add(key)


def _paired(site: Snapshot, path: str) -> bool:
    """Whether a page x.html has its twin x.md beside it, or a twin x.md its page."""
    stem = path.rpartition(".")[0]
    return stem + ".html" in site.files and stem + ".md" in site.files


def _is_index(path: str) -> bool:
    return path == "index.html" or path.endswith("/index.html")


def discovery_links(site: Snapshot, path: str) -> str:
    """The llms.txt v2 `Link:` header for a page or a twin, naming only files that exist:
    a folder's index.html and index.md, or a page x.html and x.md beside it."""
    folder, _, name = path.rpartition("/")
    url = quote(site.base + (folder + "/" if folder else ""))
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix not in ("html", "md") or (stem != "index" and not _paired(site, path)):
        return ""
    page = "" if stem == "index" else stem + ".html"
    links = []
    if suffix == "html" and path.removesuffix("html") + "md" in site.files:
        links.append(f'<{url}{quote(stem)}.md>; rel="alternate"; type="text/markdown"')
    if suffix == "md":
        links.append(f'<{url}{quote(page)}>; rel="alternate"; type="text/html"')
    if "llms.txt" in site.files:
        links.append(f'<{quote(site.base)}llms.txt>; rel="describedby"')
    return ", ".join(links)


TYPES = {
    ".html": "text/html; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}


def content_type(name: str, data: bytes) -> str:
    if Path(name).name in LLMS_FILES:
        return "text/markdown; charset=utf-8"  # as the llms module's _headers says
    if Path(name).name == "feed.json":
        return "application/feed+json"  # the JSON Feed's own type, as _headers says
    suffix = Path(name).suffix.lower()
    if suffix == ".xml":
        head = data[:1024]
        if b"<rss" in head:
            return "application/rss+xml"
        if b"<feed" in head:
            return "application/atom+xml"
        return "application/xml"
    guessed = TYPES.get(suffix) or mimetypes.guess_type(name)[0]
    return guessed or "application/octet-stream"


def finish(response: Response, if_none_match: str | None = None, head: bool = False) -> Response:
    """The response as sent: length, ETag, caching headers, 304 and HEAD handled."""
    body = response.body
    etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
    headers = [
        *response.headers,
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-cache"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if response.status == 200:
        headers.append(("ETag", etag))
        if if_none_match and _matches(if_none_match, etag):
            kept = [(k, v) for k, v in headers if k not in ("Content-Length", "Content-Type")]
            return Response(304, tuple(kept), b"")
    return Response(response.status, tuple(headers), b"" if head else body)


def _matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def plain(status: int, text: str) -> Response:
    return Response(status, (("Content-Type", "text/plain; charset=utf-8"),), text.encode() + b"\n")
