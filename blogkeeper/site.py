"""Assemble a site: load posts, render them, and list every output file.

`build_site` is the one build path used by `build` and `serve`: it reads the site folder,
renders through the cache, and returns `Output` values without touching the output
folder. `write_site` is the only function that writes a built site to disk.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from blogkeeper import feeds, links, llms, pages
from blogkeeper.cache import FileMemo, Job, Memo, RenderCache, Stored, render_derived
from blogkeeper.config import SiteConfig, load_config
from blogkeeper.content import LoadOptions, Post, load_posts, slugify
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.links import StartTag, start_tags
from blogkeeper.render import Rendered

STATIC_DIR = "static"


_FROM_HTML = {"derived_from": ("html",)}
_FROM_INTRO = {"derived_from": ("intro",)}
_FROM_POST = {"derived_from": ("post",)}
_RENDERED = {"derived_from": ("post", "rendered_with")}


@dataclass(frozen=True)
class RenderedPost:
    # What the renderer made of `post.body` and `post.fold`: page keys leave them out
    # when `rendered_with` says with what (they follow from it and the post).
    post: Post
    html: str = field(metadata=_RENDERED)
    intro: str = field(metadata=_RENDERED)
    folded: bool = field(metadata=_RENDERED)
    # Found where the post was rendered (see `Derived`); None when the render cache held
    # it. Page keys leave them out: they follow from the fields named (and the site's URL).
    html_tags: tuple[StartTag, ...] | None = field(default=None, metadata=_FROM_HTML)
    intro_tags: tuple[StartTag, ...] | None = field(default=None, metadata=_FROM_INTRO)
    twin: tuple[str, str] | None = field(default=None, metadata=_FROM_POST)  # (URL, body)
    # A hash that `html` and `intro` are a function of (the render cache key), for keys
    # of what is made from them without hashing them again; "" when not known.
    html_key: str = field(default="", metadata=_FROM_HTML)
    # The render cache's salt (the render options and the versions of all that renders),
    # when the HTML came through that cache; None: unknown, page keys hash the HTML.
    rendered_with: str | None = None

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


class Output:
    """One file of the built site: its path (relative to the output root, POSIX
    separators) and its bytes. The bytes may stay in a memo file until asked for
    (`Output.kept`), so a big site's pages are not all in memory at once."""

    __slots__ = ("_data", "_stored", "path")

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self._data: bytes | None = data
        self._stored: Stored | None = None

    @classmethod
    def kept(cls, path: str, stored: Stored) -> Output:
        output = cls(path, b"")
        output._data, output._stored = None, stored
        return output

    @property
    def data(self) -> bytes:
        if self._data is not None:
            return self._data
        assert self._stored is not None
        try:
            return self._stored.read()
        except OSError:
            message = "a file of .blogkeeper-cache changed while this build was using it"
            hint = "another blogkeeper build may have run at the same time; build again"
            raise BuildError([ContentError(self._stored.file, None, message, hint)]) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Output):
            return NotImplemented
        return (self.path, self.data) == (other.path, other.data)

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"Output({self.path!r}, <{len(self.data)} bytes>)"


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
    kept = _Kept(root, options.cache)
    loading = LoadOptions(options.drafts, options.future, options.now)
    try:
        posts = load_posts(config, loading, kept.memo("posts"))
        rendered = render_posts(posts, kept.render, config, kept.files("twins"))
        site = assemble(config, rendered, preview=options.preview)
        if options.preview:
            site = replace(site, now=options.now or dt.datetime.now(tz=config.tz))
        static = _static_files(root)
        overridden = {o.path for o in static}
        built = [
            *pages.render_pages(site, feeds.head_links(site), kept.files("pages")),
            *feeds.render_feeds(site, kept.memo("feeds"), kept.files("feed-files")),
        ]
        generated = [
            o for o in built if o.path not in overridden or not o.path.startswith("assets/")
        ]
        generated, static = llms.render_llms(
            site,
            generated,
            static,
            llms.Kept(kept.files("twins"), kept.memo("llms"), kept.files("llms-pack")),
        )
        outputs = _checked([*generated, *static])
        links.check_links(config.url, site.posts, outputs, kept.memo("links"))
    finally:
        kept.save()  # a failed link check is worth keeping too: the fix re-checks one post
    return outputs


