"""`blogkeeper serve`: a live preview that rebuilds on save and reloads every open tab.

`Preview` is handed a builder callable and knows nothing else about the site: it keeps the
last good build as an immutable in-memory `Snapshot` (output path -> bytes), serves it over
HTTP (the rules are in `hosting`) and tells open tabs to reload: Server-Sent Events on
`EVENTS`, followed by assets/live-reload.js. A failed rebuild keeps the last good build and
shows the errors as an overlay. `serve` wires it to `build.build` (the one build path)
and to a watchfiles watcher.

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
import gc
import html
import ipaddress
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import watchfiles

from blogkeeper import build
from blogkeeper.errors import BuildError, ContentError, DamagedCache
from blogkeeper.hosting import Response, Snapshot, finish, host_name, lookup, parse_path, plain
from blogkeeper.model import BuildOptions, Kept, Site
from blogkeeper.session import Session

EVENTS = "/__blogkeeper/events"
LIVE_PATH = "/__blogkeeper/live.js"
JS_TYPE = "text/javascript; charset=utf-8"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
# What a rebuild reads: check-record.json is check-code's record (checkrecord.RECORD_FILE).
WATCHED = ("posts", "templates", "static", "blog.toml", "check-record.json")
PING_SECONDS = 15.0
RETRY = "save again; if it persists, run `blogkeeper build` to see the traceback"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Files editors and tools write beside the one being saved; none is part of the site.
EDITOR_FILES = (
    r"\.sw[a-p]x?$",  # vim swap files: .swp, .swo, .swpx
    r"~$",  # backups: post.md~
    r"^4913$",  # vim's test that it may write in the folder
    r"^sed[A-Za-z0-9]{6}$",  # sed -i writes sedXXXXXX, then renames it over the file
    r"^\.#",  # emacs locks: .#post.md
    r"^#.*#$",  # emacs auto-saves: #post.md#
    r"^\.goutputstream-",  # GNOME's editors write one, then rename it over the file
    r"___jb_(old|tmp)___$",  # JetBrains' safe write: post.md___jb_tmp___
    r"^\..+\.tmp[0-9A-Za-z]*$",  # a hidden temporary file renamed over its file: .post.md.tmp12
)


class SiteFilter(watchfiles.DefaultFilter):
    """watchfiles' default filter (.git, __pycache__, …), plus editors' temporary files."""

    ignore_entity_patterns = (*watchfiles.DefaultFilter.ignore_entity_patterns, *EDITOR_FILES)


@dataclass(frozen=True)
class Built:
    """A built site as a builder hands it over: every output file, and where it lives."""

    base: str  # the URL path the site lives under: "/" or "/blog/"
    files: Mapping[str, bytes]  # output path ("2026/03/x/index.html") -> bytes
    warnings: tuple[str, ...] = ()  # `path:line: warning: ...` lines for the log
    work: str = ""  # what the build did, for the log: "1 post read, 1 rendered, 4 pages rendered"
    # The builder's tidying (the cache's bound, the one garbage collection): left for when
    # the folders are quiet, so that neither this save's reload nor its requests wait for
    # it (`Preview.tidy`).
    after: Callable[[], None] = lambda: None
    # When the next scheduled post comes out (`time.time()`): the preview builds again
    # then, so that it is no longer marked "Scheduled". None: no post is scheduled.
    due: float | None = None


Builder = Callable[[], Built]  # build the site, or raise BuildError


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
        self.warnings: tuple[str, ...] = ()  # the last good build's
        self.work = ""  # what the last good build did
        self.due: float | None = None  # the last good build's `Built.due`
        self._after: Callable[[], None] | None = None  # the last good build's, not yet run
        self._busy = threading.Lock()  # held by a build and by tidying

    def build_id(self, generation: int) -> str:
        return f"{self.instance}.{generation}"

    def rebuild(self) -> BuildError | None:
        """Build while requests wait; on failure keep serving the last good build."""
        state = self.state
        with state.cond:
            state.cond.wait_for(lambda: not state.building)
            state.building = True
        failure, site = None, None
        self.due = None  # a failed build waits for a save, not for the clock
        try:
            with self._busy:
                built = self.builder()
            site = Snapshot.of(built.base, built.files)
            self.warnings, self.work, self._after = built.warnings, built.work, built.after
            self.due = built.due
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

    def tidy(self) -> None:
        """Run the last good build's `after`, if it has not run: the watcher calls this
        when the folders have been quiet for a while."""
        with self._busy:
            after, self._after = self._after, None
            if after is not None:
                after()

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
            return finish(parsed, head=head)
        if raw_path.partition("?")[0] == LIVE_PATH:
            script = Response(200, (("Content-Type", JS_TYPE),), LIVE_JS)
            return finish(script, headers.get("If-None-Match"), head)
        state = self.state
        with state.cond:
            state.cond.wait_for(lambda: not state.building)
            site, generation, errors = state.site, state.generation, state.errors
        if site is None:
            page = with_script(first_build_failed(errors), self.build_id(0))
            return finish(page, head=head)
        response = lookup(site, *parsed, headers.get("Accept", ""))
        response = with_script(response, self.build_id(generation))
        return finish(response, headers.get("If-None-Match"), head)


def _unexpected(exc: Exception) -> str:
    return f"unexpected {type(exc).__name__} while building: {exc}"


def first_build_failed(errors: tuple[str, ...]) -> Response:
    text = "\n".join(errors) or "The site is being built."
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Build failed</title>"
        "<body><h1>The site does not build yet</h1>"
        f'<pre id="blogkeeper-first-errors">{html.escape(text)}</pre></body>'
    )
    return Response(503, (("Content-Type", "text/html; charset=utf-8"),), body.encode())


LIVE_JS = (Path(__file__).parent / "assets" / "live-reload.js").read_bytes()


def with_script(response: Response, build: str) -> Response:
    """An HTML response with the reload script added; any other response as it is."""
    if not dict(response.headers).get("Content-Type", "").startswith("text/html"):
        return response
    return replace(response, body=inject(response.body, build))


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
    # Headers and body go out as two writes: with Nagle's algorithm the second waits for
    # the client's delayed ACK of the first, 40 ms on every response (Linux).
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "blogkeeper"

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _refuse_method(self) -> None:
        self._send(finish(Response(405, (("Allow", "GET, HEAD"),))))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _handle(self, head: bool) -> None:
        preview = self.server.preview
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1:
            return self._send(finish(plain(400, "Bad request: one Host header needed")))
        if not preview.host_allowed(hosts[0]):
            return self._send(finish(plain(403, "Forbidden: unknown Host (see --allow-host)")))
        if self.path.partition("?")[0] == EVENTS:
            return self._events(hosts[0]) if not head else self._refuse_method()
        self._send(preview.respond(self.path, self.headers, head))

    def _events(self, host: str) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin.rstrip("/").lower() != f"http://{host}".lower():
            return self._send(finish(plain(403, "Forbidden: cross-origin")))
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


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default of 5 makes the kernel drop or reset connections when a page,
    # its assets and a few tabs open at once; the kernel caps this at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], preview: Preview) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.preview = preview
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away (a closed tab, a reset): nothing went wrong here
        super().handle_error(request, client_address)


def watch(
    root: Path,
    on_change: Callable[[list[str]], None],
    stop: threading.Event,
    on_quiet: Callable[[], None] = lambda: None,
) -> None:
    """Call `on_change` with the changed paths under posts/, templates/, static/, blog.toml,
    and `on_quiet` each time they have not changed for half a second.

    Only the folders that exist are watched (never the whole site folder, which may hold a
    virtualenv or public/), and the files and folders that links in them lead to
    elsewhere (a post kept in another folder: a save there changes no file here); the
    watch restarts when a folder appears, vanishes or is replaced by a link, after
    blog.toml changes, since editors often replace that file rather than write into it,
    and when a link or a linked file changes.
    """
    while not stop.is_set():
        targets = [root / name for name in WATCHED if (root / name).exists()]
        if not targets:
            stop.wait(0.5)
            continue
        linked = _linked(targets)
        for changes in watchfiles.watch(
            *targets,
            *linked,
            watch_filter=SiteFilter(),
            # Reported once the folders were quiet for 20-40 ms: a save takes far less.
            step=20,
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
            else:
                on_quiet()  # a timeout (`rust_timeout`): nothing changed
            # A link made or changed (posts/ replaced by one too), or a linked file replaced.
            relinked = any(p in linked or os.path.islink(p) for p in paths)
            if now != targets or relinked or any(Path(p).name == "blog.toml" for p in paths):
                break


def _linked(folders: list[Path]) -> list[str]:
    """The files and folders outside `folders` that links in them lead to (a link in a
    linked folder's tree is not looked for)."""
    inside = [os.path.realpath(folder) for folder in folders]
    found = set()
    for folder in folders:
        for above, folder_names, names in os.walk(folder):  # a link to a folder is listed,
            for name in [*folder_names, *names]:  # not walked
                path = os.path.join(above, name)
                if not os.path.islink(path):
                    continue
                real = os.path.realpath(path)
                if os.path.exists(real) and not any(
                    real == p or real.startswith(p + os.sep) for p in inside
                ):
                    found.add(real)
    return sorted(found)


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    drafts: bool = True
    allow_hosts: tuple[str, ...] = ()
    now: dt.datetime | None = None  # the build's "now", for tests


def site_builder(root: Path, options: ServeOptions) -> Builder:
    """A builder for `Preview`: `build.build` (the one build path) with drafts and
    future posts, kept in memory: a preview writes no site anywhere (only the cache).
    Its builds share one `Session`: each reads, renders and templates only what changed
    since the last. What a rebuild leaves to tidy (the cache's bound, its garbage: see
    `collected`) waits for the folders to be quiet (`Built.after`), or the next rebuild."""

    build_options = BuildOptions(drafts=options.drafts, future=True, now=options.now, preview=True)
    session = Session()

    def tidy() -> None:
        session.finish()
        collected()

    def build_in_memory() -> Built:
        if not gc.isenabled():
            collected()  # the last rebuild's garbage: no quiet came between
        nonlocal session
        kept = Kept()
        damaged: tuple[str, ...] = ()
        gc.disable()
        try:
            for attempt in range(SAVES_MET):
                try:
                    site, _ = build.build(root, kept, build_options, session)
                    break
                except DamagedCache as exc:  # a build that reads no entry cannot meet one
                    damaged = (f"warning: {exc}: built again without reading the cache",)
                    session, kept = Session(), Kept()  # it may hold what the entry gave
                    site, _ = build.build(root, kept, replace(build_options, cache=False), session)
                    break
                except BuildError as exc:
                    if attempt == SAVES_MET - 1 or not _just_saved(root, exc):
                        raise
                    time.sleep(JUST_SAVED_NS / 1e9)  # read mid-save, cut short: let it end
                    kept = Kept()
        except BaseException:
            tidy()  # nothing new is served: no reason to wait
            raise
        files = kept.files
        warnings = damaged + tuple(w.as_warning() for w in site.warnings)
        counts = str(session.counts)
        return Built(site.config.base_path, files, warnings, counts, tidy, _due(site, options))

    return build_in_memory


def _due(site: Site, options: ServeOptions) -> float | None:
    """When the first post the preview marks scheduled comes out; None for none, or
    for a preview whose "now" is fixed (`--now`)."""
    if options.now is not None or site.now is None:
        return None
    now = site.now
    coming = [e.post.date for e in site.posts if e.post.date > now]
    return min(coming).timestamp() if coming else None


# A file saved this recently when a build found errors in it may have been read
# mid-save, cut short (an editor that autosaves truncates it, then writes it): the
# preview waits this long and builds again, at most `SAVES_MET` times, before it shows
# the errors. (File times come from a clock that lags `time.time_ns` by some ms.)
JUST_SAVED_NS = 50_000_000
SAVES_MET = 3


def _just_saved(root: Path, failure: BuildError) -> bool:
    """Whether a file an error names was saved in the last `JUST_SAVED_NS`."""
    now = time.time_ns()
    for error in failure.errors:
        try:
            if now - os.stat(root / error.path).st_mtime_ns < JUST_SAVED_NS:
                return True
        except OSError:
            continue
    return False


def collected() -> None:
    """After a rebuild that ran without garbage collections, collect once and leave what
    the preview then holds out of later collections, and collect as usual from then on.

    The session and the site it serves live until a rebuild replaces them: at 10,000
    posts some millions of objects, which the collections a rebuild sets off would walk
    again and again, for some 100 ms a rebuild. Frozen (`gc.freeze`), they are left
    out; what a later rebuild drops is still freed by its reference count, as none of it
    forms cycles. The one collection frees the cycles the rebuild left (so none is
    frozen) and walks only what was made since the last freeze (some 35 ms at 10,000
    posts, which the save's reload does not wait for)."""
    gc.enable()
    gc.collect()
    gc.freeze()


def serve(root: Path, options: ServeOptions, say: Callable[[str], None]) -> int:
    """Build, serve and rebuild on change until SIGINT or SIGTERM; always clean up."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if stop.is_set():  # asked twice: stop waiting for a slow build
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
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
    watching = (root, changed, stop, preview.tidy)
    watcher = threading.Thread(target=watch, args=watching, name="watch", daemon=True)
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
        if preview.due is not None and time.time() >= preview.due:
            _rebuild(preview, say, "a scheduled post came out: rebuilt")
    say("stopping")


def _drafts(options: ServeOptions) -> str:
    return "shown" if options.drafts else "hidden"


def _rebuild(preview: Preview, say: Callable[[str], None], done: str) -> None:
    started = time.perf_counter()
    failure = preview.rebuild()
    elapsed = time.perf_counter() - started
    if failure is None:
        for warning in preview.warnings:
            say(warning)
        say(
            f"{done} in {elapsed:.2f} s ({preview.work})"
            if preview.work
            else f"{done} in {elapsed:.2f} s"
        )
        return
    for error in failure.errors:
        say(str(error))
    kept = "serving the last good build" if preview.state.generation else "nothing to serve yet"
    count = len(failure.errors)
    say(f"preview not updated: {count} error{'s' if count != 1 else ''}; {kept} until you fix it")


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
