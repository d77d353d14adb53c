"""HTML pages, sitemap.xml and robots.txt from Jinja2 templates.

A file in the site's templates/ folder overrides the built-in template of the same name.
Autoescape is on and undefined variables are errors. Pure apart from reading templates:
returns `Output` values, writes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import html
import json
import re
import threading
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from blogkeeper import llms
from blogkeeper.errors import BuildError, ContentError

if TYPE_CHECKING:
    from blogkeeper.cache import FileMemo, Stored
    from blogkeeper.site import Group, Output, RenderedPost, Site

TEMPLATES_DIR = "templates"
MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July"),
    *("August", "September", "October", "November", "December"),
)
RSS_PATH = "feed/rss.xml"
FEED_FILES = (
    ("rss.xml", "application/rss+xml", "RSS"),
    ("atom.xml", "application/atom+xml", "Atom"),
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
    extra: dict[str, Any] = field(default_factory=dict)


def feed_links(folder: str, title: str) -> tuple[Link, ...]:
    """The RSS and Atom feeds kept in `folder` ("feed/", "topics/ai/"), as head links."""
    return tuple(
        Link(folder + name, kind, f"{title} ({label})") for name, kind, label in FEED_FILES
    )


def environment(site: Site) -> jinja2.Environment:
    config = site.config
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(config.root / TEMPLATES_DIR),
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
    )
    base = config.base_path
    env.globals.update(
        site=config, preview=site.preview, topics=site.topics, series_list=site.series
    )
    env.globals["now"] = site.now
    env.globals["topic_slugs"] = {t.name: t.slug for t in site.topics}  # O(1) per tag
    env.filters["url"] = lambda path: base + quote(path.lstrip("/"), safe="/#")
    env.filters["absolute"] = config.absolute
    env.filters["long_date"] = long_date
    env.filters["iso_date"] = lambda d: d.isoformat()
    return env


def long_date(value: dt.datetime) -> str:
    """ "14 March 2026", the same under every locale."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def render_pages(
    site: Site, feeds: Sequence[Link] = (), memo: FileMemo | None = None
) -> list[Output]:
    """Every HTML page of the site plus sitemap.xml, robots.txt and the stylesheets.

    With `memo`, a page whose key (see `PageKeys`) is kept is not rendered again.
    """
    env = environment(site)
    keys = PageKeys(site, env, memo) if memo is not None else None
    main_feeds = (Link(RSS_PATH, "application/rss+xml", f"{site.config.title} (RSS)"), *feeds)
    intros: dict[int, Intro] = {}  # a post's intro is on its index page and topic pages
    jobs = [
        *_index_pages(site, main_feeds, intros),
        *_post_pages(site, main_feeds),
        *_topic_pages(site, main_feeds, intros),
        *_series_pages(site, main_feeds),
        _archive_page(site, main_feeds),
        _not_found_page(site, main_feeds),
    ]
    found: list[Stored | None] = []
    page_keys: list[str | None] = []
    for job in jobs:
        key = keys.key(job.template, job.inputs) if keys is not None else None
        page_keys.append(key)
        found.append(memo.find(key) if memo is not None and key is not None else None)
    misses = [i for i, stored in enumerate(found) if stored is None]
    made = _render_jobs(env, site, [jobs[i] for i in misses], [page_keys[i] for i in misses], memo)
    errors: list[ContentError] = []
    outputs = []
    rendered = iter(made)
    for job, stored in zip(jobs, found, strict=True):
        if stored is not None:  # kept: read again only when written, not all in memory
            outputs.append(_kept(job.path, stored))
            continue
        result = next(rendered)
        if isinstance(result, ContentError):
            errors.append(result)
        elif isinstance(result, bytes):
            outputs.append(_output(job.path, result))
        else:
            outputs.append(_kept(job.path, result))
    if errors:
        raise BuildError(errors)
    outputs += [
        _output("sitemap.xml", sitemap(site).encode()),
        _output("robots.txt", robots(site).encode()),
        _output("assets/pygments.css", _pygments_css(memo)),
        _output("assets/style.css", _asset("style.css")),
        _output("assets/favicon.svg", _asset("favicon.svg")),
    ]
    return outputs


