"""HTML pages, sitemap.xml and robots.txt from Jinja2 templates.

A file in the site's templates/ folder overrides the built-in template of the same name.
Autoescape is on and undefined variables are errors. A template is a program that can
loop for ever or fill the memory, so the pages are rendered in a child process bounded
in time and memory (`deadline.call_in_child`). Pure apart from reading templates: a
`Site` in, `Output` values out, each page put into the build's `Sink` as it is made
(forked children put theirs themselves); it writes no file itself.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import jinja2.bccache
import jinja2.meta
import jinja2.nodes

from blogkeeper import deadline, urls
from blogkeeper.cache import Cache, fingerprint, fingerprint_or_none
from blogkeeper.checkcode import code_checked
from blogkeeper.config import SiteConfig
from blogkeeper.errors import BuildError, ContentError, DamagedCache
from blogkeeper.links import parse, resolved_html
from blogkeeper.model import (
    Earlier,
    Group,
    Output,
    Post,
    PostProof,
    RenderedPost,
    Rendering,
    Sink,
    Site,
)
from blogkeeper.render import link_fragments, stylesheet

TEMPLATES_DIR = "templates"
RETRY = "build again; if it persists, report it with the site that shows it"
MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July"),
    *("August", "September", "October", "November", "December"),
)


@dataclass(frozen=True)
class Link:
    href: str
    type: str
    title: str


@dataclass(frozen=True)
class PageMeta:
    """What base.html needs to know about the page it wraps."""

    path: str
    title: str
    description: str
    feeds: tuple[Link, ...]
    markdown: str | None = None
    og_type: str = "website"
    image: str | None = None  # the absolute URL of its social card (og:image), if any
    updated: dt.datetime | None = None  # a post's `updated` (og:updated_time)
    structured_data: dict[str, Any] | None = None  # a post's JSON-LD `BlogPosting`
    extra: dict[str, Any] = field(default_factory=dict)


def _list_meta(
    config: SiteConfig, path: str, title: str, description: str, feeds: tuple[Link, ...]
) -> PageMeta:
    """A page that is not a post: llms.txt as its Markdown alternate, the site's card."""
    card = urls.card_image(config)
    return PageMeta(path, title, description, feeds, markdown=urls.LLMS_TXT, image=card)


def feed_links(site: Site, folder: str, title: str, kind: str = "full") -> tuple[Link, ...]:
    """The feeds kept in `folder` ("feed/", "topics/ai/"), as head links; none when the
    folder's kind of feed (`[feed] topics` or `series`) is "none"."""
    if kind == "none":
        return ()
    files = urls.feed_files(folder, site.config.feed.atom, site.config.feed.json)
    return tuple(Link(path, mime, f"{title} ({label})") for path, mime, label in files)


def environment(site: Site) -> jinja2.Environment:
    config = site.config
    loader = jinja2.ChoiceLoader(
        [
            _SiteTemplates(config.root / TEMPLATES_DIR),
            jinja2.PackageLoader("blogkeeper", "templates"),
        ]
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # one environment per build: no stat of every template per page
        bytecode_cache=COMPILED,
    )
    base = config.base_path
    env.globals["site"] = config
    env.globals.update(_values(site))  # topic_slugs: O(1) per tag
    # Jinja runs a filter on a constant when it compiles the template (`"/x" | url`),
    # unless the filter takes the context: these depend on the config, and compiled
    # templates outlive it (`Compiled`; a preview whose `url` changed its base path).
    env.filters["url"] = jinja2.pass_context(
        lambda _, path: base + quote(path.lstrip("/"), safe="/#")
    )
    env.filters["absolute"] = jinja2.pass_context(lambda _, path: config.absolute(path))
    env.filters["long_date"] = long_date
    env.filters["iso_date"] = lambda d: d.isoformat()
    return env


