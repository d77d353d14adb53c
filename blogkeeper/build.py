"""Build a site: the whole pipeline, top to bottom, and nothing else.

Load the posts; render each (the one expensive step: through the cache, the misses in
parallel); assemble the site; make every page, feed and LLM output as an `Output`, put
into the caller's `Sink` as soon as it is made; check the links. `build` is the one build
path, used by `blogkeeper build` (with a new session, into `writer.Staging`) and `serve`
(with the session it keeps, into memory); it writes no site itself. What it keeps
between runs goes through the one cache (cache.py); what a preview keeps between
rebuilds is its `Session`.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from blogkeeper import (
    checkcode,
    checkrecord,
    deadline,
    feeds,
    links,
    llms,
    pages,
    redirects,
    render,
    stored,
    urls,
)
from blogkeeper.cache import Cache, digest, fingerprint_or_none
from blogkeeper.config import SiteConfig, load_config
from blogkeeper.content import Entry, LoadOptions, select_posts, slugify, url_line
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.model import (
    RENDER_CODE,
    BuildOptions,
    Earlier,
    Group,
    Kept,
    Output,
    Post,
    RenderedPost,
    Rendering,
    Sink,
    Site,
    pack,
)
from blogkeeper.session import Counts, Session

In = TypeVar("In")
Out = TypeVar("Out")
STATIC_DIR = "static"
# Below this many posts to render, a process pool costs more to start than it saves.
PARALLEL_MIN = 16


def build_site(root: Path, options: BuildOptions | None = None) -> list[Output]:
    """Every output file of the site at `root`, sorted by path, or `BuildError` with all
    errors."""
    kept = Kept()
    build(root, kept, options)
    return kept.outputs()


def build(
    root: Path,
    sink: Sink,
    options: BuildOptions | None = None,
    session: Session | None = None,
) -> tuple[Site, list[str]]:
    """The site at `root`, and the sorted paths of its output files, each put into `sink`
    as soon as it is made; or `BuildError` with all errors (then `sink` holds part of the
    site, or more: the caller discards it).

    `session` is what earlier builds of this site in this process left (a preview's);
    the build reuses from it what has not changed and leaves its own there. Without one
    the build starts from an empty session that keeps nothing for a next build: the same
    steps, with nothing to reuse."""
    options = options or BuildOptions()
    session = session or Session(remember=False)
    config = session.start(load_config(root))
    cache = Cache.for_site(root, options.cache)
    record = Cache.key("output record", (), sink.name)  # what `sink.reuse` goes by
    joining = deadline.Started.done(None)  # what the LLM files left, being put (`_start_rest`)
    memo: dict[int, tuple[object, bytes]] = {}  # fingerprints, for outputs' keys
    try:
        loading = LoadOptions(options.drafts, options.future, options.now)
        loaded: dict[str, Entry] = {}  # each post as loaded, with the rendering its entry holds
        try:
            # A preview's session keeps posts; `blogkeeper build` loads on every core.
            load = partial(session.load, cache=cache) if session.remember else None
            posts, drafts, scheduled = select_posts(config, loading, load, memo, cache, loaded)
        finally:
            session.forget_the_rest()
        proofs = checkcode.proofs(config, posts, root)  # check-code's record: read, never written
        if options.require_checked and (unchecked := checkrecord.unchecked_errors(proofs)):
            raise BuildError(unchecked)
        renderings, keys, counts = session.renderings, session.keys, session.counts
        entries = render_posts(config, posts, cache, renderings, keys, memo, loaded, counts)
        _put_unrendered(config, loaded, cache)
        session.took(loaded)
        loaded.clear()  # a draft's post, say
        rendered = session.same_entries(entries)
        site = session.steady_now(assemble(config, rendered, options))
        warnings = tuple(w for entry in site.posts for w in entry.warnings)
        site = replace(
            site,
            drafts_left_out=drafts,
            scheduled_left_out=scheduled,
            proofs=proofs,
            warnings=warnings,
        )
        static = static_files(root)
        recalled = cache.get(record) if sink.reusing else None
        # A folder's walk starts, needed once the pages are keyed; not before the posts
        # are rendered: its child would hold its memory while a cold build's pool renders
        # (the peak PSS at 10,000 posts went from 478 to 563 MiB).
        sink.recall(recalled)
        if cache.written and not session.remember:
            cache.survey()  # its bound, applied as the build ends, need not walk it then
        overridden = {o.path for o in static}
        # The pages render in child processes while this one makes the rest.
        page_paths, making = pages.make_pages(site, sink, session.pages, memo, session.remember)
        try:
            kept = partial(_feed_kept, sink, memo) if sink.reusing else None
            feed_files, feed_paths = feeds.render_feeds(site, session.feeds, kept)
            generated = [
                o
                for o in [*pages.fixed_files(site, session.feeds), *feed_files]
                if o.path not in overridden or not o.path.startswith(urls.ASSETS)
            ]
            for output in generated:
                sink.put(output)
            made_feeds = {o.path for o in feed_files}
            named = [*page_paths, *(o.path for o in generated)]
            named += [path for path in feed_paths if path not in made_feeds]  # kept
            made, static, llms_warnings, rest = llms.render_llms(
                site, named, static, sink, session.llms, memo, cache
            )
            joining = _start_rest(rest, sink, len(site.posts))
            # After llms: `_headers` has no rule for redirect pages (one each would pass
            # Cloudflare's limit of 100 rules); they get the pattern rules' links.
            moved, static, moved_warnings = redirects.render_redirects(site, static)
            for output in [*moved, *static]:
                sink.put(output)
            named += [*made, *(o.path for o in [*moved, *static])]
            aliases = tuple((e.post.source, e.post.aliases) for e in site.posts if e.post.aliases)
            checking = partial(_checked_paths, site, named, static)
            paths = session.paths.value("paths", (tuple(named), aliases), checking)
            session.pages = making.wait()  # the link check reads the pages
        finally:
            making.stop()  # a build that failed first: its pages are not waited for
        session.counts.pages_rendered = session.pages.rendered if session.pages else 0
        found = frozenset(paths)
        links.check_images(site, found)
        held = {o.path: o.data for o in [*generated, *moved, *static]}
        broken = _broken_links(site, found, sink, session, cache, held, memo)
        if broken and config.build.broken_links != "warn":
            raise BuildError(broken)
        warnings = (*llms_warnings, *moved_warnings, *broken)
        site = replace(site, warnings=(*site.warnings, *warnings))
        joining.wait()  # llms.txt and llms-full.txt are in the sink: the record reads them
        if sink.reusing and (recording := sink.record()) != recalled:
            cache.put(record, recording)  # unchanged, it is not written: nothing to bound
    finally:
        joining.stop()  # a build that failed first: the LLM files are not waited for
        session.bound(cache)
    return site, paths


# A forked child puts what `llms.render_llms` left (llms.txt, llms-full.txt) for a site of
# this many posts (an edit's join of 10,000 twins takes half a second, llms.txt 0.2 s,
# while this process checks paths and links) ...
JOIN_IN_CHILD_MIN = 500
# ... when it makes at most this many twins, reading the others back. One that makes
# them all (after an upgrade, say) runs as long as the link check of every page, which
# makes this process write much of its memory: the child's copy of it then doubled it
# (peak PSS at 10,000 posts: 519 MiB, 256 of them the child's). It is made here.
JOIN_MAKING_MAX = 200
# How long, and with how much more memory than its parent, the child may take.
JOIN_SECONDS = 600.0
JOIN_MEMORY = 1 << 30


def _start_rest(rest: llms.Rest, sink: Sink, posts: int) -> deadline.Started:
    """`rest` (what `llms.render_llms` left to put) put: in a forked child for a big
    site when that child's files reach `sink` (a folder) and it makes few twins, else
    here, now."""
    light = bool(rest.puts) and posts >= JOIN_IN_CHILD_MIN and rest.making <= JOIN_MAKING_MAX
    if light and sink.shared and sink.reusing and deadline.child_inherits():
        return deadline.start_in_child(JOIN_SECONDS, JOIN_MEMORY, rest.put)
    rest.put()
    return deadline.Started.done(None)


# The code a feed's files come from.
FEED_CODE = ("blogkeeper", "feedgen", "lxml")


def _feed_kept(
    sink: Sink, memo: dict[int, tuple[object, bytes]], path: str, inputs: object
) -> bool:
    """`sink.reuse` of the feed file at `path` under the key of its code and `inputs`."""
    given = fingerprint_or_none(inputs, memo)
    return sink.reuse(path, None if given is None else Cache.key("feed", FEED_CODE, given, path))


# The code whose answers the link check's record holds.
LINKS_CODE = ("blogkeeper", "lxml")


def _broken_links(
    site: Site,
    paths: frozenset[str],
    sink: Sink,
    session: Session,
    cache: Cache,
    held: dict[str, bytes],
    memo: dict[int, tuple[object, bytes]],
) -> list[ContentError]:
    """`links.check_links`; for a sink that keeps outputs by key, each post's problems
    are those the last build into the same folder recorded for it (in the cache) when
    all they depend on is the same: the site's URL, the post and its rendering, the set
    of output paths, and the key (or bytes, for the pages the build holds) of each page
    its links look for an id in. Only the other posts are checked."""
    if not sink.reusing:
        return links.check_links(site, paths, sink.read, session.links)
    check = links.Check(site, paths, sink.read)
    where = Cache.key("links", LINKS_CODE, sink.name)
    files = digest(*sorted(paths))
    data = cache.get(where)
    before = _recorded_links(data, files)
    now: dict[str, list[Any]] = {}
    errors: list[ContentError] = []
    for entry in site.posts:
        if not entry.rendering.links:
            continue
        known = fingerprint_or_none((site.config.url, entry), memo)
        given = known.hex() if known is not None else None
        old = before.get(entry.post.source)
        if given and old and old[0] == given and _page_keys(old[1], sink, held) == old[2]:
            found = [ContentError(*error) for error in old[3]]
        else:
            targets = list(check.targets(entry))
            found = check.problems(entry)
            keys = _page_keys(targets, sink, held)
            if given and None not in keys:
                shown = [[e.path, e.line, e.message, e.hint] for e in found]
                old = [given, targets, keys, shown]
            else:
                old = None
        if old:
            now[entry.post.source] = old
        errors += found
    record = json.dumps({"files": files, "posts": now}).encode()
    if record != data:
        cache.put(where, record)
    return errors


def _page_keys(paths: list[str], sink: Sink, held: dict[str, bytes]) -> list[str | None]:
    """The key of each page at `paths`: the key it was made from, or the digest of the
    bytes the build holds; None for one with neither."""
    return [sink.keys.get(path) or (digest(held[path]) if path in held else None) for path in paths]


def _recorded_links(data: bytes | None, files: str) -> dict[str, list[Any]]:
    """Each post's entry in a link check's record, if it was made with these output
    paths (`files`, their digest); nothing if it cannot be read."""
    try:
        record = json.loads(data) if data else {}
        return record["posts"] if record.get("files") == files else {}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


def render_posts(
    config: SiteConfig,
    posts: Sequence[Post],
    cache: Cache | None = None,
    kept: dict[str, Rendering] | None = None,
    keyed: Earlier | None = None,
    memo: dict[int, tuple[object, bytes]] | None = None,
    found: dict[str, Entry] | None = None,
    counts: Counts | None = None,
) -> list[RenderedPost]:
    """Every post rendered: the rendering its entry held when it was loaded (`found`, by
    source), or else the one in `kept` (an earlier build's renderings, by key), the rest
    in parallel; `BuildError` with every post's errors. Each post in `found` whose entry
    lacked its rendering then gets the entry with it, put in `cache` (and `found` is
    updated). `kept` is left holding this build's renderings only; `keyed` holds an
    earlier build's keys, each with the post and URL it was computed from; `counts` gets
    how many posts were rendered.

    Each rendering's fingerprint in `memo` is its key: a rendering is a pure function of
    what the key digests, so outputs made from it are keyed without reading its 13 kB of
    HTML and twin again."""
    cache = cache or Cache(None)
    keyed = keyed or Earlier()
    earlier = dict(kept or {})
    found = {} if found is None else found
    keys: list[str] = []
    made: list[Rendering | None] = []
    for post in posts:
        entry = found.get(post.source)
        rendering: Rendering | None
        if entry is not None and entry.post is post and entry.rendering is not None:
            key, rendering = entry.rendering
        else:
            url = config.absolute(post.path)
            key = keyed.value("key " + post.source, (post, url), partial(_render_key, post, url))
            rendering = earlier.get(key)
        keys.append(key)
        made.append(rendering)
    missing = [i for i, rendering in enumerate(made) if rendering is None]
    errors: list[ContentError] = []
    tasks = [(posts[i], config.absolute(posts[i].path)) for i in missing]
    for index, rendered in zip(missing, parallel_map(_render_task, tasks), strict=True):
        if isinstance(rendered, Rendering):
            made[index] = rendered
        else:
            errors += rendered
    if errors:
        raise BuildError(errors)
    if counts is not None:
        counts.posts_rendered = len(missing)
    done = [r for r in made if r is not None]
    for post, key, done_one in zip(posts, keys, done, strict=True):
        entry = found.get(post.source)
        if entry is None or entry.post is not post or entry.rendering is not None:
            continue
        if (payload := stored.post_entry(post, config, (key, done_one))) is not None:
            cache.put(entry.key, payload)
            found[post.source] = Entry(post, entry.key, len(payload), (key, done_one))
    if memo is not None:
        memo.update((id(r), (r, bytes.fromhex(key))) for key, r in zip(keys, done, strict=True))
    if kept is not None:
        kept.clear()
        kept.update(zip(keys, done, strict=True))
    return [RenderedPost(post, r) for post, r in zip(posts, done, strict=True)]


def _put_unrendered(config: SiteConfig, found: dict[str, Entry], cache: Cache) -> None:
    """Put the entry of each post in `found` that was parsed (not taken from an entry)
    and not rendered, a draft's or a post's to come, so that the next build takes it
    from there; `found` is updated."""
    for source, entry in found.items():
        if entry.size or entry.rendering is not None:
            continue  # taken from its entry, or rendered (`render_posts` put it)
        if (payload := stored.post_entry(entry.post, config)) is not None:
            cache.put(entry.key, payload)
            found[source] = entry._replace(size=len(payload))


def _render_key(post: Post, url: str) -> str:
    """A rendering's key: a digest of what it is made from (`render_post`), and of the
    code that makes it."""
    fold = "" if post.fold is None else str(post.fold)
    # the packed body: only the same body packs to the same bytes (unpacking it would
    # take longer than digesting it)
    return Cache.key("post", RENDER_CODE, post.packed_body, fold, url)


def render_post(post: Post, url: str) -> Rendering:
    """A post's `Rendering`: its HTML, and what later steps need from it. `url` is the
    post's absolute URL, against which its twin resolves links."""
    result = render.render_markdown(post.body, post.fold, post.source, post.body_line)
    try:
        found_links, ids = links.facts(links.parse(result.html))
    except links.TooDeep as exc:
        hint = "elements nest more than 2,048 deep; the feed and link check would lose the rest"
        raise BuildError([ContentError(post.source, None, str(exc), hint)]) from None
    return Rendering(
        packed_html=pack(result.html),
        intro=result.intro,
        folded=result.folded,
        links=found_links,
        ids=ids,
        packed_twin=pack(llms.twin_body(post.body, post.fold, url)),
        # A fold at the very top leaves no intro: the post's text describes it then.
        intro_text=render.plain_text(result.intro) or render.plain_text(result.html),
        warnings=tuple(_in_body(warning, post) for warning in result.warnings),
    )


def _in_body(warning: ContentError, post: Post) -> ContentError:
    """`warning` with no file, and its line counted from the body's first line: what a
    rendering holds (`RenderedPost.warnings` puts it back in the post's file)."""
    line = None if warning.line is None else warning.line - post.body_line
    return replace(warning, path="", line=line)


def _render_task(task: tuple[Post, str]) -> Rendering | list[ContentError]:
    try:
        return render_post(*task)
    except BuildError as exc:
        return list(exc.errors)


def parallel_map(function: Callable[[In], Out], items: Sequence[In]) -> list[Out]:
    """`[function(item) for item in items]`, in a process pool (one worker per core) when
    there are at least `PARALLEL_MIN` items. `function` must be picklable."""
    workers = deadline.pool_size()
    if len(items) < PARALLEL_MIN or workers < 2:
        return [function(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor  # only when a pool starts

    from blogkeeper.deadline import process_context

    chunk = max(1, len(items) // (workers * 8))
    context = process_context()
    # Workers die with the build, even a SIGKILLed one. A forked worker checks that its
    # parent is this process; a forkserver's workers die with the forkserver, which
    # exits when this process does.
    parent = os.getpid() if context.get_start_method() == "fork" else None
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(parent,)
    ) as pool:
        return list(pool.map(function, items, chunksize=chunk))


def _start_worker(parent: int | None) -> None:
    deadline.die_with_parent(parent)
    # What it inherits stays out of collections (walking it would copy it from the
    # parent); what its tasks make is collected, though the build runs without: a
    # rendering leaves cycles behind, and a worker renders many.
    gc.freeze()
    gc.enable()


def assemble(
    config: SiteConfig, posts: list[RenderedPost], options: BuildOptions | None = None
) -> Site:
    """The site's posts grouped into topics and series; `BuildError` if two share a URL,
    or a series has two posts with one `part` or posts with and without a `part`.
    A preview marks future posts, by `options.now` or the clock."""
    options = options or BuildOptions()
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
    errors += [error for group in series for error in _mixed_parts(group)]
    if errors:
        raise BuildError(errors)
    now = (options.now or dt.datetime.now(tz=config.tz)) if options.preview else None
    return Site(config, tuple(posts), topics, series, options.preview, now)


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
            key = "tags" if kind == "topic" else "series"
            errors.append(
                ContentError(
                    group.posts[0].post.source,
                    group.posts[0].post.lines.get(key),
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
            line = entry.post.lines.get("part")
            errors.append(ContentError(source, line, message, "give each part its own number"))
    return errors


def _mixed_parts(group: Group) -> list[ContentError]:
    """A series numbers every post with `part` or none: a post without one, among posts
    with one, has no number of its own to show, and any number it were given could be
    another post's (or the one its author gives a later part)."""
    numbered = next((e.post for e in group.posts if e.post.part is not None), None)
    if numbered is None:
        return []
    message = (
        f"this post has no `part`, but other posts of the series `{group.name}` have one "
        f"({numbered.source} is part {numbered.part})"
    )
    hint = "give every post of the series a `part`, or none: then they go by date"
    return [
        ContentError(e.post.source, e.post.lines.get("series"), message, hint)
        for e in group.posts
        if e.post.part is None
    ]


def static_files(root: Path) -> list[Output]:
    """Every file under static/, sorted by path, but dotfiles and what dot-folders hold.
    A link to a file or a folder is followed, as posts/ follows one (shared images kept
    elsewhere); one that leads back to a folder it is inside is an error."""
    base = root / STATIC_DIR
    if not base.is_dir():
        return []
    outputs = []

    def walk(folder: str, prefix: str, above: frozenset[str]) -> None:
        with os.scandir(folder) as entries:
            listed = list(entries)
        for entry in listed:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():  # a link to a folder too
                if (real := os.path.realpath(entry.path)) in above:
                    where = f"{STATIC_DIR}/{prefix}{entry.name}"
                    message = "folder link leads back to a folder it is inside"
                    raise BuildError([ContentError(where, None, message, "remove the link")])
                walk(entry.path, f"{prefix}{entry.name}/", above | {real})
            elif entry.is_file():
                outputs.append(Output(prefix + entry.name, Path(entry.path).read_bytes()))

    walk(str(base), "", frozenset([os.path.realpath(base)]))
    return sorted(outputs, key=lambda output: output.path.split("/"))  # as Paths sort


def _checked_paths(site: Site, named: list[str], static: list[Output]) -> list[str]:
    """Every output path (`named`), sorted; `BuildError` if two outputs are one file
    (`_checked`), if one is a file where another needs a folder (`_nested`), or if an
    alias is an output's URL (`redirects.clashes`). What it reads of `site` are the
    posts' aliases; the rest only names whose output a path is, for an error."""
    owned, errors = _checked(named, _owners(site, static))
    paths = list(owned)
    errors += redirects.clashes(site, paths) + _nested(owned)  # all of them at once
    if errors:
        raise BuildError(errors)
    return paths


# Who asked for an output, for an error when two want one path: (file, line, what).
Owner = tuple[str, int | None, str]


def _owners(site: Site, static: list[Output]) -> dict[str, list[Owner]]:
    """Who asks for each output a post or static/ makes, by path, in output order: a
    path with two owners (a post's page and an alias) has both. The rest is blogkeeper's."""
    owners: dict[str, list[Owner]] = defaultdict(list)
    for entry in site.posts:
        post, line = entry.post, url_line(entry.post)
        owners[urls.page_file(post.path)].append((post.source, line, f"the page of {post.source}"))
        owners[urls.twin_path(post)].append((post.source, line, f"the twin of {post.source}"))
    for entry in site.posts:
        for alias in entry.post.aliases:
            what = f"alias {alias} of {entry.post.source}"
            owner = (entry.post.source, entry.post.lines.get("aliases"), what)
            owners[urls.alias_page(alias)].append(owner)
    for output in static:
        owners[output.path].append((f"static/{output.path}", None, f"static/{output.path}"))
    return owners


def _checked(
    paths: list[str], owners: dict[str, list[Owner]]
) -> tuple[dict[str, Owner], list[ContentError]]:
    """Who asked for each of the output `paths`, sorted by path, and the errors: a path
    claimed twice (case aside: some hosts ignore it) or escaping the root, located at the
    post or static file that asked for it."""
    seen: dict[str, tuple[str, Owner]] = {}
    errors = []
    for path in paths:
        if not urls.inside(path):
            errors.append(ContentError(path, None, "output path escapes the site"))
        claims = owners.get(path)
        owner = claims.pop(0) if claims else _blogkeepers(path)
        key = path.casefold()
        if key in seen:
            first, first_owner = seen[key]
            errors.append(_clash(first_owner, owner, first != path))
        seen[key] = (path, owner)
    return dict(sorted(seen.values())), errors


def _nested(owned: dict[str, Owner]) -> list[ContentError]:
    """An error for each output that is a file where another output needs a folder
    (static/a and a post at /a/), case aside."""
    inner: dict[str, str] = {}  # folder, casefolded -> the first output inside it
    for path in owned:
        folded = path.casefold()
        end = folded.rfind("/")
        while end > 0 and (folder := folded[:end]) not in inner:  # else its parents are too
            inner[folder] = path
            end = folded.rfind("/", 0, end)
    errors = []
    for path, owner in owned.items():
        if (other := inner.get(path.casefold())) is not None:
            a, b = owner, owned[other]
            if not a[0] or (b[0] and a[0].startswith("static/")):
                a, b = b, a
            message = f"{owner[2]} is a file where {owned[other][2]} needs a folder"
            errors.append(ContentError(a[0], a[1], message, _clash_hint(a)))
    return errors


def _blogkeepers(path: str) -> Owner:
    return ("", None, f"/{path}, which blogkeeper makes (a list, topic, series or feed page)")


def _clash(a: Owner, b: Owner, case: bool) -> ContentError:
    """Two owners of one output path: reported where the author can change it, at a post
    rather than static/, and at either rather than at blogkeeper's own page."""
    if not a[0] or (b[0] and a[0].startswith("static/") and not b[0].startswith("static/")):
        a, b = b, a
    hosts = " on hosts that ignore case" if case else ""
    message = f"{a[2]} and {b[2]} are one file{hosts}"
    return ContentError(a[0], a[1], message, _clash_hint(a))


def _clash_hint(owner: Owner) -> str:
    if owner[0].startswith("static/"):
        return "a file in static/ clashes with a generated page"
    return "change the post's `permalink`, `slug` or `aliases`"