# Below this many pages to render, forking workers costs more than it saves.
PARALLEL_PAGES = 200
# What forked page workers render: set just before the fork, read by `_render_forked`.
_FORKED: tuple[jinja2.Environment, Site, list[Job], list[str | None], str] | None = None


def _render_jobs(
    env: jinja2.Environment,
    site: Site,
    jobs: list[Job],
    keys: list[str | None],
    memo: FileMemo | None,
) -> list[bytes | Stored | ContentError]:
    """Each job's page (kept in `memo` when given: then where it is kept), or the error.

    Many pages render in forked worker processes, which inherit the site and templates
    and keep each page in the memo themselves, so only where it is comes back. Forking
    needs a process that runs no other thread (`serve` runs some): else in this one.
    """
    global _FORKED
    from blogkeeper import cache

    workers = cache.pool_size()
    if len(jobs) < PARALLEL_PAGES or workers < 2 or threading.active_count() > 1:
        results: list[bytes | Stored | ContentError] = []
        for job, key in zip(jobs, keys, strict=True):
            page = _render_job(env, site, job)
            if isinstance(page, bytes) and memo is not None and key is not None:
                results.append(memo.put(key, page) or page)
            else:
                results.append(page)
        return results
    _FORKED = (env, site, jobs, keys, str(memo.folder) if memo is not None else "")
    try:
        results = cache.parallel_map(_render_forked, range(len(jobs)), workers)
    finally:
        _FORKED = None
    if memo is not None:
        for key, kept in zip(keys, results, strict=True):
            if isinstance(kept, cache.Stored) and key is not None:
                memo.adopt(key)
    return results


def _render_forked(index: int) -> bytes | Stored | ContentError:
    from blogkeeper.cache import FileMemo

    assert _FORKED is not None, "page workers must be forked by _render_jobs"
    env, site, jobs, keys, folder = _FORKED
    result = _render_job(env, site, jobs[index])
    key = keys[index]
    if isinstance(result, bytes) and folder and key is not None:
        return FileMemo(Path(folder)).write(key, result) or result
    return result


def _render_job(env: jinja2.Environment, site: Site, job: Job) -> bytes | ContentError:
    try:
        context = job.make() if job.make is not None else job.inputs
        return env.get_template(job.template).render(context).encode("utf-8")
    except Exception as exc:  # also what a filter or method raises on a bad value
        return _template_error(site, job.template, exc)


