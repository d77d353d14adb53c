"""What one build leaves for the next in the same process: a preview's memory.

`build.build` takes a `Session`; `serve` keeps one for as long as it runs, and
`blogkeeper build` starts each build with an empty one, so both go the same way. A
session holds facts of the form "these inputs gave this value", never a value without
the inputs it came from, so a build that uses one makes what a build without it makes:

- each post file's `Entry` (its `Post`, and its cache entry's key, size and rendering),
  under the file's identity, size and change times (a file written in the second before
  it was read is read again next time: its time may not have moved since, as git does
  for its index); one not held is taken from the cache when a build hands the session
  one (`content.load_cached`);
- each `Rendering` of the last build, under its key (`build._render_key`: a post whose
  front matter alone changed keeps it), and each `RenderedPost` whose post and rendering
  are both kept;
- the last build's pages with what their templates saw (`pages.PagesMade`), and its
  feeds, twins, llms.txt lines and `_headers` rules, each post's link problems, and
  the output paths found free of clashes,
  with what they were made from (`model.Earlier`), all compared by equality;
- the last build's "now" (previews mark posts dated after it "Scheduled"), kept while the
  clock has not moved past a post's date, so that pages stay comparable.

This module reads post files through `content` and writes nothing itself.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from blogkeeper.cache import Cache
from blogkeeper.config import SiteConfig
from blogkeeper.content import Entry, load_cached, parsing_key
from blogkeeper.errors import BuildError
from blogkeeper.model import Earlier, RenderedPost, Rendering, Site
from blogkeeper.pages import PagesMade

# A file changed this soon before it was read may change again within the same tick of
# the file system's clock, leaving its times as they were: it is read again next time.
RACY_NS = 1_000_000_000


@dataclass(frozen=True)
class Loaded:
    entry: Entry
    stat: tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns
    read_at: int  # time.time_ns() just before the file was read


@dataclass
class Counts:
    """What the last build did, beyond reusing what it could."""

    posts_read: int = 0
    posts_rendered: int = 0
    pages_rendered: int = 0

    def __str__(self) -> str:
        return (
            f"{_many(self.posts_read, 'post')} read, {self.posts_rendered} rendered, "
            f"{_many(self.pages_rendered, 'page')} rendered"
        )


def _many(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Session:
    """The memory a build reads and leaves for the next build of the same site.

    A session for one build only (`remember=False`: `blogkeeper build`'s) keeps no
    step's values (`model.Earlier`): no build would read them."""

    def __init__(self, remember: bool = True) -> None:
        self.remember = remember
        self.config: SiteConfig | None = None
        self.config_key = ""  # what of it a post's parse reads, for their cache keys
        self.posts: dict[str, Loaded] = {}  # by file path (a `Path` hashes and compares slowly)
        self.renderings: dict[str, Rendering] = {}  # by key
        self.keys = Earlier(remember=remember)  # each post's cache key, its post and URL
        self.entries: dict[str, RenderedPost] = {}  # source -> the last build's
        self.pages: PagesMade | None = None
        self.feeds = Earlier(remember=remember)  # each feed's files, and the sitemap
        self.llms = Earlier(remember=remember)  # each post's twin and llms.txt line; _headers
        self.links = Earlier(remember=remember)  # each post's link problems
        self.paths = Earlier(remember=remember)  # the output paths, checked for clashes
        self.now: dt.datetime | None = None
        self.counts = Counts()
        self.seen: set[str] = set()  # the post files this build looked at
        self._unbound: Cache | None = None  # the last build's cache, its bound not applied

    def bound(self, cache: Cache) -> None:
        """Apply the bound of the cache a build is done with (`Cache.finish`). A
        preview's session leaves it to `finish`, which the preview calls once its
        folders are quiet after serving the new site, or else the next build calls first:
        it walks the whole cache (some 20 ms at 1,000 posts, 0.2 s at 10,000) and a save
        need not wait for it."""
        self.finish()
        if self.remember:
            self._unbound = cache
        else:
            cache.finish()

    def finish(self) -> None:
        """Apply the bound the last build left, if it left one."""
        cache, self._unbound = self._unbound, None
        if cache is not None:
            cache.finish()

    def start(self, config: SiteConfig) -> SiteConfig:
        """Begin a build with `config`: posts loaded under another one are forgotten.
        Returns the config to build with: the last build's object if every field of it
        is equal (the lines that errors cite too), so that comparing what was made from
        it takes no time."""
        self.finish()
        if self.config is None or not _identical(config, self.config):
            if config != self.config:
                self.posts = {}
            self.config = config
            self.config_key = parsing_key(config)
        self.counts = Counts()
        self.seen = set()
        self.feeds, self.llms, self.links = self.feeds.next(), self.llms.next(), self.links.next()
        self.paths = self.paths.next()
        self.keys = self.keys.next()
        return self.config

    def load(self, config: SiteConfig, path: Path, cache: Cache | None = None) -> Entry:
        """The post in `path`: the one loaded before if the file has not changed since
        (its entry then counted as used by `cache`), else the one `cache` holds for its
        bytes (see `content.load_cached`)."""
        name = os.fspath(path)
        self.seen.add(name)
        try:
            status = os.stat(name)
        except OSError:  # gone, or a dangling link: reading it says so, at the file
            return self._read(config, path, cache)
        stat = (
            status.st_dev,
            status.st_ino,
            status.st_size,
            status.st_mtime_ns,
            status.st_ctime_ns,
        )
        known = self.posts.get(name)
        if known and known.stat == stat and status.st_mtime_ns < known.read_at - RACY_NS:
            if cache is not None and known.entry.size:
                cache.keep(known.entry.key, known.entry.size)  # the bound keeps it
            return known.entry
        read_at = time.time_ns()
        entry = self._read(config, path, cache)
        self.counts.posts_read += 1
        self.posts[name] = Loaded(entry, stat, read_at)
        return entry

    def _read(self, config: SiteConfig, path: Path, cache: Cache | None) -> Entry:
        found = load_cached(config, path, cache or Cache(None), self.config_key)
        if isinstance(found, list):
            raise BuildError(found)
        return found

    def took(self, found: dict[str, Entry]) -> None:
        """Keep the entries a build's posts have now (`build.render_posts` put those that
        lacked their rendering), by source."""
        if not self.remember:
            return
        for name, known in self.posts.items():
            now = found.get(known.entry.post.source)
            if now is not None and now is not known.entry and now.post is known.entry.post:
                self.posts[name] = replace(known, entry=now)

    def forget_the_rest(self) -> None:
        """Forget the posts of files this build did not look at: they are gone."""
        self.posts = {name: known for name, known in self.posts.items() if name in self.seen}

    def same_entries(self, entries: list[RenderedPost]) -> list[RenderedPost]:
        """`entries`, each the last build's object where its post and rendering are the
        last build's objects: the pages' contexts that hold them then compare at once
        (a topic page holds every post of its topic)."""
        before = self.entries
        kept = []
        for entry in entries:
            old = before.get(entry.post.source)
            same = old is not None and old.post is entry.post and old.rendering is entry.rendering
            kept.append(old if same and old is not None else entry)
        self.entries = {entry.post.source: entry for entry in kept}
        return kept

    def steady_now(self, site: Site) -> Site:
        """`site` with the last build's "now" if the posts it marks scheduled are the same
        as by the site's own "now": the pages then need no new render for the clock."""
        old, new = self.now, site.now
        if old is not None and new is not None and _scheduled(site, old) == _scheduled(site, new):
            site = replace(site, now=old)
        self.now = site.now
        return site


def _identical(a: SiteConfig, b: SiteConfig) -> bool:
    """Whether every field is equal, those left out of `==` (line numbers) too."""
    return all(getattr(a, f.name) == getattr(b, f.name) for f in fields(a))


def _scheduled(site: Site, now: dt.datetime) -> list[bool]:
    return [entry.post.date > now for entry in site.posts]