class _SiteTemplates(jinja2.FileSystemLoader):
    """The site's templates/ folder; a template that is not UTF-8 (saved as Latin-1, say)
    is a template error at the line of its first such byte."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except UnicodeDecodeError as exc:
            line = exc.object[: exc.start].count(b"\n") + 1
            byte = exc.object[exc.start]
            message = f"not UTF-8: byte 0x{byte:02x} (save the file as UTF-8)"
            path = os.path.join(self.searchpath[0], template)
            raise jinja2.TemplateSyntaxError(message, line, template, path) from None


class Compiled(jinja2.BytecodeCache):
    """The templates this process has compiled, through Jinja's own bytecode cache: by
    template name and file, used only while the source is the same (Jinja checks a
    checksum of it). A preview's pages are rendered in a worker that is kept between
    rebuilds (`deadline.call_in_child`): it compiles each template once, not on every
    rebuild (some 30 ms of a 1,000-post site's). A forked child starts with what its
    parent compiled, which is nothing: the templates never run in a build's own process."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self.code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # reset by Jinja if the source changed

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self.code.clear()


COMPILED = Compiled()


def long_date(value: dt.datetime) -> str:
    """ "14 March 2026", the same under every locale."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


# The page step may take this long and use this much memory, plus the second number for
# each post, topic and series. A page takes about 0.3 ms and 70 KiB (its bytes, twice).
PAGES_SECONDS = (5.0, 0.01)
PAGES_MEMORY = (1 << 30, 256 << 10)
# A build renders its pages in as many forked children as there are cores, but gives each
# at least this many (a fork of a big site takes some milliseconds).
PAGES_PER_CHILD = 200
# ... and at most this many: a child copies the memory of every post its pages show, so
# a big site's pages are rendered in more runs than cores, one run per core at a time
# (at 10,000 posts: 6 runs; the page step's peak PSS went 480 to 520 -> 400 to 445 MiB).
PAGES_PER_RUN = 2500
# The child's own alarm stops a template where a traceback names its line; its parent
# kills it this much later, if something that does not look at signals is still running.
GRACE_SECONDS = 5.0


class PagesOverran(Exception):
    """The page step ran past its time (an Exception: Jinja then maps the template line)."""


def bounds(site: Site) -> tuple[float, int]:
    """The seconds and bytes the page step of `site` may use."""
    size = len(site.posts) + len(site.topics) + len(site.series)
    seconds, memory = PAGES_SECONDS, PAGES_MEMORY
    return seconds[0] + seconds[1] * size, memory[0] + memory[1] * size


@dataclass(frozen=True)
class PagesMade:
    """The pages one build made, and everything their templates saw: what a preview's
    next build compares its pages with, so that it renders again only the pages whose
    inputs changed (`make_pages`)."""

    config: SiteConfig
    templates: tuple[tuple[str, bytes], ...]  # the site's templates/ files, read
    values: dict[str, Any]  # the globals templates see besides `site` and the filters
    pages: dict[str, tuple[Page, bytes]]  # output path -> the page and what it rendered to
    rendered: int  # how many pages this build rendered
    # template name -> the names it reads from outside, found so far (`_reads`)
    reads: dict[str, frozenset[str]] = field(default_factory=dict)
    # each post, index and topic page's context and each intro, with what it was made
    # from: made again only when that differs, so that an unchanged page's context is the
    # same object and compares at once
    parts: Earlier = field(default_factory=Earlier)


def make_pages(
    site: Site,
    sink: Sink,
    previous: PagesMade | None = None,
    memo: dict[int, tuple[object, bytes]] | None = None,
    remember: bool = True,
) -> tuple[list[str], deadline.Started]:
    """Every HTML page of the site, put into `sink`: their paths at once, and the pages
    being made, while the caller goes on (the caller's `wait()` gives the record of them,
    or the template errors; none when forked children put the pages into a folder: their
    bytes never come back). The templates run in child processes within `bounds(site)`.

    With `previous` (the record of an earlier build), a page is rendered again only if
    its template, its context or a global its template (or one it extends, includes or
    imports) reads is not equal to that build's; any other page keeps the bytes it had,
    which are the bytes rendering it again would give (the templates are pure functions
    of what they see). A change to blog.toml or to any file in templates/ renders all.
    A sink that keeps files by key (`reuse`) keeps each page whose key is the last
    build's (`_not_kept`); `memo` keeps the fingerprints made for the keys. With
    `remember` False (no build follows), no context is kept for one, nor made before it
    is read.
    """
    parts = previous.parts.next() if previous else Earlier(remember=remember)
    pages = _pages(site, parts)
    paths = [page.path for page in pages]
    templates = _site_templates(site.config)
    values = _values(site)
    reads: dict[str, frozenset[str]] = {}
    stale = _stale(site, pages, templates, values, previous, reads)
    if sink.shared and deadline.child_inherits():
        if sink.reusing:
            memo = {} if memo is None else memo
            stale = _not_kept(site, stale, templates, values, reads, sink, memo)
        if not stale:
            return paths, deadline.Started.done(None)
        putting = _start_rendering(site, stale, reads, sink)

        def put() -> None:
            putting.wait()  # the children put the pages: nothing comes back

        return paths, deadline.Started(put, putting.stop)
    rendering = _start_rendering(site, stale, reads) if stale else deadline.Started.done([])

    def record() -> PagesMade:
        made = {o.path: o.data for o in rendering.wait()}
        before = previous.pages if previous else {}
        kept = {p.path: (p, made[p.path] if p.path in made else before[p.path][1]) for p in pages}
        for path, (_, data) in kept.items():
            sink.put(Output(path, data))
        return PagesMade(site.config, templates, values, kept, len(stale), reads, parts)

    return paths, deadline.Started(record, rendering.stop)


# The code a page's bytes come from, besides its templates and what they see.
PAGE_CODE = ("blogkeeper", "jinja2", "markupsafe", "pygments", "lxml")


def _not_kept(
    site: Site,
    pages: list[Page],
    templates: tuple[tuple[str, bytes], ...],
    values: dict[str, Any],
    reads: dict[str, frozenset[str]],
    sink: Sink,
    memo: dict[int, tuple[object, bytes]],
) -> list[Page]:
    """The `pages` that `sink` does not hold already from an earlier build, by each
    page's key: a digest of the code, blog.toml, the site's templates, the inputs its
    context is made from (of those it is `passed`, the ones its template reads), and the
    globals its template reads. A page with something `fingerprint` cannot key among
    these is rendered."""
    env = environment(site)
    common = fingerprint((site.config, templates), memo)
    globals_read: dict[str, bytes | None] = {}  # template name -> the globals it reads
    keys: list[str | None] = []  # all made before the first `reuse`, the sink's first use
    for page in pages:
        if page.template not in globals_read:
            names = _reads(env, page.template, reads)
            seen = {name: values[name] for name in sorted(names) if name in values}
            globals_read[page.template] = fingerprint_or_none(seen, memo)
        seen_key = globals_read[page.template]
        names = reads[page.template]
        passed = {k: v for k, v in page.passed.items() if k in names or EVERY_NAME in names}
        given = fingerprint_or_none((page.template, page.inputs, passed), memo)
        key = None
        if seen_key is not None and given is not None:
            key = Cache.key("page", PAGE_CODE, common, given, seen_key)
        keys.append(key)
    # with no key, only the path is cleared
    return [page for page, key in zip(pages, keys, strict=True) if not sink.reuse(page.path, key)]


def _for_child(
    site: Site, pages: list[Page], reads: dict[str, frozenset[str]]
) -> tuple[Site, list[Page]]:
    """What the child needs to render `pages`: of `site`, the posts in the topics and
    series only if a template of theirs reads them; of each page's context, what its
    template reads. Only for a child that is sent its arguments (a preview's, from a
    forkserver: a big site takes long to send); a forked child inherits all for nothing."""
    env = environment(site)
    read = {template: _reads(env, template, reads) for template in {p.template for p in pages}}
    names = set().union(*read.values())
    topics = site.topics if "topics" in names else _names_only(site.topics)
    series = site.series if "series_list" in names else _names_only(site.series)
    trimmed = replace(site, posts=(), proofs={}, topics=topics, series=series)
    return trimmed, [Page.given(p.path, p.template, _seen(p, read[p.template])) for p in pages]


def _names_only(groups: tuple[Group, ...]) -> tuple[Group, ...]:
    """Groups without their posts: all `topic_slugs` needs."""
    return tuple(Group(group.name, group.slug, ()) for group in groups)


def _start_rendering(
    site: Site, pages: list[Page], reads: dict[str, frozenset[str]], sink: Sink | None = None
) -> deadline.Started:
    """The `pages` being rendered: `wait()` gives them, or `BuildError`; with `sink` (a
    folder, and children forked), the children put them there instead, and give none."""
    limits = seconds, memory = bounds(site)
    forked = deadline.child_inherits()
    try:
        if not forked:
            given, sent = _for_child(site, pages, reads)
            args = (seconds, PagesOverran, _render_pages, given, sent, limits)
            started = deadline.start_in_child(
                seconds + GRACE_SECONDS, memory, deadline.call_with_alarm, *args
            )
        else:
            started = _start_in_children(site, pages, limits, sink)
    except BaseException as exc:
        raise _page_step_failed(site, exc, limits) from None

    def rendered() -> list[Output]:
        try:
            made = started.wait()
        except BaseException as exc:
            raise _page_step_failed(site, exc, limits) from None
        if not forked:
            return made  # type: ignore[no-any-return]
        return [] if sink is not None else [output for share in made for output in share]

    return deadline.Started(rendered, started.stop)


def _page_step_failed(site: Site, exc: BaseException, limits: tuple[float, int]) -> BaseException:
    """What the page step raises for `exc`, raised by its children or by starting them."""
    if isinstance(exc, (deadline.Overrun, PagesOverran)):
        error = _stopped(site, None, None, PagesOverran(), limits)
    elif isinstance(exc, MemoryError):
        error = _stopped(site, None, None, exc, limits)
    elif isinstance(exc, deadline.ChildDied):
        error = ContentError(TEMPLATES_DIR, None, f"rendering the pages failed: {exc}", RETRY)
    else:
        return exc  # a BuildError with the templates' own errors, or a bug
    return BuildError([error])


def _start_in_children(
    site: Site, pages: list[Page], limits: tuple[float, int], sink: Sink | None
) -> deadline.Started:
    """`_render_pages` in forked children, which inherit the site, one run of the pages
    each: a child touches (and so copies from its parent) only the memory of the posts
    its pages show. One child per core at a time, each with at most `PAGES_PER_RUN`
    pages, so that no two hold a copy of most of a big site. All within `limits`; the
    errors of every run are reported together. Pages that one child per core renders
    (an edit's) render while the caller goes on; more are rendered before this returns,
    run after run, so that the caller's next steps add nothing to their memory."""
    seconds, memory = limits
    cores = min(deadline.pool_size(), max(1, len(pages) // PAGES_PER_CHILD))
    size = -(-len(pages) // max(cores, -(-len(pages) // PAGES_PER_RUN)))
    runs = [pages[i : i + size] for i in range(0, len(pages), size)]
    if len(runs) <= cores:
        calls = [(seconds, PagesOverran, _render_pages, site, run, limits, sink) for run in runs]
        return deadline.start_in_children(
            seconds + GRACE_SECONDS, memory, deadline.call_with_alarm, calls
        )
    return deadline.Started.done(_render_runs(runs, cores, site, limits, sink))


def _render_runs(
    runs: list[list[Page]], cores: int, site: Site, limits: tuple[float, int], sink: Sink | None
) -> list[list[Output]]:
    """`runs` rendered in forked children, `cores` at a time, within `limits`."""
    seconds, memory = limits
    end = time.monotonic() + seconds
    made: list[list[Output]] = []
    errors: list[ContentError] = []
    for first in range(0, len(runs), cores):
        left = end - time.monotonic()
        if left <= 0:
            raise PagesOverran
        calls = [
            (left, PagesOverran, _render_pages, site, run, limits, sink)
            for run in runs[first : first + cores]
        ]
        try:
            made += deadline.call_in_children(
                left + GRACE_SECONDS, memory, deadline.call_with_alarm, calls
            )
        except BuildError as exc:
            errors += exc.errors
    if errors:
        raise BuildError(errors)
    return made


def _pages(site: Site, parts: Earlier) -> list[Page]:
    feeds = feed_links(site, urls.FEED_FOLDER, site.config.title)
    pages = [
        *_index_pages(site, feeds, parts),
        *_post_pages(site, feeds, parts),
        *_topic_pages(site, feeds, parts),
        *_series_pages(site, feeds, parts),
        _archive_page(site, feeds),
        _not_found_page(site, feeds),
    ]
    if parts.remember:
        for page in pages:
            _ = page.context  # made now, while `parts` is this build's (see `Page`)
    return pages


def _render_pages(
    site: Site, pages: list[Page], limits: tuple[float, int], sink: Sink | None = None
) -> list[Output]:
    """The `pages` rendered, or with `sink`, put there as each is rendered."""
    env = environment(site)
    errors: list[ContentError] = []
    outputs = []
    for page in pages:
        try:
            template = env.get_template(page.template)
            data = template.render(_as_seen(page.context_once())).encode("utf-8")
        except DamagedCache:
            raise  # not the template's doing
        except Exception as exc:  # also what a filter or method raises on a bad value
            errors.append(_template_error(site, page.template, exc, limits))
            if isinstance(exc, (PagesOverran, MemoryError)):
                break  # no time or memory left for the other pages
            continue
        if sink is None:
            outputs.append(Output(page.path, data))
        elif not errors:  # after an error, the build fails: nothing more to write
            sink.put(Output(page.path, data))
    if errors:
        raise BuildError(errors)
    return outputs


def fixed_files(site: Site, earlier: Earlier | None = None) -> list[Output]:
    """The outputs no template makes: sitemap.xml, robots.txt and the stylesheets. The
    sitemap is `earlier`'s when what it lists is the same (each post's path and dates, the
    topics and series): a preview's edit of a post's text leaves it as it was."""
    earlier = earlier or Earlier(remember=False)
    listed = earlier.remember and (
        site.config,
        tuple((e.post.path, e.post.last_modified) for e in site.posts),
        tuple(group.slug for group in (*site.topics, *site.series)),
        len(site.topics),
    )  # for a build that keeps nothing, not made at all
    return [
        Output(urls.SITEMAP, earlier.value("sitemap", listed, partial(_sitemap_bytes, site))),
        Output(urls.ROBOTS, robots(site).encode()),
        Output(urls.ASSETS + "pygments.css", _pygments_css(site.config)),
        Output(urls.ASSETS + "style.css", _asset("style.css")),
        Output(urls.ASSETS + "favicon.svg", _asset("favicon.svg")),
    ]


def _site_templates(config: SiteConfig) -> tuple[tuple[str, bytes], ...]:
    """Every file under the site's templates/ folder, with its bytes."""
    base = config.root / TEMPLATES_DIR
    if not base.is_dir():
        return ()
    files = sorted(p for p in base.rglob("*") if p.is_file())
    return tuple((p.relative_to(base).as_posix(), p.read_bytes()) for p in files)


def _stale(
    site: Site,
    pages: list[Page],
    templates: tuple[tuple[str, bytes], ...],
    values: dict[str, Any],
    previous: PagesMade | None,
    reads: dict[str, frozenset[str]],
) -> list[Page]:
    """The pages whose inputs differ from `previous`'s: all of them without one. `reads`
    is filled with what each template reads (`_reads`), as far as it was needed."""
    if previous is None or previous.config != site.config or previous.templates != templates:
        return pages
    reads.update(previous.reads)  # the same templates read the same names
    changed = {name for name, value in values.items() if previous.values.get(name) != value}
    env = environment(site)
    stale = []
    for page in pages:
        old = previous.pages.get(page.path)
        if old is None or old[0].template != page.template:
            stale.append(page)
            continue
        names = _reads(env, page.template, reads)
        if changed and changed & names:
            stale.append(page)
        elif old[0] is not page and _seen(old[0], names) != _seen(page, names):
            stale.append(page)  # (the last build's page, its inputs equal: the same context)
    return stale


def _seen(page: Page, names: frozenset[str]) -> dict[str, Any]:
    """The part of `page`'s context its template (with what it extends, includes or
    imports) can read, by `_reads`: all of it when that cannot be told."""
    if EVERY_NAME in names:
        return page.context
    return {name: value for name, value in page.context.items() if name in names}


# In what `_reads` gives: the template may read any name (of the context too).
EVERY_NAME = "*"


def _reads(env: jinja2.Environment, name: str, found: dict[str, frozenset[str]]) -> frozenset[str]:
    """Every name template `name`, and every template it extends, includes or imports,
    looks up (more than it reads from outside: its own variables too, which is safe);
    every global and `EVERY_NAME` when that cannot be told (a template named by a
    variable, or one that does not load)."""
    if name in found:
        return found[name]
    everything = frozenset([*env.globals, EVERY_NAME])
    found[name] = frozenset()  # a template that includes itself adds nothing more
    try:
        assert env.loader is not None
        tree = env.parse(env.loader.get_source(env, name)[0])
    except jinja2.TemplateError:
        found[name] = everything
        return everything
    names = {node.name for node in tree.find_all(jinja2.nodes.Name) if node.ctx == "load"}
    for other in jinja2.meta.find_referenced_templates(tree):
        names |= everything if other is None else _reads(env, other, found)
    found[name] = frozenset(names)
    return found[name]


def _values(site: Site) -> dict[str, Any]:
    """The globals of `environment` that a build can change without changing blog.toml."""
    return {
        "preview": site.preview,
        "topics": site.topics,
        "series_list": site.series,
        "now": site.now,
        "topic_slugs": {t.name: t.slug for t in site.topics},
    }


def _pygments_css(config: SiteConfig) -> bytes:
    return stylesheet(config.highlight.light, config.highlight.dark).encode()


def _asset(name: str) -> bytes:
    return (Path(__file__).parent / "assets" / name).read_bytes()


class Page:
    """A page to render: where it goes, with which template, and what the template sees
    (`context`). The context is made by `make` when it is first read, from `inputs`:
    everything it is made from, besides the code. A page's key is read from its inputs,
    not its context (`_not_kept`), so a page the old site holds is never made at all.
    `passed` holds inputs the context holds as they are, by name: the key holds one only
    if the template reads that name (a topic page that does not read `topic` is not made
    again when a post listed on another page of the topic changes).
    A build that remembers its values (a preview's) makes each context at once: a `make`
    can hold that build's `Earlier`, which holds the build before it, and so on."""

    __slots__ = ("_context", "_make", "inputs", "passed", "path", "template")

    def __init__(
        self,
        path: str,
        template: str,
        inputs: Any,
        make: Callable[[], dict[str, Any]],
        passed: dict[str, Any] | None = None,
    ) -> None:
        self.path, self.template, self.inputs = path, template, inputs
        self.passed = passed or {}
        self._make: Callable[[], dict[str, Any]] | None = make
        self._context: dict[str, Any] = {}

    @classmethod
    def given(cls, path: str, template: str, context: dict[str, Any]) -> Page:
        """A page with its context made already (and no inputs to key it by)."""
        page = cls(path, template, None, dict)
        page._make, page._context = None, context
        return page

    @property
    def context(self) -> dict[str, Any]:
        if self._make is not None:
            self._context, self._make = self._make(), None
        return self._context

    def context_once(self) -> dict[str, Any]:
        """The context, for its last reader (the child that renders the page): made, if
        it is not yet, and not kept, so that a child's memory does not grow with every
        page it renders."""
        return self._context if self._make is None else self._make()

    def __getstate__(self) -> tuple[str, str, dict[str, Any]]:
        return self.path, self.template, self.context

    def __setstate__(self, state: tuple[str, str, dict[str, Any]]) -> None:
        self.path, self.template, self._context = state
        self.inputs, self._make, self.passed = None, None, {}


def _paginate(
    items: Sequence[RenderedPost], per_page: int, base: str
) -> Iterator[tuple[str, Sequence[RenderedPost], dict[str, Any]]]:
    count = max(1, -(-len(items) // per_page))
    for number in range(1, count + 1):
        prev = urls.list_page(base, number - 1) if number > 1 else None
        nxt = urls.list_page(base, number + 1) if number < count else None
        chunk = items[(number - 1) * per_page : number * per_page]
        pagination = {
            "number": number,
            "count": count,
            "prev": prev,
            "next": nxt,
            "total": len(items),
        }
        yield urls.list_page(base, number), chunk, pagination


def _index_pages(site: Site, feeds: tuple[Link, ...], parts: Earlier) -> Iterator[Page]:
    config = site.config
    for path, chunk, pagination in _paginate(site.posts, config.posts_per_page, ""):
        number = pagination["number"]
        title = config.title if number == 1 else f"{config.title}, page {number}"
        head = (title, config.description, feeds)
        yield _list_page(site, "index.html", path, head, chunk, pagination, parts, {})


def _list_page(
    site: Site,
    template: str,
    path: str,
    head: tuple[str, str, tuple[Link, ...]],
    chunk: Sequence[RenderedPost],
    pagination: dict[str, Any],
    parts: Earlier,
    extra: dict[str, Any],
) -> Page:
    """A list page of `chunk`'s intros, with `head` (title, description, feeds) and the
    `extra` context: the last build's object while all of these are equal."""
    inputs = (site.config, template, path, head, chunk, pagination)
    make = partial(_list_context, *inputs, extra, parts)
    page = partial(Page, urls.page_file(path), template, inputs, make, extra)
    return parts.value("list " + path, (*inputs, extra), page)


def _list_context(
    config: SiteConfig,
    template: str,
    path: str,
    head: tuple[str, str, tuple[Link, ...]],
    chunk: Sequence[RenderedPost],
    pagination: dict[str, Any],
    extra: dict[str, Any],
    parts: Earlier,
) -> dict[str, Any]:
    page = _list_meta(config, path, *head)
    entries = [_intro(e, config.base_path, parts) for e in chunk]
    return {"page": page, **extra, "entries": entries, "pagination": pagination}


@dataclass(frozen=True)
class Intro:
    """A post as a list page shows it: intro HTML with links made page-independent."""

    entry: RenderedPost
    html: str

    @property
    def post(self) -> Post:
        return self.entry.post

    @property
    def folded(self) -> bool:
        return self.entry.folded


def _intro(entry: RenderedPost, base: str, parts: Earlier) -> Intro:
    """`entry`'s intro with its URLs resolved as on the post's page, from any list page:
    `#…` links point at the post page, page-relative links and images (`diagram.png`)
    become site paths (`/base/2026/01/post/diagram.png`). Made once per post and build
    (it is on its index, topic and series pages), and kept while `entry` is the same."""
    return parts.value(
        "intro " + entry.post.source, (entry, base), partial(_make_intro, entry, base)
    )


def _make_intro(entry: RenderedPost, base: str) -> Intro:
    page = base + quote(entry.post.path)
    if any(_page_relative(url) for url in entry.rendering.links):
        return Intro(entry, resolved_html(parse(entry.intro), page))
    return Intro(entry, link_fragments(entry.intro, page))  # most: only in-page links change


# A URL with a scheme (`https:`, `mailto:`, `data:`), a site path or a fragment.
_PAGE_INDEPENDENT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:|[/#]")


def _page_relative(url: str) -> bool:
    """Whether `url` means something else on another page (`diagram.png`, `../x/`)."""
    return _PAGE_INDEPENDENT.match(url.strip(" \t\n\r\f")) is None


def _post_pages(site: Site, feeds: tuple[Link, ...], parts: Earlier) -> Iterator[Page]:
    series = {g.name: g for g in site.series}
    # Each post's place in its series, found once: `tuple.index` per post is quadratic.
    places = {id(e): i for g in site.series for i, e in enumerate(g.posts)}
    for entry in site.posts:
        group = series[entry.post.series] if entry.post.series else None
        place = places[id(entry)] if group else None
        proof = site.proofs.get(entry.post.source)
        inputs = (site.config, feeds, entry, group, place, proof)
        path = urls.page_file(entry.post.path)
        make = partial(Page, path, "post.html", inputs, partial(_post_context, *inputs))
        yield parts.value("post page " + entry.post.source, inputs, make)


def _post_context(
    config: SiteConfig,
    feeds: tuple[Link, ...],
    entry: RenderedPost,
    group: Group | None,
    place: int | None,
    proof: PostProof | None,
) -> dict[str, Any]:
    post = entry.post
    alternate = urls.markdown_alternate(config, post)
    image = urls.card_image(config, post)
    page = PageMeta(
        post.path,
        post.title,
        entry.description,
        feeds,
        alternate,
        "article",
        image,
        post.updated,
        structured_data(config, entry, image),
    )
    return {
        "page": page,
        "post": post,
        "content": Content(entry.rendering, proof),
        "proof": proof,
        "series_nav": _series_nav(group, place) if group and place is not None else None,
        "code_checked": code_checked(post, config),
    }


@dataclass(frozen=True)
class Content:
    """A post page's `content` until the page is rendered, when it becomes the post's
    HTML (with check-code's notes): its rendering holds the HTML packed, and the pages
    of a whole site waiting to be rendered should not hold it unpacked."""

    rendering: Rendering
    proof: PostProof | None

    def html(self) -> str:
        html = self.rendering.html
        return with_proof(html, self.proof) if self.proof else html


def _as_seen(context: dict[str, Any]) -> dict[str, Any]:
    """`context` as its template sees it: a `Content` is its HTML."""
    content = context.get("content")
    if isinstance(content, Content):
        return {**context, "content": content.html()}
    return context


def structured_data(config: SiteConfig, entry: RenderedPost, image: str | None) -> dict[str, Any]:
    """The schema.org `BlogPosting` of a post's page, as JSON-LD (base.html writes it
    with Jinja's `tojson`, which escapes `<`, `>`, `&` and `'`, so no text in it can end
    the `<script>` or open a comment)."""
    post = entry.post
    url = config.absolute(post.path)
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": post.title,
        "description": entry.description,
        "datePublished": post.date.isoformat(),
        "dateModified": post.last_modified.isoformat(),
        "url": url,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "inLanguage": config.language,
    }
    if config.author:
        data["author"] = {"@type": "Person", "name": config.author}
    if image:
        data["image"] = image
    if post.tags:
        data["keywords"] = list(post.tags)
    return data


# An output block exactly as render.py writes it; its text is escaped, so the first
# `</samp></pre>` after the opening ends it.
_OUTPUT_BLOCK = re.compile(r'<pre class="output" tabindex="0"><samp>.*?</samp></pre>\n?', re.S)


def with_proof(content: str, proof: PostProof) -> str:
    """A post's HTML with a note after each output block of a python block: checked, and
    with what, or why not. Added here, to the cached HTML, so that the render cache holds
    nothing of the record. Output blocks are matched to the post's ```output fences in
    document order; should their counts differ, no note is added rather than a wrong one."""
    notes = {b.output_index: b.note for b in proof.blocks if b.output_index is not None}
    found = list(_OUTPUT_BLOCK.finditer(content))
    if not notes or len(found) != proof.outputs:
        return content
    parts, last = [], 0
    for index, match in enumerate(found):
        parts.append(content[last : match.end()])
        if index in notes:
            newline = "" if match.group(0).endswith("\n") else "\n"
            parts.append(f'{newline}<p class="output-check">{html.escape(notes[index])}</p>\n')
        last = match.end()
    return "".join(parts) + content[last:]


def _series_nav(group: Group, index: int) -> dict[str, Any]:
    return {
        "group": group,
        "number": group.posts[index].post.part or index + 1,
        "count": len(group.posts),
        "prev": group.posts[index - 1].post if index > 0 else None,
        "next": group.posts[index + 1].post if index + 1 < len(group.posts) else None,
    }


def _topic_pages(site: Site, feeds: tuple[Link, ...], parts: Earlier) -> Iterator[Page]:
    config = site.config
    for topic in site.topics:
        base = urls.topic_folder(topic.slug)
        feed_title = f"{config.title}: {topic.name}"
        own = feeds + feed_links(site, base, feed_title, config.feed.topics)
        title = f"Posts about {topic.name}"
        head = (title, f"Posts about {topic.name} on {config.title}.", own)
        extra = {"topic": topic}
        for path, chunk, pagination in _paginate(topic.posts, config.posts_per_page, base):
            yield _list_page(site, "topic.html", path, head, chunk, pagination, parts, extra)
    inputs = (config, feeds, _counts(site.topics), _counts(site.series))
    yield Page(
        urls.page_file(urls.TOPICS), "topics.html", inputs, partial(_topics_context, *inputs)
    )


def _topics_context(
    config: SiteConfig,
    feeds: tuple[Link, ...],
    topic_counts: tuple[Counted, ...],
    series_counts: tuple[Counted, ...],
) -> dict[str, Any]:
    about = f"Every topic on {config.title}."
    page = _list_meta(config, urls.TOPICS, "Topics", about, feeds)
    return {"page": page, "topic_counts": topic_counts, "series_counts": series_counts}


@dataclass(frozen=True)
class Counted:
    """A topic or series as the topics page lists it: its name, URL segment and size."""

    name: str
    slug: str
    count: int


def _counts(groups: tuple[Group, ...]) -> tuple[Counted, ...]:
    return tuple(Counted(group.name, group.slug, len(group.posts)) for group in groups)


def _series_pages(site: Site, feeds: tuple[Link, ...], parts: Earlier) -> Iterator[Page]:
    for group in site.series:
        path = urls.series_folder(group.slug)
        feed_title = f"{site.config.title}: {group.name}"
        own = feeds + feed_links(site, path, feed_title, site.config.feed.series)
        inputs = (site.config, path, own, group)
        make = partial(_series_context, *inputs, parts)
        yield Page(urls.page_file(path), "series.html", inputs, make)


def _series_context(
    config: SiteConfig, path: str, feeds: tuple[Link, ...], group: Group, parts: Earlier
) -> dict[str, Any]:
    about = f"Every part of the series {group.name}, in order."
    page = _list_meta(config, path, group.name, about, feeds)
    entries = [_intro(e, config.base_path, parts) for e in group.posts]
    return {"page": page, "series": group, "entries": entries}


def _archive_page(site: Site, feeds: tuple[Link, ...]) -> Page:
    inputs = (site.config, feeds, site.posts)
    return Page(
        urls.page_file(urls.ARCHIVE), "archive.html", inputs, partial(_archive_context, *inputs)
    )


def _archive_context(
    config: SiteConfig, feeds: tuple[Link, ...], entries: Sequence[RenderedPost]
) -> dict[str, Any]:
    years: dict[int, list[Post]] = {}
    for entry in entries:
        years.setdefault(entry.post.date.year, []).append(entry.post)
    about = f"Every post on {config.title}, by year."
    page = _list_meta(config, urls.ARCHIVE, "Archive", about, feeds)
    return {"page": page, "years": list(years.items())}


def _not_found_page(site: Site, feeds: tuple[Link, ...]) -> Page:
    inputs = (site.config, feeds, site.posts[:5])
    return Page(urls.NOT_FOUND, "404.html", inputs, partial(_not_found_context, *inputs))


def _not_found_context(
    config: SiteConfig, feeds: tuple[Link, ...], entries: Sequence[RenderedPost]
) -> dict[str, Any]:
    about = "This page does not exist."
    page = _list_meta(config, urls.NOT_FOUND, "Page not found", about, feeds)
    return {"page": page, "recent": [e.post for e in entries]}


def _template_error(
    site: Site, template: str, exc: Exception, limits: tuple[float, int]
) -> ContentError:
    """The error located at the innermost template line it came from."""
    filename, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if line is None:
        filename, line = _template_frame(exc) or (filename, None)
    if isinstance(exc, (PagesOverran, MemoryError)):
        return _stopped(site, filename or template, line, exc, limits)
    if isinstance(exc, jinja2.TemplateNotFound):
        message = f"template not found: {exc.name}"
    elif isinstance(exc, jinja2.UndefinedError):
        message = f"undefined variable: {exc.message}"
    elif isinstance(exc, jinja2.TemplateError):
        message = exc.message or type(exc).__name__
    else:
        message = f"{type(exc).__name__}: {exc}"
    return ContentError(_shown(site, filename or template), line, f"template error: {message}")


def _stopped(
    site: Site,
    template: str | None,
    line: int | None,
    exc: BaseException,
    limits: tuple[float, int],
) -> ContentError:
    """The error for a page step stopped at its time or memory bound (`limits`)."""
    seconds, memory = limits
    if isinstance(exc, MemoryError):
        message = f"the pages needed more than {memory >> 20} MiB of memory; stopped"
        hint = "does a loop in a template grow a string or a list without end?"
    else:
        message = f"the pages took longer than {seconds:g} s to render; stopped"
        hint = "does a loop in a template run for ever?"
    where = _shown(site, template) if template else TEMPLATES_DIR
    return ContentError(where, line, message, hint)


def _shown(site: Site, name: str) -> str:
    """A template named as the author knows it: templates/x.html, or the built-in."""
    path = Path(name)
    local = (site.config.root / TEMPLATES_DIR).resolve()
    if path.is_absolute():
        if path.resolve().is_relative_to(local):
            return f"{TEMPLATES_DIR}/{path.resolve().relative_to(local).as_posix()}"
        return f"blogkeeper/templates/{path.name}"
    if (local / name).is_file():
        return f"{TEMPLATES_DIR}/{name}"
    return f"blogkeeper/templates/{name}"


def _template_frame(exc: BaseException) -> tuple[str, int] | None:
    """The innermost traceback frame that Jinja mapped to a template file."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".html", ".xml", ".txt", ".md")):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _sitemap_bytes(site: Site) -> bytes:
    return sitemap(site).encode()


def sitemap(site: Site) -> str:
    config = site.config
    rows: list[tuple[str, dt.datetime | None]] = [("", None), (urls.ARCHIVE, None)]
    rows.append((urls.TOPICS, None))
    rows += [(e.post.path, e.post.last_modified) for e in site.posts]
    rows += [(urls.topic_folder(t.slug), None) for t in site.topics]
    rows += [(urls.series_folder(s.slug), None) for s in site.series]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for path, modified in rows:
        lastmod = f"<lastmod>{modified.isoformat()}</lastmod>" if modified else ""
        # `html.escape` without quotes escapes what xml.sax.saxutils.escape does (& < >),
        # without importing urllib.request as saxutils does.
        loc = html.escape(config.absolute(path), quote=False)
        lines.append(f"  <url><loc>{loc}</loc>{lastmod}</url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots(site: Site) -> str:
    return f"User-agent: *\nAllow: /\n\nSitemap: {site.config.absolute(urls.SITEMAP)}\n"