class _Kept:
    """What a build keeps for the next one in `<root>/.blogkeeper-cache/`: the render
    cache, and memos by name (see `cache.Memo`, `cache.FileMemo`). Not `enabled`
    (`--no-cache`): every one is None, and nothing is read or written."""

    def __init__(self, root: Path, enabled: bool) -> None:
        self.root = root
        self.enabled = enabled
        self.render = RenderCache.for_site(root) if enabled else None
        self.memos: dict[str, Memo] = {}
        self.file_memos: dict[str, FileMemo] = {}

    def memo(self, name: str) -> Memo | None:
        if self.enabled and name not in self.memos:
            self.memos[name] = Memo.for_site(self.root, name)
        return self.memos.get(name)

    def files(self, name: str) -> FileMemo | None:
        if self.enabled and name not in self.file_memos:
            self.file_memos[name] = FileMemo.for_site(self.root, name)
        return self.file_memos.get(name)

    def save(self) -> None:
        """Write each memo the build used; drop the files it did not use."""
        for memo in self.memos.values():
            memo.save()
        for files in self.file_memos.values():
            files.prune()


def render_posts(
    posts: Iterable[Post],
    cache: RenderCache | None = None,
    config: SiteConfig | None = None,
    twins: FileMemo | None = None,
) -> list[RenderedPost]:
    """Every post rendered, through `cache` when given; misses render in parallel.

    Each process that renders a post also derives from it what later steps need (see
    `Derived`); given `config`, that includes the body of the post's Markdown twin, which
    it writes into `twins` when given (`llms.render_llms` reads it there).
    """
    posts = list(posts)
    jobs = [Job(p.body, p.fold, p.source, p.body_line, _twin_url(config, p)) for p in posts]
    folder = str(twins.folder) if twins is not None else ""
    keys = [cache.key(job) for job in jobs] if cache else [""] * len(jobs)
    rendered = render_derived(jobs, cache, functools.partial(derive, twins=folder), keys=keys)
    if twins is not None:
        # Workers wrote these twin bodies for this build: count them as its own, so that
        # the end of the build deletes the bodies no build uses any more.
        for job, (_, derived) in zip(jobs, rendered, strict=True):
            if derived is not None and job.url:
                twins.adopt(llms.twin_key(job.fold, job.url, job.body))
    salt = cache.salt if cache is not None else None
    return [_attach(p, r, d, k, salt) for p, (r, d), k in zip(posts, rendered, keys, strict=True)]


@dataclass(frozen=True)
class Derived:
    """What later steps would parse or compute again from a post just rendered."""

    html_tags: tuple[StartTag, ...]  # links.start_tags of the HTML
    intro_tags: tuple[StartTag, ...]  # and of the intro
    # (the post's URL, llms.twin_body for it) when made but kept in no memo, else None
    twin: tuple[str, str] | None


def derive(job: Job, result: Rendered, twins: str = "") -> Derived:
    """Run by the process that rendered `job`, while its text is at hand. The twin's body
    goes into the `FileMemo` folder `twins` (if not ""), where `llms.twin` reads it: it
    is not held in memory from now until then."""
    twin = None
    if job.url:
        body = llms.twin_body(job.body, job.fold, job.url)
        if twins:
            key = llms.twin_key(job.fold, job.url, job.body)
            FileMemo(Path(twins)).write(key, body.encode("utf-8", "surrogatepass"))
        else:
            twin = (job.url, body)
    return Derived(tuple(start_tags(result.html)), tuple(start_tags(result.intro)), twin)


def _twin_url(config: SiteConfig | None, post: Post) -> str:
    """The URL a post's twin is made for, or "" when it needs no twin (or no config)."""
    if config is None or not (post.llms and config.llms.enabled):
        return ""
    return llms.absolute_url(config, post.path) if config.llms.full or config.llms.twins else ""


def _attach(
    post: Post, result: Rendered, derived: Derived | None, key: str = "", salt: str | None = None
) -> RenderedPost:
    entry = RenderedPost(
        post, result.html, result.intro, result.folded, html_key=key, rendered_with=salt
    )
    if derived is None:
        return entry
    return replace(
        entry, html_tags=derived.html_tags, intro_tags=derived.intro_tags, twin=derived.twin
    )


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
