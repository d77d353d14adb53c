"""The render cache, and rendering the posts it does not hold in parallel.

Rendering a post's Markdown is the one expensive step of a build. `render_all` looks each
post up by a key hashed from everything its HTML depends on (the Markdown body, the fold,
the render options and the versions of blogkeeper, its renderer, markdown2, Pygments and
latex2mathml), renders the misses (in a process pool when there are enough of them) and
stores them. An entry is never wrong, only unused: there are no mtimes and no declared
dependencies, so editing anything that matters gives a new key. Errors are never stored:
they name file paths and lines, which are not part of the key.

Entries live in `<site>/.blogkeeper-cache/render/`, one file per key: a header line with
the key and the sizes, then the HTML and the intro as UTF-8 (a simple format, never a
pickle; it reads several times faster than JSON). They are written atomically (temp file +
`os.replace`). A file that cannot be read or does not hold exactly the entry its name
promises is ignored and written again. The folder is safe to delete. After a build that
stored new entries, if the folder is over `limit` bytes, entries this build did not use
are deleted, least recently written first, until it is under the limit.

This module writes only inside its cache folder; it never touches the site's output.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from blogkeeper import render
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.render import Rendered

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

In = TypeVar("In")
Out = TypeVar("Out")
CACHE_DIR = ".blogkeeper-cache"
RENDER_DIR = "render"
MAGIC = b"blogkeeper render cache 1"
SUFFIX = ".entry"
DEFAULT_LIMIT = 256 * 2**20  # bytes; entries in use are kept even above it
# Below this many misses a pool costs more to start than it saves (see docs/benchmarks.md).
PARALLEL_MIN = 16


@dataclass(frozen=True)
class Job:
    """One post to render: what the HTML depends on, plus where errors point."""

    body: str
    fold: int | None
    source: str
    body_line: int
    url: str = ""  # the post's absolute URL, for `render_derived`'s `derive` (not in the key)


class RenderCache:
    """Rendered posts on disk under `folder`, keyed by content, options and versions.

    `versions` and `options` default to the renderer's own; tests inject others.
    `hits` and `misses` count look-ups since the cache was made, `stored` new entries.
    """

    def __init__(
        self,
        folder: Path,
        versions: dict[str, str] | None = None,
        options: dict[str, object] | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.folder = folder
        self.limit = limit
        salt = {"versions": versions or render.versions(), "options": options or render.options()}
        self.salt = json.dumps(salt, sort_keys=True, default=repr)
        self.hits = 0
        self.misses = 0
        self.stored = 0

    @classmethod
    def for_site(cls, root: Path) -> RenderCache:
        return cls(root / CACHE_DIR / RENDER_DIR)

    def key(self, job: Job) -> str:
        digest = hashlib.sha256(self.salt.encode())
        digest.update(f"\0{job.fold}\0".encode())
        digest.update(job.body.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{SUFFIX}"

    def get(self, key: str) -> Rendered | None:
        try:
            result = decode(self.path(key).read_bytes(), key)
        except OSError:
            result = None  # missing or unreadable: render again and overwrite
        if result is None:
            self.misses += 1
        else:
            self.hits += 1
        return result

    def prune(self, used: set[str]) -> None:
        """Delete unused entries, oldest first, while the folder is over the limit."""
        entries = []
        total = 0
        for entry in _files(self.folder):
            try:
                size, mtime = entry.stat().st_size, entry.stat().st_mtime
            except OSError:
                continue  # deleted meanwhile by another build
            total += size
            if entry.name.removesuffix(SUFFIX) not in used:
                entries.append((mtime, entry.path, size))
        for _, path, size in sorted(entries):
            if total <= self.limit:
                break
            try:
                os.unlink(path)
                total -= size
            except OSError:
                pass


def encode(key: str, result: Rendered) -> bytes:
    """An entry: a header line naming the key and the sizes, then the HTML and the intro."""
    html, intro = result.html.encode(), result.intro.encode()
    return b"%s\n%s\n%d %d %d\n" % (MAGIC, key.encode(), result.folded, len(html), len(intro)) + (
        html + intro
    )


def decode(data: bytes, key: str) -> Rendered | None:
    """The entry in `data` if it is exactly what `encode` wrote for `key`, else None."""
    try:
        magic, stored_key, sizes, payload = data.split(b"\n", 3)
        folded, html_size, intro_size = (int(n) for n in sizes.split(b" "))
        if (magic, stored_key) != (MAGIC, key.encode()) or folded not in (0, 1):
            return None
        if html_size < 0 or intro_size < 0 or len(payload) != html_size + intro_size:
            return None
        html = payload[:html_size].decode()
        return Rendered(html, payload[html_size:].decode(), bool(folded))
    except ValueError:  # too few parts, not numbers, not UTF-8
        return None


def _files(folder: Path) -> list[os.DirEntry[str]]:
    try:
        shards = [e for e in os.scandir(folder) if e.is_dir()]
    except OSError:
        return []
    found = []
    for shard in shards:
        try:
            found += [e for e in os.scandir(shard.path) if e.is_file()]
        except OSError:
            continue
    return found


def store(path: Path, key: str, result: Rendered) -> None:
    """Write one entry atomically; a cache that cannot be written is only a slower build."""
    try:
        data = encode(key, result)
        path.parent.mkdir(parents=True, exist_ok=True)
        _ignore_in_git(path.parent.parent.parent)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except (OSError, UnicodeError):
        pass


def _ignore_in_git(cache_root: Path) -> None:
    marker = cache_root / ".gitignore"
    if cache_root.name == CACHE_DIR and not marker.exists():
        marker.write_text("# written by blogkeeper: this folder is a cache, safe to delete\n*\n")


def render_all(
    jobs: Sequence[Job], cache: RenderCache | None, workers: int | None = None
) -> list[Rendered]:
    """Every job rendered, from the cache where possible; `BuildError` with all errors.

    Misses render in `workers` processes (default: one per core) when there are at least
    `PARALLEL_MIN` of them, else in this process.
    """
    return [result for result, _ in render_derived(jobs, cache, None, workers)]


def render_derived(
    jobs: Sequence[Job],
    cache: RenderCache | None,
    derive: Callable[[Job, Rendered], Out] | None,
    workers: int | None = None,
    keys: Sequence[str] | None = None,
) -> list[tuple[Rendered, Out | None]]:
    """As `render_all`, each result with `derive(job, result)` computed by the process
    that rendered it, while the HTML is at hand; None for a result the cache held.

    `derive` must be picklable; what it returns is not kept in the cache. `keys`: the
    jobs' cache keys, when the caller has them.
    """
    if keys is None:
        keys = [cache.key(job) for job in jobs] if cache else [""] * len(jobs)
    results: list[tuple[Rendered, Out | None] | None] = [None] * len(jobs)
    for index, key in enumerate(keys):
        kept = cache.get(key) if cache else None
        results[index] = None if kept is None else (kept, None)
    missing = [i for i, result in enumerate(results) if result is None]
    errors: list[ContentError] = []
    paths = [str(cache.path(keys[i])) if cache else "" for i in missing]
    tasks = [(jobs[i], keys[i], p, derive) for i, p in zip(missing, paths, strict=True)]
    outcomes = parallel_map(_render_one, tasks, workers or pool_size())
    for index, outcome in zip(missing, outcomes, strict=True):
        if isinstance(outcome, tuple):
            results[index] = outcome
        else:
            errors += outcome
    if errors:
        raise BuildError(errors)
    if cache and missing:
        cache.stored += len(missing)
        cache.prune(set(keys))  # only a build that added entries can push the folder over
    return [r for r in results if r is not None]


# The job, its cache key, the entry's path ("" for none), what to derive from the result.
Task = tuple[Job, str, str, Callable[[Job, Rendered], Out] | None]
Outcome = tuple[Rendered, Out | None] | list[ContentError]


def parallel_map(
    function: Callable[[In], Out],
    items: Sequence[In],
    workers: int | None = None,
    small: bool = False,
) -> list[Out]:
    """`[function(item) for item in items]`, in `workers` processes (default: one per
    core) when there are at least `PARALLEL_MIN` items. `function` must be picklable.

    `small`: workers start from a small server process, not as copies of this one (use
    it late in a build, when copies of this process would each hold the whole site).
    """
    workers = workers or pool_size()
    if len(items) < PARALLEL_MIN or workers < 2:
        return [function(item) for item in items]
    # Here, not at the top: a build with too few misses for a pool never imports them.
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(items) // (workers * 8))
    with ProcessPoolExecutor(workers, mp_context=_context(small)) as pool:
        return list(pool.map(function, items, chunksize=chunk))


def _render_one(task: Task[Out]) -> Outcome[Out]:
    job, key, path, derive = task
    try:
        result = render.render_markdown(job.body, job.fold, job.source, job.body_line)
    except BuildError as exc:
        return list(exc.errors)
    if path:
        store(Path(path), key, result)
    return result, derive(job, result) if derive else None


def pool_size() -> int:
    """How many worker processes a pool gets: BLOGKEEPER_WORKERS, else one per core."""
    forced = os.environ.get("BLOGKEEPER_WORKERS", "")
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _context(small: bool = False) -> BaseContext:
    from multiprocessing import get_context  # with the pool, only when one starts

    # fork starts workers in milliseconds with the renderer already imported, but forking
    # a process that runs other threads (serve does) can leave the child stuck on a lock
    # one of them held. Then workers fork from a single-threaded server process instead.
    if threading.active_count() == 1 and not small:
        return get_context("fork")
    context = get_context("forkserver")
    # blogkeeper.site: render workers run its `derive` (pickled by name) after each post.
    context.set_forkserver_preload(["blogkeeper.cache", "blogkeeper.site"])
    return context


class Memo:
    """Results of pure functions of text, kept between builds in one JSON file.

    Keys are hashes of a function's whole input (see `digest`), values plain JSON. `save`
    keeps only the entries this build read or added, so the file never outgrows the site;
    it writes nothing when nothing changed. A file that cannot be read is an empty memo.
    `path` None: an in-memory memo that is never saved.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.stored: dict[str, object] = {}
        self.used: dict[str, object] = {}
        self.added = False
        try:
            loaded = json.loads(path.read_bytes()) if path else {}
            self.stored = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            pass

    @classmethod
    def for_site(cls, root: Path, name: str) -> Memo:
        return cls(root / CACHE_DIR / f"{name}.json")

    def get(self, key: str) -> object | None:
        value = self.used.get(key, self.stored.get(key))
        if value is not None:
            self.used[key] = value
        return value

    def __setitem__(self, key: str, value: object) -> None:
        self.used[key] = value
        self.added = True

    def save(self) -> None:
        """Write the entries used by this build, atomically; a failed write is ignored."""
        if self.path is None or (not self.added and len(self.used) == len(self.stored)):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _ignore_in_git(self.path.parent)
            handle, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
            with os.fdopen(handle, "wb") as file:
                file.write(json.dumps(self.used, sort_keys=True).encode())
            os.replace(temp, self.path)
        except (OSError, UnicodeError):
            pass


