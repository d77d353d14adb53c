"""`blogkeeper serve`: a live preview that rebuilds on save and reloads every open tab.

`Preview` is handed a builder callable and knows nothing else about the site: it keeps the
last good build as an immutable in-memory `Snapshot` (output path -> bytes), serves it over
HTTP and tells open tabs to reload (Server-Sent Events on `EVENTS`). A failed rebuild keeps
the last good build and shows the errors as an overlay. `serve` wires it to
`site.build_site` (the one build path) and to a watchfiles watcher.

Why memory and not a temporary folder: a preview then writes nothing at all (public/ and
the disk are never touched, nothing is left behind even after `kill -9`), a rebuild skips
the writer's per-file work, and a URL can only name a file of the build: no path on disk is
ever opened, so `..`, encoded slashes and symlinks have nothing to reach.

Safety: requests wait while a build runs (nobody sees a half-built site); Host must be a
loopback name or an allowed one (DNS rebinding); the reload channel refuses cross-origin
requests; no CORS headers are ever sent. The reload script is added to HTML as it is served,
never stored. This module must not write files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import ipaddress
import json
import mimetypes
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import watchfiles

from blogkeeper.errors import BuildError, ContentError

EVENTS = "/__blogkeeper/events"
LIVE_PATH = "/__blogkeeper/live.js"
JS_TYPE = "text/javascript; charset=utf-8"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
HEADERS_FILE = "_headers"
HOST_FILES = frozenset({HEADERS_FILE, "_redirects"})  # read by hosts, never served by them
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
WATCHED = ("posts", "templates", "static", "blog.toml")
PING_SECONDS = 15.0
RETRY = "save again; if it persists, run `blogkeeper build` to see the traceback"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Built:
    """A built site as a builder hands it over: every output file, and where it lives."""

    base: str  # the URL path the site lives under: "/" or "/blog/"
    files: Mapping[str, bytes]  # output path ("2026/03/x/index.html") -> bytes


Builder = Callable[[], Built]  # build the site, or raise BuildError


@dataclass(frozen=True)
class Snapshot:
    """One complete build, never changed once made; requests read it without locks."""

    base: str
    files: Mapping[str, bytes]
    folders: frozenset[str]  # every folder that holds an output: "", "2026", "2026/03", ...
    rules: tuple[Rule, ...]  # from the build's _headers file, if it has one

    @classmethod
    def of(cls, built: Built) -> Snapshot:
        folders = {""}
        for path in built.files:
            parts = path.split("/")[:-1]
            folders.update("/".join(parts[: n + 1]) for n in range(len(parts)))
        rules = header_rules(built.files.get(HEADERS_FILE, b"").decode("utf-8", "replace"))
        return cls(built.base, dict(built.files), frozenset(folders), rules)


@dataclass(frozen=True)
class Rule:
    """One path rule of a Netlify / Cloudflare Pages `_headers` file."""

    pattern: re.Pattern[str]  # matches a decoded URL path
    headers: tuple[tuple[str, str], ...]


def header_rules(text: str) -> tuple[Rule, ...]:
    """The rules of a `_headers` file, keeping only headers a preview should repeat."""
    rules: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            rules.append((stripped, []))
        elif rules and ":" in stripped:
            name, value = (part.strip() for part in stripped.split(":", 1))
            if name.lower() in PASSED_HEADERS:
                rules[-1][1].append((name, value))
    return tuple(
        Rule(_rule_pattern(path), tuple(headers))
        for path, headers in rules
        if path.startswith("/") and headers
    )


def _rule_pattern(path: str) -> re.Pattern[str]:
    """`*` matches anything, `:name` one segment, as on Netlify and Cloudflare Pages."""
    parts = []
    for segment in unquote(path).split("/"):
        if segment.startswith(":"):
            parts.append("[^/]+")
        else:
            parts.append(".*".join(re.escape(piece) for piece in segment.split("*")))
    return re.compile("/".join(parts))


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass
class _State:
    """What requests and the reload channel read, guarded by `cond`."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    site: Snapshot | None = None  # the last good build
    generation: int = 0  # 0 until the first good build; +1 whenever the output changes
    errors: tuple[str, ...] = ()
    building: bool = False
    closing: bool = False


