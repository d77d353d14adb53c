"""The one cache: never stale, a damaged entry is a miss, bounded, and invisible in the
output (cold, warm and uncached builds are byte-identical)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, build, now, post, snapshot

from blogkeeper import build as build_module
from blogkeeper import cache as cache_module
from blogkeeper import content
from blogkeeper.cache import CACHE_DIR, Cache, code_digest
from blogkeeper.deadline import process_context
from blogkeeper.model import BuildOptions, Kept, Post
from blogkeeper.session import Session

MakeSite = Callable[..., Path]


def entries(root: Path) -> list[Path]:
    """The cache's post file entries that hold a rendering: not the record of what
    `blogkeeper build` wrote where (`writer.Staging.record`) nor its link check's answer."""
    found = sorted((root / CACHE_DIR).glob("??/*"))
    return [path for path in found if b',"rendering":{"key":' in path.read_bytes()]


# --- the store ---------------------------------------------------------------------------


def test_an_entry_comes_back_as_it_was_put(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    key = Cache.key("step", ("blogkeeper",), "input")
    assert cache.get(key) is None
    cache.put(key, b"payload \xff\x00")
    assert Cache(tmp_path).get(key) == b"payload \xff\x00"
    assert (tmp_path / ".gitignore").read_text().endswith("*\n")


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "same size, one bit flipped": flip_last_byte,
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:-3]),
    "empty": lambda p: p.write_bytes(b""),
    "header only": lambda p: p.write_bytes(p.read_bytes().split(b"\n", 3)[0] + b"\n"),
    "another key's entry": lambda p: p.write_bytes(p.read_bytes().replace(b"\n", b"0\n", 2)),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_entry_is_a_miss(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    cache = Cache(tmp_path)
    key = Cache.key("step", (), "input")
    cache.put(key, b"the right bytes")
    damage(tmp_path / key[:2] / key)
    assert Cache(tmp_path).get(key) is None


def test_the_key_covers_the_step_the_code_and_every_input() -> None:
    base = Cache.key("post", ("blogkeeper",), "body", "1")
    assert base == Cache.key("post", ("blogkeeper",), "body", "1")
    assert base != Cache.key("page", ("blogkeeper",), "body", "1")
    assert base != Cache.key("post", ("blogkeeper", "pygments"), "body", "1")
    assert base != Cache.key("post", ("blogkeeper",), "body1", "")  # inputs length-prefixed
    assert base != Cache.key("post", ("blogkeeper",), "body", "2")


def test_an_edit_to_the_code_changes_the_code_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "bk_fake_renderer"
    package.mkdir()
    (package / "__init__.py").write_text("def format(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_digest("bk_fake_renderer")
    (package / "__init__.py").write_text("def format(x):\n    return x.upper()\n")
    code_digest.cache_clear()
    cache_module._package_digest.cache_clear()
    assert code_digest("bk_fake_renderer") != before
    assert code_digest("no_such_package_here") == code_digest("no_such_package_here")


def test_the_render_key_covers_blogkeeper_and_the_libraries_it_renders_with() -> None:
    assert {"blogkeeper", "markdown2", "pygments", "latex2mathml", "lxml"} <= set(
        build_module.RENDER_CODE
    )
    # a post file's entry holds its rendering: its key covers the same code, and the parse's
    assert {*build_module.RENDER_CODE, "yaml", "frontmatter"} == set(content.ENTRY_CODE)


def test_unused_entries_go_first_oldest_first_when_over_the_bound(tmp_path: Path) -> None:
    old = Cache(tmp_path)
    for number in range(10):
        old.put(f"{number:02d}" + "a" * 62, b"x" * 1000)
    fresh = Cache(tmp_path, limit=5_000)
    kept = "05" + "a" * 62
    assert fresh.get(kept) is not None  # used by this build: never evicted
    fresh.put("99" + "b" * 62, b"y" * 1000)
    fresh.finish()
    left = {p.name for p in tmp_path.glob("??/*")}
    assert kept in left and "99" + "b" * 62 in left
    assert sum(p.stat().st_size for p in tmp_path.glob("??/*")) <= 5_000 + 1_000


def test_the_bound_counts_an_entry_used_at_its_file_size(tmp_path: Path) -> None:
    """It is not asked (no stat): each entry this build used counts as the file that
    holds its payload, to the byte; so a build whose entries fill the limit deletes only
    the unused ones it must."""
    from blogkeeper.cache import _stored_size

    cache = Cache(tmp_path)
    for number, size in enumerate([0, 7, 1000, 123_456]):
        key = f"{number:02d}" + "c" * 62
        cache.put(key, b"z" * size)
        assert _stored_size(key, size) == (tmp_path / key[:2] / key).stat().st_size
    fresh = Cache(tmp_path, limit=0)
    fresh.put("99" + "b" * 62, b"y" * 10)  # twice what it used: room for nothing more
    fresh.finish()
    assert [p.name for p in tmp_path.glob("??/*")] == ["99" + "b" * 62]
    used = Cache(tmp_path, limit=0)
    assert used.get("99" + "b" * 62) is not None
    used.put("98" + "b" * 62, b"x" * 10)
    used.finish()
    assert sorted(p.name for p in tmp_path.glob("??/*")) == ["98" + "b" * 62, "99" + "b" * 62]


@pytest.mark.parametrize("more", [0, 2])
def test_a_survey_spares_the_walk_while_the_writes_since_fit_under_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, more: int
) -> None:
    """`survey` measures the room under the bound in a child; `finish` walks the cache
    (here, in this process) only when the bytes written since may not fit in it, and
    then deletes as ever."""
    import os

    from blogkeeper import cache as cache_module

    old = Cache(tmp_path)
    for number in range(4):  # 1,154 bytes each, stored
        old.put(f"{number:02d}" + "a" * 62, b"x" * 1000)
    fresh = Cache(tmp_path, limit=6_000)
    fresh.put("50" + "b" * 62, b"y" * 100)  # 254 bytes: the room is 6,000 - 4,870
    fresh.survey()
    walked: list[int] = []
    entries = cache_module._entries

    def watched(folder: Path) -> list[os.DirEntry[str]]:
        walked.append(os.getpid())
        return entries(folder)

    monkeypatch.setattr(cache_module, "_entries", watched)
    for number in range(more):  # 2,308 bytes more: past the room
        fresh.put(f"6{number}" + "b" * 62, b"z" * 1000)
    fresh.finish()
    left = sorted(p.name[:2] for p in tmp_path.glob("??/*"))
    if more:
        assert walked == [os.getpid()]
        assert left == ["02", "03", "50", "60", "61"]  # the two oldest unused went
    else:
        assert walked == []
        assert left == ["00", "01", "02", "03", "50"]


def test_a_bound_that_deletes_leaves_an_eighth_of_it_free(tmp_path: Path) -> None:
    """So that the next builds' few new entries fit, and no walk is needed for them."""
    old = Cache(tmp_path)
    for number in range(8):  # 1,154 bytes each, stored: 9,232
        old.put(f"{number:02d}" + "a" * 62, b"x" * 1000)
    fresh = Cache(tmp_path, limit=9_000)
    fresh.put("50" + "b" * 62, b"y" * 100)  # 9,486 in all: over by one entry
    fresh.finish()
    left = sorted(p.name[:2] for p in tmp_path.glob("??/*"))
    assert left == ["02", "03", "04", "05", "06", "07", "50"]  # 7,178: under 7,875


def test_a_build_that_writes_nothing_deletes_nothing(tmp_path: Path) -> None:
    Cache(tmp_path).put("01" + "a" * 62, b"x" * 1000)
    reader = Cache(tmp_path, limit=0)
    reader.finish()
    assert len(list(tmp_path.glob("??/*"))) == 1


def test_without_reading_nothing_is_read_and_only_new_entries_stay(tmp_path: Path) -> None:
    Cache(tmp_path).put("01" + "a" * 62, b"stale")
    fresh = Cache(tmp_path, reading=False)
    assert fresh.get("01" + "a" * 62) is None
    fresh.put("02" + "a" * 62, b"fresh")
    fresh.finish()
    assert [p.name for p in tmp_path.glob("??/*")] == ["02" + "a" * 62]


# --- the cache in builds -----------------------------------------------------------------


def many_posts(count: int) -> dict[str, str]:
    files = {}
    for n in range(count):
        body = f"""\
Intro {n} with $a^{n}$ and [a link](/2026/01/p00/#fn-n).

<!--more-->

```python
print({n})
```

| n | square |
|---|---|
| {n} | {n * n} |

Text.[^n]

[^n]: Footnote {n}.
"""
        extra = {"tags": f"[T{n % 4}, Common]"} if n % 2 else {"series": f"S{n % 3}"}
        files[f"posts/p{n:02d}.md"] = post(
            f"Post {n}", f"2026-01-{1 + n % 28:02d}", body, slug=f"p{n:02d}", **extra
        )
    return files


def outputs(root: Path, cache: bool = True) -> dict[str, bytes]:
    built = build_module.build_site(root, BuildOptions(now=now(), cache=cache))
    return {o.path: o.data for o in built}


def test_a_build_through_load_children_counts_the_posts_it_rendered(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(many_posts(12))
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    monkeypatch.setattr(content, "POSTS_PER_CHILD", 4)

    def rendered() -> int:
        session = Session(remember=False)
        build_module.build(root, Kept(), BuildOptions(now=now()), session)
        return session.counts.posts_rendered

    assert rendered() == 12
    assert rendered() == 0
    (root / "posts" / "p03.md").write_text(many_posts(4)["posts/p03.md"] + "\nMore.\n")
    assert rendered() == 1


def test_load_children_digest_no_code(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The digests of the code that loads and renders posts are made once, before the
    load's children start (each would read pygments' 300 files again: 70 ms)."""
    import os

    from blogkeeper import cache as cache_module

    root = make_site(many_posts(12))
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    monkeypatch.setattr(content, "POSTS_PER_CHILD", 4)
    outputs(root)  # warm: the children fetch every rendering
    log = tmp_path / "digested-by"
    package_digest = cache_module._package_digest

    def logged(name: str) -> str:
        with log.open("a") as file:
            file.write(f"{os.getpid()}\n")
        return package_digest(name)

    monkeypatch.setattr(cache_module, "_package_digest", logged)
    cache_module.code_digest.cache_clear()  # as in a new process
    try:
        outputs(root)
    finally:
        cache_module.code_digest.cache_clear()
    assert {int(pid) for pid in log.read_text().split()} == {os.getpid()}


def test_cold_warm_uncached_serial_and_parallel_builds_are_byte_identical(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In parallel, children read each post file's entry from the cache, which this
    process decodes as it arrives: a warm build renders nothing, and takes each
    rendering from its post's entry."""
    root = make_site(many_posts(40))
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    serial = outputs(root, cache=False)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    monkeypatch.setattr(build_module, "PARALLEL_MIN", 1)
    monkeypatch.setattr(content, "POSTS_PER_CHILD", 4)
    cold = outputs(root)
    assert len(entries(root)) == 40

    def never(post: Post, url: str) -> None:
        raise AssertionError(f"{post.source} rendered again")

    monkeypatch.setattr(build_module, "render_post", never)
    keyed: list[str] = []

    def key(post: Post, url: str) -> str:
        keyed.append(post.source)
        return "0" * 64

    monkeypatch.setattr(build_module, "_render_key", key)
    warm = outputs(root)
    assert keyed == []  # each rendering, and its key, came with its post
    monkeypatch.undo()
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    uncached = outputs(root, cache=False)
    assert serial == cold == warm == uncached
    assert any(b"<mi>a</mi>" in data for data in serial.values())


def test_the_sample_blog_builds_the_same_cold_warm_and_uncached(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(REPO / "posts", site / "posts")
    for name in ("blog.toml",):
        shutil.copy(REPO / name, site / name)
    for folder in ("templates", "static"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, site / folder)
    cold = outputs(site)
    assert entries(site)
    assert outputs(site) == cold
    assert outputs(site, cache=False) == cold


def test_a_build_beside_other_threads_uses_a_forkserver_pool(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in `serve`: forking a threaded process is unsafe, so workers come from a server."""
    root = make_site(many_posts(20))
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    serial = outputs(root, cache=False)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    monkeypatch.setattr(build_module, "PARALLEL_MIN", 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert process_context().get_start_method() == "forkserver"
        assert outputs(root, cache=False) == serial
    finally:
        stop.set()
        other.join()
    assert process_context().get_start_method() == "fork"


def test_same_size_damage_to_an_entry_is_never_published(
    make_site: MakeSite, tmp_path: Path
) -> None:
    """Flip one letter of a cached post's HTML: the build renders the post again."""
    root = make_site({"posts/a.md": post("A", "2026-01-01", "Plain words here.\n")})
    assert build(root, "--out", tmp_path / "one").code == 0
    (entry,) = entries(root)
    entry.write_bytes(entry.read_bytes().replace(b"Plain words", b"Plain wordz"))
    assert build(root, "--out", tmp_path / "two").code == 0
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    assert b"Plain words" in entry.read_bytes()  # written again, whole


def test_no_cache_leaves_no_stale_entry_behind(make_site: MakeSite, tmp_path: Path) -> None:
    """Even an entry with a valid checksum but wrong content (written by another version,
    or by hand) is replaced by a --no-cache build, so the next build cannot publish it."""
    root = make_site({"posts/a.md": post("A", "2026-01-01", "Plain words here.\n")})
    assert build(root, "--out", tmp_path / "one").code == 0
    (entry,) = entries(root)
    key = entry.name
    payload = Cache(root / CACHE_DIR).get(key)
    assert payload is not None
    Cache(root / CACHE_DIR).put(key, payload.replace(b"Plain words", b"Poisoned!!"))
    Cache(root / CACHE_DIR).put("ff" + "0" * 62, b"an entry no build uses")
    assert build(root, "--out", tmp_path / "two", "--no-cache").code == 0
    assert [p.name for p in entries(root)] == [key]
    assert build(root, "--out", tmp_path / "three").code == 0
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two") == snapshot(tmp_path / "three")


def test_errors_are_never_cached(make_site: MakeSite, tmp_path: Path) -> None:
    deep = "> " * 300 + "deep\n"
    root = make_site({"posts/a.md": post("A", "2026-01-01", deep)})
    first = build(root, "--out", tmp_path / "out")
    assert first.code == 1 and "posts/a.md" in first.err
    assert entries(root) == []
    assert build(root, "--out", tmp_path / "out").err == first.err


def test_an_edited_post_is_never_served_stale(make_site: MakeSite, tmp_path: Path) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", "Old words.\n")})
    out = tmp_path / "out"
    assert build(root, "--out", out).code == 0
    (root / "posts" / "a.md").write_text(post("A", "2026-01-01", "New words.\n"))
    assert build(root, "--out", out).code == 0
    page = (out / "2026/01/a/index.html").read_text()
    assert "New words." in page and "Old words." not in page


EDITS: list[tuple[str, Callable[[Path], None]]] = [
    ("body", lambda r: _sub(r / "posts/p01.md", "Intro 1 ", "Intro one ")),
    ("title", lambda r: _sub(r / "posts/p02.md", "Post 2", "Second post")),
    ("tags", lambda r: _sub(r / "posts/p03.md", "T3, Common", "T0")),
    ("date", lambda r: _sub(r / "posts/p04.md", "2026-01-05", "2025-12-31")),
    ("fold", lambda r: _sub(r / "posts/p05.md", "<!--more-->\n", "")),
    ("settings", lambda r: _sub(r / "blog.toml", "Test blog", "Renamed blog")),
    ("url", lambda r: _sub(r / "blog.toml", "blog.example.org/", "other.example.org/sub/")),
    ("time zone", lambda r: _sub(r / "blog.toml", '"UTC"', '"Pacific/Kiritimati"')),
    ("a template", lambda r: _write(r / "templates/post.html", _post_template())),
    ("a removed post", lambda r: (r / "posts/p06.md").unlink()),
]


def _sub(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _post_template() -> str:
    source = (REPO / "blogkeeper/templates/post.html").read_text()
    return source.replace("{% block content %}", "{% block content %}<p>edited</p>", 1)


def test_after_each_edit_a_cached_build_equals_an_uncached_one(make_site: MakeSite) -> None:
    root = make_site(many_posts(12))
    before = outputs(root)
    for name, edit in EDITS:
        edit(root)
        cached = outputs(root)
        assert cached == outputs(root, cache=False), name
        assert cached != before, f"the edit of {name} changed nothing"
        before = cached


def test_a_changed_renderer_renders_again(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key holds the code's digest: new code (here, one more library) is a miss."""
    root = make_site({"posts/a.md": post("A", "2026-01-01")})
    first = outputs(root)
    monkeypatch.setattr(content, "ENTRY_CODE", (*content.ENTRY_CODE, "json"))
    assert outputs(root) == first
    assert len(entries(root)) == 2  # a new entry beside the old one (not over the bound)


def test_an_entry_read_is_evicted_after_one_left_unread(tmp_path: Path) -> None:
    """Least recently used first: check-code's small pass records, read by every run,
    outlive renderings of old versions of posts."""
    import os

    first, second = "01" + "a" * 62, "02" + "a" * 62
    writer = Cache(tmp_path)
    writer.put(first, b"x" * 1000)
    writer.put(second, b"y" * 1000)
    os.utime(tmp_path / first[:2] / first, (1, 1))  # written long ago
    os.utime(tmp_path / second[:2] / second, (2, 2))
    assert Cache(tmp_path).get(first) is not None  # ... but read just now
    fresh = Cache(tmp_path, limit=2_000)  # room for two of the three
    fresh.put("03" + "a" * 62, b"z" * 400)
    fresh.finish()
    left = {p.name for p in tmp_path.glob("??/*")}
    assert first in left and second not in left


def test_a_symlinked_cache_folder_is_not_used_and_nothing_behind_it_is_deleted(
    make_site: MakeSite, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    (victim / "en").mkdir(parents=True)
    (victim / "en" / "notes.txt").write_text("precious")
    root = make_site({"posts/a.md": post("A", "2026-01-01")})
    (root / CACHE_DIR).symlink_to(victim)
    assert build(root, "--out", tmp_path / "one", "--no-cache").code == 0
    assert build(root, "--out", tmp_path / "two").code == 0
    assert snapshot(victim) == {"en/notes.txt": b"precious"}  # no entry, no .gitignore


def test_the_bound_deletes_only_files_the_cache_wrote(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    strangers = ["notes.txt", "ab" + "Z" * 62, "cd" + "0" * 62]  # not a key, or wrong shard
    for name in strangers:
        (tmp_path / "ab" / name).write_text("mine")
    fresh = Cache(tmp_path, reading=False)
    fresh.put("ef" + "0" * 62, b"new")
    fresh.finish()
    assert sorted(p.name for p in (tmp_path / "ab").iterdir()) == sorted(strangers)


def test_an_entry_that_is_a_fifo_is_a_miss_not_a_hang(make_site: MakeSite, tmp_path: Path) -> None:
    import os

    root = make_site({"posts/a.md": post("A", "2026-01-01")})
    assert build(root, "--out", tmp_path / "one").code == 0
    (entry,) = entries(root)
    entry.unlink()
    os.mkfifo(entry)
    assert build(root, "--out", tmp_path / "two").code == 0  # build() has a time limit
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


def test_an_unchanged_build_writes_no_entry(make_site: MakeSite) -> None:
    """Not even the record of which key made each output file: it is put only when it
    differs from the one read, since a put makes the bound walk the whole cache."""
    root = make_site(many_posts(6))
    for _ in range(2):  # the second updates the site the first set aside
        assert build(root).code == 0

    def files() -> dict[str, int]:
        return {p.name: p.stat().st_ino for p in (root / CACHE_DIR).glob("??/*")}

    before = files()
    assert build(root).code == 0
    assert files() == before  # an entry put anew would be a new file (a rename)
    (root / "posts" / "p00.md").write_text(many_posts(1)["posts/p00.md"] + "\nMore.\n")
    assert build(root).code == 0
    assert len(set(files().items()) - set(before.items())) >= 3  # post, rendering, record