def digest(*parts: str | bytes) -> str:
    """A memo key for inputs `parts` (text may hold lone surrogates)."""
    hashed = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
        hashed.update(b"%d\0" % len(data) + data)
    return hashed.hexdigest()


@cache
def code_digest(*packages: str) -> str:
    """A digest of the code of the installed `packages` (top-level names, not imported).

    Part of a memo key when the memoised result is computed by that code: a new version
    of blogkeeper or of a dependency gives new keys, with no version list to keep up.
    """
    return digest(*(_package_digest(name) for name in packages))


@cache
def _package_digest(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return f"{name} missing"
    parts: list[str | bytes] = [name]
    folder = Path(spec.origin).parent
    package = spec.submodule_search_locations is not None
    for path in sorted(folder.rglob("*")) if package else [Path(spec.origin)]:
        if "__pycache__" in path.parts or not path.is_file():
            continue
        if path.suffix == ".py":
            parts += [path.relative_to(folder).as_posix(), path.read_bytes()]
        elif path.suffix in (".so", ".pyd"):
            # A compiled module is large: its name (with the ABI tag) and size stand for it.
            parts += [path.relative_to(folder).as_posix(), str(path.stat().st_size)]
    return digest(*parts)


@dataclass(frozen=True)
class Stored:
    """Bytes kept in a memo file (`size` bytes at `offset` in `file`), read when asked for:
    a big site's pages are in memory one at a time, while they are written."""

    file: str
    offset: int
    size: int

    def read(self) -> bytes:
        """The bytes; `OSError` if the file no longer holds them (another build pruned or
        replaced it meanwhile)."""
        with open(self.file, "rb") as file:
            file.seek(self.offset)
            data = file.read(self.size + 1)
        if len(data) != self.size:
            raise OSError(f"{self.file} changed while it was in use")
        return data


FILE_MAGIC = b"blogkeeper memo file 1"


class FileMemo:
    """Bytes kept between builds, one file per key in `folder`: for results too big to
    load as one JSON memo when only some are needed (whole feed files).

    Keys are hashes of everything the bytes are made from (see `digest`). Files are
    written atomically with a header naming the key and the size; a file that does not
    match its name is ignored. After a build that added files, `prune` deletes the files
    that build did not use, so the folder never outgrows the site.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()
        self.added = False

    @classmethod
    def for_site(cls, root: Path, name: str) -> FileMemo:
        return cls(root / CACHE_DIR / name)

    def get(self, key: str) -> bytes | None:
        stored = self.find(key)
        try:
            return stored.read() if stored is not None else None
        except OSError:
            return None

    def find(self, key: str) -> Stored | None:
        """Where the bytes kept under `key` are, checked but not read, or None."""
        self.used.add(key)
        path = self.folder / f"{key}{SUFFIX}"
        try:
            with open(path, "rb") as file:
                magic, stored, size = file.readline(), file.readline(), file.readline()
                offset = file.tell()
                total = os.fstat(file.fileno()).st_size
            if (magic, stored) == (FILE_MAGIC + b"\n", key.encode() + b"\n") and (
                int(size) == total - offset
            ):
                return Stored(str(path), offset, int(size))
        except (OSError, ValueError):
            pass
        return None

    def adopt(self, key: str) -> None:
        """Count the file another process wrote for this build under `key` as added by
        this memo (forked page workers)."""
        self.used.add(key)
        self.added = True

    def put(self, key: str, data: bytes) -> Stored | None:
        """Keep `data` under `key`, and say where; a memo that cannot be written is only a
        slower build (None)."""
        self.used.add(key)
        self.added = True
        return self.write(key, data)

    def write(self, key: str, data: bytes) -> Stored | None:
        """Write the file for `key`, not counting it as used: for other processes (render
        workers) writing what this build's own `FileMemo` will `get`."""
        header = b"%s\n%s\n%d\n" % (FILE_MAGIC, key.encode(), len(data))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _ignore_in_git(self.folder.parent)
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=SUFFIX)
            with os.fdopen(handle, "wb") as file:
                file.write(header + data)
            path = self.folder / f"{key}{SUFFIX}"
            os.replace(temp, path)
        except OSError:
            return None
        return Stored(str(path), len(header), len(data))

    def prune(self) -> None:
        if not self.added:
            return
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            if entry.name.removesuffix(SUFFIX) not in self.used:
                with contextlib.suppress(OSError):  # deleted meanwhile by another build
                    os.unlink(entry.path)