class Preview:
    """The last good build of a site, rebuilt on demand, served by `Handler`."""

    def __init__(self, builder: Builder, allowed_hosts: Iterable[str] = ()) -> None:
        self.builder = builder
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts) | LOOPBACK_NAMES
        self.state = _State()
        self.instance = secrets.token_hex(4)  # a restarted server makes old tabs reload

    def build_id(self, generation: int) -> str:
        return f"{self.instance}.{generation}"

    def rebuild(self) -> BuildError | None:
        """Build while requests wait; on failure keep serving the last good build."""
        state = self.state
        with state.cond:
            state.cond.wait_for(lambda: not state.building)
            state.building = True
        failure, site = None, None
        try:
            site = Snapshot.of(self.builder())
        except BuildError as exc:
            failure = exc
        except Exception as exc:  # a bug, or a file read mid-save: report it, keep serving
            failure = BuildError([ContentError("blogkeeper", None, _unexpected(exc), RETRY)])
        finally:
            with state.cond:
                state.building = False
                state.errors = tuple(str(e) for e in failure.errors) if failure else ()
                if site is not None and (state.site is None or site != state.site):
                    state.site = site
                    state.generation += 1
                state.cond.notify_all()
        return failure

    def close(self) -> None:
        with self.state.cond:
            self.state.closing = True
            self.state.cond.notify_all()

    def host_allowed(self, header: str | None) -> bool:
        name = host_name(header or "")
        return name is not None and (name in self.allowed_hosts or name.endswith(".localhost"))

    def snapshot(self, last: tuple[int, tuple[str, ...]] | None, timeout: float) -> Any:
        """The (generation, errors) pair, after waiting up to `timeout` for it to differ."""
        state = self.state
        with state.cond:
            state.cond.wait_for(
                lambda: (
                    state.closing
                    or (not state.building and (state.generation, state.errors) != last)
                ),
                timeout,
            )
            return None if state.closing else (state.generation, state.errors)

    def respond(self, raw_path: str, headers: Any, head: bool = False) -> Response:
        """The response to a GET (or HEAD) of `raw_path`, as sent by the client."""
        parsed = parse_path(raw_path)
        if isinstance(parsed, Response):
            return finish(parsed, self.build_id(0), None, head)
        if raw_path.partition("?")[0] == LIVE_PATH:
            script = Response(
                200, (("Content-Type", "text/javascript; charset=utf-8"),), LIVE_JS.encode()
            )
            return finish(script, "", headers.get("If-None-Match"), head)
        state = self.state
        with state.cond:
            state.cond.wait_for(lambda: not state.building)
            site, generation, errors = state.site, state.generation, state.errors
        if site is None:
            return finish(first_build_failed(errors), self.build_id(0), None, head)
        response = lookup(site, *parsed, headers.get("Accept", ""))
        return finish(response, self.build_id(generation), headers.get("If-None-Match"), head)


def _unexpected(exc: Exception) -> str:
    return f"unexpected {type(exc).__name__} while building: {exc}"


def first_build_failed(errors: tuple[str, ...]) -> Response:
    text = "\n".join(errors) or "The site is being built."
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Build failed</title>"
        f"<body><h1>The site does not build yet</h1><pre>{html.escape(text)}</pre></body>"
    )
    return Response(503, (("Content-Type", "text/html; charset=utf-8"),), body.encode())


def lookup(site: Snapshot, segments: list[str], query: str, accept: str) -> Response:
    """A file of the build, a folder's index.html (or its twin), a redirect or the 404."""
    base_parts = [p for p in site.base.split("/") if p]
    if segments[: len(base_parts)] != base_parts:
        if segments == [""]:
            return redirect([*base_parts, ""], query)
        return not_found(site)
    parts = segments[len(base_parts) :] or [""]
    path = "/".join(parts)
    if parts[-1] != "":
        if path in site.files and path not in HOST_FILES:
            return file_response(site, path)
        if path in site.folders:
            return redirect([*segments, ""], query)
        return not_found(site)
    page = path + "index.html"
    if page not in site.files:
        return not_found(site)
    return negotiate(site, page, path + "index.md", accept)


def not_found(site: Snapshot) -> Response:
    if "404.html" not in site.files:
        return _plain(404, "Not found")
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
        return _plain(400, "Bad request")
    try:
        segments = [unquote(s, errors="strict") for s in path[1:].split("/")]
    except UnicodeDecodeError:
        return _plain(400, "Bad request")
    if any(s in (".", "..") or any(c in s for c in "/\\\x00") for s in segments):
        return _plain(400, "Bad request")
    if any(s == "" or s.startswith(".") for s in segments[:-1]) or segments[-1].startswith("."):
        return _plain(404, "Not found")
    return segments, query


