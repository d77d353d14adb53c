"""The render cache: never stale, robust to damage, and invisible in the output."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import build, now, post, snapshot

from blogkeeper import cache as cache_module
from blogkeeper import render
from blogkeeper.cache import (
    CACHE_DIR,
    RENDER_DIR,
    SUFFIX,
    FileMemo,
    Job,
    Memo,
    RenderCache,
    digest,
    render_all,
)
from blogkeeper.errors import BuildError
from blogkeeper.site import BuildOptions, build_site

MakeSite = Callable[..., Path]
VERSIONS = {
    "render": "1",
    "blogkeeper": "0.1.0",
    "markdown2": "2.5.5",
    "pygments": "2.20.0",
    "latex2mathml": "3.77",
}
OPTIONS = {"extras": {"footnotes": None}}
BODY = """\
Intro with $x^2$ and a [link](https://example.org/).

<!--more-->

## Code

```python
print("hello")
```

| a | b |
|---|---|
| 1 | 2 |

Text.[^1]

[^1]: A note.
"""


def job(body: str = BODY, fold: int | None = 2) -> Job:
    return Job(body, fold, "posts/a.md", 5)


def entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{SUFFIX}"))


def test_a_warm_cache_serves_exactly_what_rendering_gives(tmp_path: Path) -> None:
    uncached = render_all([job()], None)
    cold = RenderCache(tmp_path / "c")
    assert render_all([job()], cold) == uncached
    assert (cold.hits, cold.misses, len(entries(tmp_path / "c"))) == (0, 1, 1)
    warm = RenderCache(tmp_path / "c")
    assert render_all([job()], warm) == uncached
    assert (warm.hits, warm.misses) == (1, 0)


def test_changed_text_renders_again(tmp_path: Path) -> None:
    render_all([job()], RenderCache(tmp_path, VERSIONS, OPTIONS))
    cache = RenderCache(tmp_path, VERSIONS, OPTIONS)
    [result] = render_all([job(BODY.replace("Text.", "Edited text."))], cache)
    assert cache.misses == 1
    assert "Edited text." in result.html


def test_a_moved_fold_renders_again(tmp_path: Path) -> None:
    render_all([job()], RenderCache(tmp_path, VERSIONS, OPTIONS))
    cache = RenderCache(tmp_path, VERSIONS, OPTIONS)
    [result] = render_all([job(fold=None)], cache)
    assert cache.misses == 1
    assert result == render.render_markdown(BODY, None, "posts/a.md", 5)


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_a_new_version_of_any_dependency_renders_again(tmp_path: Path, name: str) -> None:
    render_all([job()], RenderCache(tmp_path, VERSIONS, OPTIONS))
    same = RenderCache(tmp_path, dict(VERSIONS), OPTIONS)
    render_all([job()], same)
    assert same.hits == 1
    bumped = RenderCache(tmp_path, {**VERSIONS, name: VERSIONS[name] + ".1"}, OPTIONS)
    render_all([job()], bumped)
    assert (bumped.hits, bumped.misses) == (0, 1)


def test_changed_render_options_render_again(tmp_path: Path) -> None:
    render_all([job()], RenderCache(tmp_path, VERSIONS, OPTIONS))
    cache = RenderCache(tmp_path, VERSIONS, {"extras": {"footnotes": None, "tables": None}})
    render_all([job()], cache)
    assert cache.misses == 1


def test_the_default_key_covers_the_installed_versions_and_options() -> None:
    cache = RenderCache(Path("unused"))
    for name, version in render.versions().items():
        assert f'"{name}": "{version}"' in cache.salt
    assert json.dumps(render.options(), sort_keys=True, default=repr) in cache.salt


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[:-1],
    "longer": lambda data: data + b"x",
    "header only": lambda data: data.split(b"\n")[0] + b"\n",
    "another key": lambda data: data.replace(data.split(b"\n")[1], b"0" * 64, 1),
    "other magic": lambda data: data.replace(b"cache 1", b"cache 0", 1),
    "bad sizes": lambda data: data.replace(b"\n1 ", b"\nx ", 1),
    "negative size": lambda data: data.replace(b"\n1 ", b"\n1 -", 1),
    "not UTF-8": lambda data: data[:-2] + b"\xff\n",
    "JSON": lambda data: b'{"key": "k", "html": "<p>stale</p>", "intro": "", "folded": true}',
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_entry_is_ignored_and_written_again(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    [good] = render_all([job()], RenderCache(tmp_path))
    [entry] = entries(tmp_path)
    original = entry.read_bytes()
    entry.write_bytes(damage(original))
    assert entry.read_bytes() != original
    cache = RenderCache(tmp_path)
    assert render_all([job()], cache) == [good]
    assert cache.misses == 1
    assert entry.read_bytes() == original
    again = RenderCache(tmp_path)
    assert render_all([job()], again) == [good] and again.hits == 1


def test_errors_are_never_cached_and_name_each_post(tmp_path: Path) -> None:
    bad = "Broken math: $\\frac{1}{$ here.\n"
    jobs = [Job(bad, None, "posts/a.md", 4), Job(bad, None, "posts/b.md", 7)]
    for _ in range(2):
        with pytest.raises(BuildError) as caught:
            render_all(jobs, RenderCache(tmp_path))
        assert [(e.path, e.line) for e in caught.value.errors] == [
            ("posts/a.md", 4),
            ("posts/b.md", 7),
        ]
    assert entries(tmp_path) == []


def test_unused_entries_go_first_when_over_the_limit(tmp_path: Path) -> None:
    first, second = job(), job(BODY + "\nMore.\n")
    render_all([first], RenderCache(tmp_path, limit=1))
    cache = RenderCache(tmp_path, limit=1)
    render_all([second], cache)
    [kept] = entries(tmp_path)
    assert kept.stem == cache.key(second)  # in use: kept even above the limit
    roomy = RenderCache(tmp_path)
    render_all([first], roomy)
    assert len(entries(tmp_path)) == 2  # under the default limit nothing is deleted


def many_posts(count: int) -> dict[str, str]:
    """Small posts exercising every renderer feature, each a little different."""
    files = {}
    for n in range(count):
        body = f"""\
Post {n} mails <me{n}@example.org> about $a_{n}^2$ and `code {n}`.

<!--more-->

## Part {n % 3}

```python
print({n} * 2)
```

```output
{n * 2}
```

$$
\\sum_{{i=1}}^{{{n}}} i
$$

| n | square |
|---|---|
| {n} | {n * n} |

- [x] done {n}
- [ ] ~~not~~ yet[^n]

[^n]: Footnote {n}.
"""
        extra = f"tags: [T{n % 4}, Common]" if n % 2 else f"series: S{n % 3}"
        key, value = extra.split(": ", 1)
        files[f"posts/p{n:02d}.md"] = post(
            f"Post {n}", f"2026-01-{1 + n % 28:02d}", body, **{key: value}
        )
    return files


def outputs(root: Path, cache: bool = True) -> dict[str, bytes]:
    built = build_site(root, BuildOptions(now=now(), cache=cache))
    return {o.path: o.data for o in built}


def test_parallel_serial_cached_and_uncached_builds_are_byte_identical(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(many_posts(40))
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    serial = outputs(root, cache=False)
    assert not (root / CACHE_DIR).exists()
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 1)
    before = render._highlight.cache_info().misses
    parallel_cold = outputs(root)
    # The pool did the work: this process highlighted nothing.
    assert render._highlight.cache_info().misses == before
    assert len(entries(root / CACHE_DIR / RENDER_DIR)) == 40
    warm = outputs(root)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    serial_warm = outputs(root)
    assert serial == parallel_cold == warm == serial_warm
    assert any(b"<mi>a</mi>" in data for data in serial.values())


def test_a_build_beside_other_threads_uses_a_forkserver_pool(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in `serve`: forking a threaded process is unsafe, so workers come from a server."""
    root = make_site(many_posts(20))
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "1")
    serial = outputs(root, cache=False)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert cache_module._context().get_start_method() == "forkserver"
        before = render._highlight.cache_info().misses
        assert outputs(root, cache=False) == serial
        assert render._highlight.cache_info().misses == before
    finally:
        stop.set()
        other.join()
    assert cache_module._context().get_start_method() == "fork"


