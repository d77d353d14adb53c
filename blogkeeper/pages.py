"""HTML pages, sitemap.xml and robots.txt from Jinja2 templates.

A file in the site's templates/ folder overrides the built-in template of the same name.
Autoescape is on and undefined variables are errors. Pure apart from reading templates:
returns `Output` values, writes nothing.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import jinja2

from blogkeeper import llms
from blogkeeper.checkcode import code_checked
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.render import link_fragments, stylesheet

if TYPE_CHECKING:
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


def render_pages(site: Site, feeds: Sequence[Link] = ()) -> list[Output]:
    """Every HTML page of the site plus sitemap.xml, robots.txt and the stylesheets."""
    env = environment(site)
    main_feeds = (Link(RSS_PATH, "application/rss+xml", f"{site.config.title} (RSS)"), *feeds)
    jobs = [
        *_index_pages(site, main_feeds),
        *_post_pages(site, main_feeds),
        *_topic_pages(site, main_feeds),
        *_series_pages(site, main_feeds),
        _archive_page(site, main_feeds),
        _not_found_page(site, main_feeds),
    ]
    errors: list[ContentError] = []
    outputs = []
    for path, template, context in jobs:
        try:
            text = env.get_template(template).render(context)
        except Exception as exc:  # also what a filter or method raises on a bad value
            errors.append(_template_error(site, template, exc))
            continue
        outputs.append(_output(path, text.encode("utf-8")))
    if errors:
        raise BuildError(errors)
    outputs += [
        _output("sitemap.xml", sitemap(site).encode()),
        _output("robots.txt", robots(site).encode()),
        _output("assets/pygments.css", stylesheet().encode()),
        _output("assets/style.css", _asset("style.css")),
        _output("assets/favicon.svg", _asset("favicon.svg")),
    ]
    return outputs


def _asset(name: str) -> bytes:
    return (Path(__file__).parent / "assets" / name).read_bytes()


def _output(path: str, data: bytes) -> Output:
    from blogkeeper.site import Output

    return Output(path, data)


Job = tuple[str, str, dict[str, Any]]


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


def _index_pages(site: Site, feeds: tuple[Link, ...]) -> Iterator[Job]:
    config = site.config
    for path, chunk, pagination in _paginate(site.posts, config.posts_per_page, ""):
        title = (
            config.title
            if pagination["number"] == 1
            else f"{config.title}, page {pagination['number']}"
        )
        page = PageMeta(path, title, config.description, feeds, markdown="llms.txt")
        yield (
            path + "index.html",
            "index.html",
            {
                "page": page,
                "entries": [_intro(e, config.base_path) for e in chunk],
                "pagination": pagination,
            },
        )


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


def _intro(entry: RenderedPost, base: str) -> Intro:
    """`entry`'s intro; its `#…` links point at the post page from any list page."""
    return Intro(entry, link_fragments(entry.intro, base + quote(entry.post.path)))


def _post_pages(site: Site, feeds: tuple[Link, ...]) -> Iterator[Job]:
    series = {g.name: g for g in site.series}
    # Each post's place in its series, found once: `tuple.index` per post is quadratic.
    places = {id(e): i for g in site.series for i, e in enumerate(g.posts)}
    for entry in site.posts:
        post = entry.post
        nav = _series_nav(series[post.series], places[id(entry)]) if post.series else None
        page = PageMeta(
            post.path,
            post.title,
            post_description(entry),
            feeds,
            markdown=llms.markdown_alternate(site.config, post),
            og_type="article",
        )
        yield (
            post.path + "index.html",
            "post.html",
            {
                "page": page,
                "post": post,
                "content": entry.html,
                "series_nav": nav,
                "code_checked": code_checked(post, site.config),
            },
        )


def _series_nav(group: Group, index: int) -> dict[str, Any]:
    return {
        "group": group,
        "number": group.posts[index].post.part or index + 1,
        "count": len(group.posts),
        "prev": group.posts[index - 1].post if index > 0 else None,
        "next": group.posts[index + 1].post if index + 1 < len(group.posts) else None,
    }


def _topic_pages(site: Site, feeds: tuple[Link, ...]) -> Iterator[Job]:
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
            yield (
                path + "index.html",
                "topic.html",
                {
                    "page": page,
                    "topic": topic,
                    "entries": [_intro(e, config.base_path) for e in chunk],
                    "pagination": pagination,
                },
            )
    page = PageMeta(
        "topics/", "Topics", f"Every topic on {config.title}.", feeds, markdown="llms.txt"
    )
    yield "topics/index.html", "topics.html", {"page": page}


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
        yield path + "index.html", "series.html", {"page": page, "series": group}


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
    return "archive/index.html", "archive.html", {"page": page, "years": list(years.items())}


def _not_found_page(site: Site, feeds: tuple[Link, ...]) -> Job:
    page = PageMeta(
        "404.html", "Page not found", "This page does not exist.", feeds, markdown="llms.txt"
    )
    return "404.html", "404.html", {"page": page, "recent": [e.post for e in site.posts[:5]]}


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
        lines.append(f"  <url><loc>{xml_escape(config.absolute(path))}</loc>{lastmod}</url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots(site: Site) -> str:
    return f"User-agent: *\nAllow: /\n\nSitemap: {site.config.absolute('sitemap.xml')}\n"