def redirect(segments: list[str], query: str) -> Response:
    """A redirect to a path built from validated segments: always on-site, never `//`."""
    location = "/" + "/".join(quote(s, safe="") for s in segments)
    if query:
        location += "?" + quote(query, safe="=&;%+")
    return Response(
        302, (("Location", location), ("Content-Type", "text/plain; charset=utf-8")), b""
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
    for rule in site.rules:
        if rule.pattern.fullmatch(url):
            headers.update((name.lower(), (name, value)) for name, value in rule.headers)
    return Response(200, tuple(headers.values()), data)


def _is_index(path: str) -> bool:
    return path == "index.html" or path.endswith("/index.html")


def discovery_links(site: Snapshot, path: str) -> str:
    """The llms.txt v2 `Link:` header for a page or a twin, naming only files that exist."""
    folder, _, name = path.rpartition("/")
    if name not in ("index.html", "index.md"):
        return ""
    url = quote(site.base + (folder + "/" if folder else ""))
    links = []
    if name == "index.html" and path.removesuffix("html") + "md" in site.files:
        links.append(f'<{url}index.md>; rel="alternate"; type="text/markdown"')
    if name == "index.md":
        links.append(f'<{url}>; rel="alternate"; type="text/html"')
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


def finish(response: Response, build: str, if_none_match: str | None, head: bool) -> Response:
    """Add the reload script to HTML, then ETag, caching headers and 304 handling."""
    body = response.body
    kind = dict(response.headers).get("Content-Type", "")
    if kind.startswith("text/html"):
        body = inject(body, build)
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


def _plain(status: int, text: str) -> Response:
    return Response(status, (("Content-Type", "text/plain; charset=utf-8"),), text.encode() + b"\n")


LIVE_JS = """(() => {
const built = document.currentScript.dataset.build, key = "blogkeeper-scroll";
const saved = sessionStorage.getItem(key);
if (saved) { sessionStorage.removeItem(key); const [p, y] = JSON.parse(saved);
  if (p === location.pathname) addEventListener("load", () => scrollTo(0, y)); }
function overlay(errors) {
  let box = document.getElementById("blogkeeper-errors");
  if (!errors.length) { if (box) box.remove(); return; }
  if (!box) { box = document.createElement("div"); box.id = "blogkeeper-errors";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;inset:auto 0 0 0;max-height:60vh;overflow:auto;"
      + "z-index:2147483647;margin:0;padding:1em;background:#2b0b0b;color:#ffd7d7;"
      + "font:14px/1.4 ui-monospace,monospace;border-top:4px solid #e5484d;";
    document.body.appendChild(box); }
  const title = document.createElement("strong");
  title.textContent = "Build failed; showing the last good build. Fix the errors and save:";
  const list = document.createElement("pre");
  list.style.cssText = "white-space:pre-wrap;margin:.5em 0 0";
  list.textContent = errors.join("\\n");
  box.replaceChildren(title, list);
}
const events = new EventSource("EVENTS_URL");
events.addEventListener("state", (e) => {
  const state = JSON.parse(e.data);
  if (state.generation > 0 && state.build !== built) {
    sessionStorage.setItem(key, JSON.stringify([location.pathname, scrollY]));
    events.close(); location.reload(); return; }
  overlay(state.errors);
});
})();
""".replace("EVENTS_URL", EVENTS)


def inject(body: bytes, build: str) -> bytes:
    """HTML with the reload script before `</body>`. An external script, not inline, so a
    site's own Content-Security-Policy (`script-src 'self'`) does not turn reloads off."""
    tag = f'<script src="{LIVE_PATH}" data-build="{html.escape(build)}" data-blogkeeper-live>'
    script = (tag + "</script>\n").encode()
    at = body.lower().rfind(b"</body>")
    return body + script if at < 0 else body[:at] + script + body[at:]


class Handler(BaseHTTPRequestHandler):
    """Thin HTTP glue: Host check, the event stream, and `Preview.respond`."""

    server: PreviewServer
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "blogkeeper"

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _refuse_method(self) -> None:
        self._send(Response(405, (("Allow", "GET, HEAD"), ("Content-Length", "0"))))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _handle(self, head: bool) -> None:
        preview = self.server.preview
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1:
            return self._send(_sized(_plain(400, "Bad request: one Host header needed")))
        if not preview.host_allowed(hosts[0]):
            return self._send(_sized(_plain(403, "Forbidden: unknown Host (see --allow-host)")))
        if self.path.partition("?")[0] == EVENTS:
            return self._events(hosts[0]) if not head else self._refuse_method()
        self._send(preview.respond(self.path, self.headers, head))

    def _events(self, host: str) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin.rstrip("/").lower() != f"http://{host}".lower():
            return self._send(_sized(_plain(403, "Forbidden: cross-origin")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        last = None
        try:
            while (state := self.server.preview.snapshot(last, PING_SECONDS)) is not None:
                if state == last:
                    self.wfile.write(b": ping\n\n")
                else:
                    build = self.server.preview.build_id(state[0])
                    data = json.dumps(
                        {"build": build, "generation": state[0], "errors": list(state[1])}
                    )
                    self.wfile.write(f"event: state\ndata: {data}\n\n".encode())
                    last = state
                self.wfile.flush()
        except OSError:
            pass  # the tab went away

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a preview is quiet; rebuilds are what the writer wants to see


def _sized(response: Response) -> Response:
    return Response(
        response.status,
        (*response.headers, ("Content-Length", str(len(response.body)))),
        response.body,
    )


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], preview: Preview) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.preview = preview
        super().__init__(address, Handler)


def watch(root: Path, on_change: Callable[[list[str]], None], stop: threading.Event) -> None:
    """Call `on_change` with the changed paths under posts/, templates/, static/, blog.toml.

    Only the folders that exist are watched (never the whole site folder, which may hold a
    virtualenv or public/); the watch restarts when one appears or vanishes, and after
    blog.toml changes, since editors often replace that file rather than write into it.
    """
    while not stop.is_set():
        targets = [root / name for name in WATCHED if (root / name).exists()]
        if not targets:
            stop.wait(0.5)
            continue
        for changes in watchfiles.watch(
            *targets,
            step=50,
            debounce=1000,
            stop_event=stop,
            rust_timeout=500,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            now = [root / name for name in WATCHED if (root / name).exists()]
            paths = sorted({path for _, path in changes})
            if now != targets:
                paths = paths or [str(p) for p in set(now) ^ set(targets)]
            if paths:
                on_change(paths)
            if now != targets or any(Path(p).name == "blog.toml" for p in paths):
                break


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    drafts: bool = True
    allow_hosts: tuple[str, ...] = ()
    now: dt.datetime | None = None  # the build's "now", for tests


def site_builder(root: Path, options: ServeOptions) -> Builder:
    """A builder for `Preview`: `site.build_site` (the one build path) with drafts and
    future posts, kept in memory: a preview never writes the site anywhere."""
    from blogkeeper.config import load_config
    from blogkeeper.site import BuildOptions, build_site

    build_options = BuildOptions(drafts=options.drafts, future=True, now=options.now, preview=True)

    def build() -> Built:
        outputs = build_site(root, build_options)
        return Built(load_config(root).base_path, {o.path: o.data for o in outputs})

    return build


def serve(root: Path, options: ServeOptions, say: Callable[[str], None]) -> int:
    """Build, serve and rebuild on change until SIGINT or SIGTERM; always clean up."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    threads: list[threading.Thread] = []
    try:
        preview = Preview(site_builder(root, options), _allowed(options))
        server = PreviewServer((options.host, options.port), preview)
        try:
            _serve(root, options, preview, server, stop, threads, say)
        finally:
            stop.set()
            preview.close()
            if any(t.name == "http" for t in threads):
                server.shutdown()
            server.server_close()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _serve(
    root: Path,
    options: ServeOptions,
    preview: Preview,
    server: PreviewServer,
    stop: threading.Event,
    threads: list[threading.Thread],
    say: Callable[[str], None],
) -> None:
    def changed(paths: list[str]) -> None:
        names = ", ".join(_shown(root, p) for p in paths[:3]) + (" …" if len(paths) > 3 else "")
        _rebuild(preview, say, f"{names} changed: rebuilt")

    say(f"building {root} in memory (drafts {_drafts(options)})")
    # Watch before the first build, so that a save during it is not missed.
    watcher = threading.Thread(target=watch, args=(root, changed, stop), name="watch", daemon=True)
    threads.append(watcher)
    threads[-1].start()
    _rebuild(preview, say, "built")
    if not _is_loopback(options.host):
        say(
            f"warning: {options.host} is not a loopback address: anyone on your network "
            "can reach this preview, drafts included; Host must be localhost or an "
            "--allow-host name"
        )
    host, port = server.server_address[:2]
    base = preview.state.site.base if preview.state.site else "/"
    say(f"serving at {_url(str(host), port, base)} (Ctrl-C to stop)")
    http = threading.Thread(target=server.serve_forever, args=(0.1,), name="http", daemon=True)
    threads.append(http)
    threads[-1].start()
    while not stop.wait(0.5):
        pass
    say("stopping")


def _drafts(options: ServeOptions) -> str:
    return "shown" if options.drafts else "hidden"


def _rebuild(preview: Preview, say: Callable[[str], None], done: str) -> None:
    started = time.perf_counter()
    failure = preview.rebuild()
    elapsed = time.perf_counter() - started
    if failure is None:
        say(f"{done} in {elapsed:.2f} s")
        return
    for error in failure.errors:
        say(str(error))
    kept = "keeping the last good build" if preview.state.generation else "nothing to serve yet"
    say(f"build failed: {len(failure.errors)} error(s); {kept}")


def _allowed(options: ServeOptions) -> list[str]:
    names = [_bracketed(h) for h in options.allow_hosts]
    try:
        address = ipaddress.ip_address(options.host)
    except ValueError:
        return names
    if not address.is_unspecified:
        names.append(_bracketed(options.host))  # an IP literal cannot be rebound
    return names


def _bracketed(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url(host: str, port: int, base: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("localhost" if host == "::" else host)
    return f"http://{_bracketed(shown)}:{port}{base}"


def _shown(root: Path, path: str) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path