def test_an_edited_post_is_never_served_stale(make_site: MakeSite, tmp_path: Path) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", "Old words.\n")})
    out = tmp_path / "out"
    assert build(root, "--out", out).code == 0
    (root / "posts" / "a.md").write_text(post("A", "2026-01-01", "New words.\n"))
    assert build(root, "--out", out).code == 0
    page = (out / "2026/01/a/index.html").read_text()
    assert "New words." in page and "Old words." not in page


def test_no_cache_builds_the_same_site_and_writes_no_cache(
    make_site: MakeSite, tmp_path: Path
) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01")})
    assert build(root, "--out", tmp_path / "one").code == 0
    assert (root / CACHE_DIR / ".gitignore").read_text().endswith("*\n")
    (root / CACHE_DIR / RENDER_DIR).rename(tmp_path / "moved")
    assert build(root, "--out", tmp_path / "two", "--no-cache").code == 0
    assert not (root / CACHE_DIR / RENDER_DIR).exists()
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


def test_memo_keeps_what_a_build_used_and_survives_damage(tmp_path: Path) -> None:
    path = tmp_path / CACHE_DIR / "m.json"
    memo = Memo(path)
    memo[digest("a")] = ["A"]
    memo[digest("b", "\ud800")] = ["B"]
    memo.save()
    again = Memo(path)
    assert again.get(digest("a")) == ["A"] and again.get(digest("c")) is None
    again.save()  # "b" was not used: dropped
    assert json.loads(path.read_text()) == {digest("a"): ["A"]}
    before = path.stat().st_ino  # a write replaces the file: a new inode
    unchanged = Memo(path)
    assert unchanged.get(digest("a")) == ["A"]
    unchanged.save()
    assert path.stat().st_ino == before and (path.parent / ".gitignore").exists()
    path.write_text("[not a mapping")
    assert Memo(path).get(digest("a")) is None
    assert digest("ab", "c") != digest("a", "bc")


def test_file_memo_keeps_bytes_ignores_damage_and_prunes(tmp_path: Path) -> None:
    folder = tmp_path / CACHE_DIR / "files"
    memo = FileMemo(folder)
    memo.put(digest("a"), b"A\nbytes")
    memo.put(digest("b"), b"B")
    again = FileMemo(folder)
    assert again.get(digest("a")) == b"A\nbytes" and again.get(digest("c")) is None
    again.prune()  # nothing added: nothing deleted
    assert len(list(folder.iterdir())) == 2
    again.put(digest("d"), b"D")
    again.prune()  # "b" was not used by this build
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{digest(k)}{SUFFIX}" for k in ("a", "d")
    )
    path = folder / f"{digest('a')}{SUFFIX}"
    path.write_bytes(path.read_bytes()[:-1])
    assert FileMemo(folder).get(digest("a")) is None
    (folder / f"{digest('d')}{SUFFIX}").rename(folder / f"{digest('e')}{SUFFIX}")
    assert FileMemo(folder).get(digest("e")) is None  # holds another key's bytes