class PageKeys:
    """Memo keys for pages: a digest of everything a page's template can see.

    That is the code (blogkeeper, Jinja, MarkupSafe), every template file, the page's
    inputs (its context, or what its context is made from: see `Job`), and the globals
    its template names, found by parsing it and every template it extends, includes or
    imports (a template named by a variable can reach any, so it sees every global).
    `topics` reaches every post, so only the pages whose templates name it change when
    any post does. A value of a type not known here gives no key:
    that page is rendered every time. Not covered: what a template could read through
    a method that does I/O (`site.root.joinpath(...).read_text()`, the clock); Jinja is
    not sandboxed, and such a template would not build the same site twice anyway.
    """

    def __init__(self, site: Site, env: jinja2.Environment, memo: FileMemo | None = None) -> None:
        from blogkeeper.cache import code_digest, digest

        self.env = env
        self.digests: dict[int, tuple[object, str]] = {}
        self.names: dict[str, frozenset[str] | None] = {}
        self.parsed: dict[str, tuple[set[str], list[str | None]]] = {}
        files = [*_template_files(site.config.root / TEMPLATES_DIR), "\0"]
        files += _template_files(Path(__file__).parent / "templates")
        code = code_digest("blogkeeper", "jinja2", "markupsafe")
        self.memo = memo
        self.templates = digest("page", code, *files)
        try:
            # The filters (`url`, `absolute`) read the site's settings: every page sees them.
            self.base: str | None = digest(self.templates, self.value(site.config))
        except _Unkeyable:
            self.base = None  # no page has a key
        self.globals: dict[str, str] = {}

    def key(self, template: str, context: dict[str, Any]) -> str | None:
        from blogkeeper.cache import digest

        if self.base is None:
            return None
        try:
            names = self.names[template] if template in self.names else self._names(template)
            seen = sorted(self.env.globals if names is None else names & self.env.globals.keys())
            parts = [f"{n}={self._global(n)}" for n in seen]
            parts += [f"{n}={self.value(v)}" for n, v in sorted(context.items())]
        except (_Unkeyable, jinja2.TemplateError):
            return None  # rendering it reports the template's error, if it has one
        return digest(self.base, template, *parts)

    def _global(self, name: str) -> str:
        if name not in self.globals:
            value = self.env.globals[name]
            # Jinja's own globals (range, dict, namespace, ...) are code, in the code digest.
            default = jinja2.defaults.DEFAULT_NAMESPACE.get(name, self)
            self.globals[name] = "jinja" if value is default else self.value(value)
        return self.globals[name]

    def _names(self, template: str) -> frozenset[str] | None:
        """Every variable `template` and the templates it uses name; None: any.

        Kept in the memo too, under the digest of every template: parsing them all
        costs more than anything else in a build whose pages are all kept.
        """
        from blogkeeper.cache import digest

        key = digest("names", self.templates, template)
        kept = self.memo.get(key) if self.memo is not None else None
        if kept is not None:
            try:
                names = json.loads(kept)
                if names is None or (
                    isinstance(names, list) and all(isinstance(n, str) for n in names)
                ):
                    self.names[template] = None if names is None else frozenset(names)
                    return self.names[template]
            except ValueError:
                pass
        found = self._parse_names(template)
        if self.memo is not None:
            self.memo.put(key, json.dumps(None if found is None else sorted(found)).encode())
        return found

    def _parse_names(self, template: str) -> frozenset[str] | None:
        from jinja2 import meta

        names: set[str] = set()
        todo, done = [template], set()
        while todo:
            name = todo.pop()
            if name in done:
                continue
            done.add(name)
            if name not in self.parsed:
                source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
                tree = self.env.parse(source)
                used = list(meta.find_referenced_templates(tree))
                # Every name read anywhere, local or not: `find_undeclared_variables`
                # skips the insides of blocks, where a child template's content is.
                read = {n.name for n in tree.find_all(jinja2.nodes.Name) if n.ctx == "load"}
                self.parsed[name] = (read, used)
            undeclared, used = self.parsed[name]
            if None in used:
                self.names[template] = None
                return None
            names |= undeclared
            todo += [u for u in used if u is not None]
        self.names[template] = frozenset(names)
        return self.names[template]

    def value(self, value: object) -> str:
        """`value` and all it holds written out unambiguously, as `repr` would, with each
        dataclass and long string shortened to a digest; `_Unkeyable` for a type not
        known here (a custom `repr` could leave out what a template reads)."""
        kind = type(value)
        if kind in _REPR_TYPES or (kind in _TEXT_TYPES and len(value) < 256):  # type: ignore[arg-type]
            return repr(value)
        if kind is list:
            return self._items(value)  # type: ignore[arg-type]
        if kind is dict:
            items = value.items()  # type: ignore[attr-defined]
            return "{" + ",".join([f"{self.value(k)}:{self.value(v)}" for k, v in items]) + "}"
        known = self.digests.get(id(value))
        if known is not None:
            return known[1]
        found = self._items(value) if kind is tuple else "#" + self._digest(value)  # type: ignore[arg-type]
        self.digests[id(value)] = (value, found)  # holding `value` keeps its id unique
        return found

    def _items(self, items: Iterable[object]) -> str:
        written = []
        for item in items:  # `value` inlined for the common case: this loop runs 50,000 times
            kind = type(item)
            if kind in _REPR_TYPES or (kind is str and len(item) < 256):  # type: ignore[arg-type]
                written.append(repr(item))
            else:
                written.append(self.value(item))
        return "[" + ",".join(written) + "]"

    def _digest(self, value: object) -> str:
        kind = type(value)
        # BLAKE2 is the fastest strong hash here. A post's HTML is not hashed when it is
        # known what rendered it (`RenderedPost.rendered_with`, from the render cache).
        hashed = hashlib.blake2b(f"{kind.__module__}.{kind.__qualname__}:".encode())
        if kind in _TEXT_TYPES:
            hashed.update(value.encode("utf-8", "surrogatepass"))  # type: ignore[attr-defined]
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            always, derived = _FIELDS.get(kind) or _FIELDS.setdefault(kind, _keyed_fields(value))
            names = [*always]
            for name, sources in derived:
                if any(getattr(value, source) is None for source in sources):
                    names.append(name)  # what it was derived from is unknown: key it
            # The names too: a field left out must not make two values write the same.
            written = ",".join(names) + self._items([getattr(value, name) for name in names])
            hashed.update(written.encode("utf-8", "surrogatepass"))
        else:
            raise _Unkeyable(kind.__qualname__)
        return hashed.hexdigest()


