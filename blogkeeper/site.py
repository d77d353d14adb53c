"""Assemble a site: load posts, render them, and list every output file.

`build_site` is the one build path used by `build` and `serve`: it reads the site folder,
renders through the cache, and returns `Output` values without touching the output
folder. `write_site` is the only function that writes a built site to disk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from blogkeeper import feeds, links, llms, pages
from blogkeeper.cache import FileMemo, Job, Memo, RenderCache, render_all
from blogkeeper.config import SiteConfig, load_config
from blogkeeper.content import LoadOptions, Post, load_posts, slugify
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.render import Rendered

STATIC_DIR = "static"


@dataclass(frozen=True)
class RenderedPost:
    post: Post
    html: str
    intro: str
    folded: bool

    @property
    def path(self) -> str:
        return self.post.path


@dataclass(frozen=True)
class Group:
    """A topic or a series: a name, its URL segment and its posts."""

    name: str
    slug: str
    posts: tuple[RenderedPost, ...]


@dataclass(frozen=True)
class Site:
    config: SiteConfig
    posts: tuple[RenderedPost, ...]  # newest first
    topics: tuple[Group, ...]  # by name
    series: tuple[Group, ...]  # by name; posts in part order
    preview: bool = False
    now: dt.datetime | None = None  # set only in previews: marks future posts "Scheduled"


@dataclass(frozen=True)
class Output:
    path: str  # relative to the output root, POSIX separators
    data: bytes


@dataclass(frozen=True)
class BuildOptions:
    drafts: bool = False
    future: bool = False
    now: dt.datetime | None = None
    preview: bool = False
    cache: bool = True  # False: render every post, read and write no cache


def build_site(root: Path, options: BuildOptions | None = None) -> list[Output]:
    """Every output file of the site at `root`, or `BuildError` with all errors."""
    options = options or BuildOptions()
    config = load_config(root)
    post_memo = Memo.for_site(root, "posts") if options.cache else None
    posts = load_posts(config, LoadOptions(options.drafts, options.future, options.now), post_memo)
    if post_memo is not None:
        post_memo.save()
    cache = RenderCache.for_site(root) if options.cache else None
    site = assemble(config, render_posts(posts, cache), preview=options.preview)
    if options.preview:
        site = replace(site, now=options.now or dt.datetime.now(tz=config.tz))
    static = _static_files(root)
    overridden = {o.path for o in static}
    feed_memo = Memo.for_site(root, "feeds") if options.cache else None
    feed_files = FileMemo.for_site(root, "feed-files") if options.cache else None
    page_memo = FileMemo.for_site(root, "pages") if options.cache else None
    built = [
        *pages.render_pages(site, feeds.head_links(site), page_memo),
        *feeds.render_feeds(site, feed_memo, feed_files),
    ]
    if feed_memo is not None and feed_files is not None:
        feed_memo.save()
        feed_files.prune()
    if page_memo is not None:
        page_memo.prune()
    generated = [o for o in built if o.path not in overridden or not o.path.startswith("assets/")]
    twins = FileMemo.for_site(root, "twins") if options.cache else None
    generated, static = llms.render_llms(site, generated, static, twins)
    if twins is not None:
        twins.prune()
    outputs = _checked([*generated, *static])
    memo = Memo.for_site(root, "links") if options.cache else None
    try:
        links.check_links(config.url, site.posts, outputs, memo)
    finally:
        if memo is not None:
            memo.save()  # a failed check is worth keeping too: the fix re-checks one post
    return outputs


def render_posts(posts: Iterable[Post], cache: RenderCache | None = None) -> list[RenderedPost]:
    """Every post rendered, through `cache` when given; misses render in parallel."""
    posts = list(posts)
    jobs = [Job(p.body, p.fold, p.source, p.body_line) for p in posts]
    return [_attach(p, r) for p, r in zip(posts, render_all(jobs, cache), strict=True)]


def _attach(post: Post, result: Rendered) -> RenderedPost:
    return RenderedPost(post, result.html, result.intro, result.folded)


def assemble(config: SiteConfig, posts: list[RenderedPost], preview: bool = False) -> Site:
    """The site's posts grouped into topics and series; `BuildError` if two share a URL."""
    by_tag: dict[str, list[RenderedPost]] = defaultdict(list)
    by_series: dict[str, list[RenderedPost]] = defaultdict(list)
    for entry in posts:
        for tag in entry.post.tags:
            by_tag[tag].append(entry)
        if entry.post.series:
            by_series[entry.post.series].append(entry)
    topics = _groups(by_tag, key=lambda e: (-e.post.date.timestamp(), e.post.source))
    series = _groups(
        by_series, key=lambda e: (e.post.part or 10**9, e.post.date.timestamp(), e.post.source)
    )
    errors = [*_clashes(topics, "topic", "topics"), *_clashes(series, "series", "series")]
    errors += [error for group in series for error in _repeated_parts(group)]
    if errors:
        raise BuildError(errors)
    return Site(config, tuple(posts), topics, series, preview)


def _groups(
    groups: dict[str, list[RenderedPost]], key: Callable[[RenderedPost], tuple[Any, ...]]
) -> tuple[Group, ...]:
    result = []
    for name in sorted(groups, key=lambda n: (n.casefold(), n)):
        slug = slugify(name) or "t-" + hashlib.sha256(name.encode()).hexdigest()[:8]
        result.append(Group(name, slug, tuple(sorted(groups[name], key=key))))
    return tuple(result)


def _clashes(groups: tuple[Group, ...], kind: str, folder: str) -> list[ContentError]:
    """Groups whose names differ but whose URLs do not (`AI` and `ai`, `C++` and `C#`)."""
    first: dict[str, Group] = {}
    errors = []
    for group in groups:
        other = first.setdefault(group.slug, group)
        if other is not group:
            errors.append(
                ContentError(
                    group.posts[0].post.source,
                    None,
                    f"{kind} `{group.name}` has the same URL /{folder}/{group.slug}/ as "
                    f"{kind} `{other.name}` in {other.posts[0].post.source}",
                    "spell them the same, or rename one",
                )
            )
    return errors


def _repeated_parts(group: Group) -> list[ContentError]:
    """Two posts claiming the same part of a series would make its navigation lie."""
    claimed: dict[int, str] = {}
    errors = []
    for entry in group.posts:
        part, source = entry.post.part, entry.post.source
        if part is not None and claimed.setdefault(part, source) != source:
            message = f"part {part} of the series `{group.name}` is also {claimed[part]}"
            errors.append(ContentError(source, None, message, "give each part its own number"))
    return errors


def _static_files(root: Path) -> list[Output]:
    base = root / STATIC_DIR
    if not base.is_dir():
        return []
    outputs = []
    for path in sorted(base.rglob("*")):
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(base).parts):
            outputs.append(Output(path.relative_to(base).as_posix(), path.read_bytes()))
    return outputs


def _checked(outputs: list[Output]) -> list[Output]:
    """Outputs sorted by path; a path claimed twice or escaping the root is an error."""
    seen: dict[str, Output] = {}
    errors = []
    for output in outputs:
        parts = output.path.split("/")
        if output.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            errors.append(ContentError(output.path, None, "output path escapes the site"))
        key = output.path.casefold()
        if key in seen:
            errors.append(
                ContentError(
                    f"static/{output.path}",
                    None,
                    f"two outputs want /{output.path}",
                    "a file in static/ clashes with a generated page",
                )
            )
        seen[key] = output
    if errors:
        raise BuildError(errors)
    return sorted(seen.values(), key=lambda o: o.path)