# Types whose `repr` is exact and whole (datetime's includes fold and tzinfo).
_REPR_TYPES = frozenset({type(None), bool, int, float, dt.datetime, dt.date, zoneinfo.ZoneInfo})
_REPR_TYPES |= {type(Path())}
_TEXT_TYPES = frozenset({str, Markup})
# Per dataclass: the fields always keyed, and each derived field with what it derives from.
_FIELDS: dict[type, tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]] = {}


def _keyed_fields(
    value: object,
) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """The fields of a dataclass that a page key covers: all but those whose metadata
    says `derived_from` other fields (what a pure function of those fields computed,
    such as tags parsed from the HTML), which would only cost hashing. A derived field
    is keyed after all in a value where one of the fields it derives from is None: a
    source left unknown (`RenderedPost.rendered_with` in a build without a cache)."""
    fields = dataclasses.fields(value)  # type: ignore[arg-type]
    names = {f.name for f in fields}
    for f in fields:
        if not set(f.metadata.get("derived_from", ())) <= names:
            raise _Unkeyable(f"{type(value).__qualname__}.{f.name} derived from a missing field")
    always = tuple(f.name for f in fields if not f.metadata.get("derived_from"))
    derived = tuple(
        (f.name, tuple(f.metadata["derived_from"])) for f in fields if f.name not in always
    )
    return always, derived


class _Unkeyable(Exception):
    pass


def _template_files(folder: Path) -> list[str | bytes]:
    """Every file under `folder` as name and bytes, sorted."""
    if not folder.is_dir():
        return []
    parts: list[str | bytes] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            parts += [path.relative_to(folder).as_posix(), path.read_bytes()]
    return parts


def _pygments_css(memo: FileMemo | None) -> bytes:
    """The highlighting stylesheet, kept in `memo` under the versions of blogkeeper's code
    and Pygments (whose styles it is made from): making it imports Pygments' formatter."""
    import pygments

    from blogkeeper.cache import code_digest, digest
    from blogkeeper.render import stylesheet

    key = digest("pygments.css", code_digest("blogkeeper"), pygments.__version__)
    data = memo.get(key) if memo is not None else None
    if data is None:
        data = stylesheet().encode()
        if memo is not None:
            memo.put(key, data)
    return data


def _asset(name: str) -> bytes:
    return (Path(__file__).parent / "assets" / name).read_bytes()


def _output(path: str, data: bytes) -> Output:
    from blogkeeper.site import Output

    return Output(path, data)


def _kept(path: str, stored: Stored) -> Output:
    from blogkeeper.site import Output

    return Output.kept(path, stored)


@dataclass(frozen=True)
class Job:
    """A page to render with `template`. Its key covers `inputs`: the context itself, or,
    given `make`, what `make` builds the context from (with the site's settings and the
    code, which every key covers). A page whose key is kept needs no context made: for
    a post, no description, intro links or check-code scan."""

    path: str
    template: str
    inputs: dict[str, Any]
    make: Callable[[], dict[str, Any]] | None = None


def _paginate(
    items: Sequence[RenderedPost], per_page: int, base: str
) -> Iterator[tuple[str, Sequence[RenderedPost], dict[str, Any]]]:
    count = max(1, -(-len(items) // per_page))
    for number in range(1, count + 1):
        path = base if number == 1 else f"{base}page/{number}/"
        prev = None if number == 1 else (base if number == 2 else f"{base}page/{number - 1}/")
        nxt = f"{base}page/{number + 1}/" if number < count else None
        chunk = items[(number - 1) * per_page : number * per_page]
        yield path, chunk, {"number": number, "count": count, "prev": prev, "next": nxt}


def _index_pages(site: Site, feeds: tuple[Link, ...], intros: dict[int, Intro]) -> Iterator[Job]:
    config = site.config
    for path, chunk, pagination in _paginate(site.posts, config.posts_per_page, ""):
        title = (
            config.title
            if pagination["number"] == 1
            else f"{config.title}, page {pagination['number']}"
        )
        page = PageMeta(path, title, config.description, feeds, markdown="llms.txt")
        inputs = {"page": page, "entries": chunk, "pagination": pagination}
        yield Job(path + "index.html", "index.html", inputs, _with_intros(inputs, site, intros))


def _with_intros(
    inputs: dict[str, Any], site: Site, intros: dict[int, Intro]
) -> Callable[[], dict[str, Any]]:
    """The context of a list page: its `entries` as intros (made from them and the base)."""
    entries = inputs["entries"]
    return lambda: {
        **inputs,
        "entries": [_intro(e, site.config.base_path, intros) for e in entries],
    }


@dataclass(frozen=True)
class Intro:
    """A post as a list page shows it: intro HTML with links made page-independent."""

    entry: RenderedPost
    html: str

    @property
    def post(self) -> Any:
        return self.entry.post

    @property
    def folded(self) -> bool:
        return self.entry.folded


def _intro(entry: RenderedPost, base: str, intros: dict[int, Intro]) -> Intro:
    """`entry`'s intro; its `#…` links point at the post page from any list page."""
    from blogkeeper.render import link_fragments  # here: only pages not kept need intros

    found = intros.get(id(entry))
    if found is None or found.entry is not entry:
        found = Intro(entry, link_fragments(entry.intro, base + quote(entry.post.path)))
        intros[id(entry)] = found
    return found


def _post_pages(site: Site, feeds: tuple[Link, ...]) -> Iterator[Job]:
    series = {g.name: g for g in site.series}
    # Each post's place in its series, found once: `tuple.index` per post is quadratic.
    places = {id(e): i for g in site.series for i, e in enumerate(g.posts)}
    for entry in site.posts:
        group = series[entry.post.series] if entry.post.series else None
        place = places[id(entry)] if group else None
        inputs = {"entry": entry, "feeds": feeds, "series": group, "place": place}
        make = functools.partial(_post_context, site, entry, feeds, group, place)
        yield Job(entry.post.path + "index.html", "post.html", inputs, make)


def _post_context(
    site: Site, entry: RenderedPost, feeds: tuple[Link, ...], group: Group | None, place: int | None
) -> dict[str, Any]:
    """What post.html sees: made only when the page is not kept."""
    from blogkeeper.checkcode import code_checked  # here: a kept page needs no scan

    post = entry.post
    page = PageMeta(
        post.path,
        post.title,
        post_description(entry),
        feeds,
        markdown=llms.markdown_alternate(site.config, post),
        og_type="article",
    )
    return {
        "page": page,
        "post": post,
        "content": entry.html,
        "series_nav": _series_nav(group, place) if group and place is not None else None,
        "code_checked": code_checked(post, site.config),
    }


def _series_nav(group: Group, index: int) -> dict[str, Any]:
    return {
        "group": group,
        "number": group.posts[index].post.part or index + 1,
        "count": len(group.posts),
        "prev": group.posts[index - 1].post if index > 0 else None,
        "next": group.posts[index + 1].post if index + 1 < len(group.posts) else None,
    }


def _topic_pages(site: Site, feeds: tuple[Link, ...], intros: dict[int, Intro]) -> Iterator[Job]:
    config = site.config
    for topic in site.topics:
        base = f"topics/{topic.slug}/"
        for path, chunk, pagination in _paginate(topic.posts, config.posts_per_page, base):
            own = feeds + feed_links(base, f"{config.title}: {topic.name}")
            page = PageMeta(
                path,
                f"Posts about {topic.name}",
                f"Posts about {topic.name} on {config.title}.",
                own,
                markdown="llms.txt",
            )
            inputs = {"page": page, "topic": topic, "entries": chunk, "pagination": pagination}
            yield Job(path + "index.html", "topic.html", inputs, _with_intros(inputs, site, intros))
    page = PageMeta(
        "topics/", "Topics", f"Every topic on {config.title}.", feeds, markdown="llms.txt"
    )
    yield Job("topics/index.html", "topics.html", {"page": page})


def _series_pages(site: Site, feeds: tuple[Link, ...]) -> Iterator[Job]:
    for group in site.series:
        path = f"series/{group.slug}/"
        own = feeds + feed_links(path, f"{site.config.title}: {group.name}")
        page = PageMeta(
            path,
            group.name,
            f"Every part of the series {group.name}, in order.",
            own,
            markdown="llms.txt",
        )
        yield Job(path + "index.html", "series.html", {"page": page, "series": group})


def _archive_page(site: Site, feeds: tuple[Link, ...]) -> Job:
    years: dict[int, list[Any]] = {}
    for entry in site.posts:
        years.setdefault(entry.post.date.year, []).append(entry.post)
    page = PageMeta(
        "archive/",
        "Archive",
        f"Every post on {site.config.title}, by year.",
        feeds,
        markdown="llms.txt",
    )
    return Job("archive/index.html", "archive.html", {"page": page, "years": list(years.items())})


def _not_found_page(site: Site, feeds: tuple[Link, ...]) -> Job:
    page = PageMeta(
        "404.html", "Page not found", "This page does not exist.", feeds, markdown="llms.txt"
    )
    return Job("404.html", "404.html", {"page": page, "recent": [e.post for e in site.posts[:5]]})


def _plain_text(fragment: str) -> str:
    text = re.sub(r"<[^>]+>", " ", fragment)
    text = re.sub(r"\s+", " ", text).strip()
    text = html.unescape(text)
    return text if len(text) <= 200 else text[:197].rsplit(" ", 1)[0] + "…"


def post_description(entry: RenderedPost) -> str:
    """A post's one-line description: its summary, else its intro as plain text."""
    return entry.post.summary or _plain_text(entry.intro)


def _template_error(site: Site, template: str, exc: Exception) -> ContentError:
    """The error located at the innermost template line it came from."""
    filename, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if line is None:
        filename, line = _template_frame(exc) or (filename, None)
    if isinstance(exc, jinja2.TemplateNotFound):
        message = f"template not found: {exc.name}"
    elif isinstance(exc, jinja2.UndefinedError):
        message = f"undefined variable: {exc.message}"
    elif isinstance(exc, jinja2.TemplateError):
        message = exc.message or type(exc).__name__
    else:
        message = f"{type(exc).__name__}: {exc}"
    return ContentError(_shown(site, filename or template), line, f"template error: {message}")


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


def sitemap(site: Site) -> str:
    config = site.config
    rows: list[tuple[str, dt.datetime | None]] = [("", None), ("archive/", None), ("topics/", None)]
    rows += [(e.post.path, e.post.last_modified) for e in site.posts]
    rows += [(f"topics/{t.slug}/", None) for t in site.topics]
    rows += [(f"series/{s.slug}/", None) for s in site.series]
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
    return f"User-agent: *\nAllow: /\n\nSitemap: {site.config.absolute('sitemap.xml')}\n"
