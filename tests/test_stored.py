"""A post file's cache entry (blogkeeper/stored.py), and loading posts through the cache."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, damage_entries, now, post, quick_build, snapshot

from blogkeeper import build as build_module
from blogkeeper import content, stored
from blogkeeper.build import build_site, render_post
from blogkeeper.cache import CACHE_DIR, Cache, fingerprint
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, load_post, select_posts
from blogkeeper.model import BuildOptions, Post, unpack

MakeSite = Callable[..., Path]

RICH = post(
    "Rich: ünïcode \U0001f600",
    "2026-11-01 01:30",  # twice on that day in New York (summer time ends): the first
    "Intro.\n\n<!--more-->\n\nRest with `code`.\n",
    updated="2026-11-02T09:00:00+05:30",
    tags="[AI, Musings]",
    series="Deep dive",
    part="2",
    summary='"A summary"',
    slug="rich",
    check_code="false",
    llms="false",
    aliases="[/2015/05/old/, /old/2/]",
    image="card.png",
    extra="{a: 1, b: [x, 2.5, true, null], c: {d: -0.0, e: 12345678901234567890}}",
)


def _site(make_site: MakeSite, files: dict[str, str], timezone: str = "UTC") -> Path:
    root = make_site(files)
    toml = root / "blog.toml"
    toml.write_text(toml.read_text().replace('timezone = "UTC"', f'timezone = "{timezone}"'))
    return root


def _same(a: Post, b: Post) -> None:
    assert a == b
    assert a.lines == b.lines  # not compared by ==
    assert fingerprint(a, {}) == fingerprint(b, {})
    assert type(a.tags) is tuple and type(b.aliases) is tuple


def _built(root: Path, **options: object) -> list[object]:
    """The site at `root` built through its cache (`BuildOptions`, `now` fixed)."""
    built = build_site(root, BuildOptions(now=now(), **options))  # type: ignore[arg-type]
    return [(o.path, o.data) for o in built]


def _entries(root: Path) -> dict[Path, int]:
    """The cache's post file entries, each with its inode (a new write, a new inode)."""
    found = (root / CACHE_DIR).glob("??/*")
    return {p: p.stat().st_ino for p in found if b'{"post":{"source":"posts/' in p.read_bytes()}


def test_every_sample_post_comes_back_from_its_entry_as_it_went_in(tmp_path: Path) -> None:
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copy(REPO / "blog.toml", tmp_path / "blog.toml")
    config = load_config(tmp_path)
    paths, _ = content.find_post_files(tmp_path)
    assert len(paths) >= 5
    for path in paths:
        parsed = load_post(config, path)
        rendering = render_post(parsed, config.absolute(parsed.path))
        entry = stored.post_entry(parsed, config, ("ab" * 32, rendering))
        assert entry is not None, path
        head, _, rest = entry.partition(b"\n")  # data, never a pickle
        values = json.loads(head)
        assert values["post"]["source"] == parsed.source
        assert unpack(rest[: values["sizes"][0]]) == parsed.body
        back = stored.entry_from(entry, config)
        assert back is not None
        _same(back[0], parsed)
        assert back[1:] == (rendering, "ab" * 32)
        assert back[1] is not None and back[1].html == rendering.html
        alone = stored.entry_from(stored.post_entry(parsed, config), config)
        assert alone is not None and alone[1] is None
        _same(alone[0], parsed)


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Pacific/Kiritimati"])
def test_every_field_comes_back_in_the_site_timezone(make_site: MakeSite, timezone: str) -> None:
    root = _site(make_site, {"posts/rich.md": RICH}, timezone)
    config = load_config(root)
    parsed = load_post(config, root / "posts/rich.md")
    assert parsed.updated is not None and parsed.series and parsed.extra["c"]["d"] == 0
    back = stored.entry_from(stored.post_entry(parsed, config), config)
    assert back is not None
    _same(back[0], parsed)
    assert back[0].date.tzinfo is config.tz and back[0].date.fold == parsed.date.fold


def test_dates_and_times_in_extra_come_back_from_the_entry_as_they_went_in(
    make_site: MakeSite,
) -> None:
    """As YAML gives them (a date, a datetime with and without an offset), at any depth,
    beside a mapping shaped like the tag but with no NUL in its key."""
    extra = (
        "{expiryDate: 2030-05-01, at: [2020-01-01 10:30:00, {z: 2020-01-01T10:30:00.5+05:30}],"
        " utc: 2020-01-01T00:00:00Z, like: {date: 2020-01-01}, text: '2020-01-01'}"
    )
    root = make_site({"posts/a.md": post("A", "2026-01-01", extra=extra)})
    config = load_config(root)
    parsed = load_post(config, root / "posts/a.md")
    assert isinstance(parsed.extra["expiryDate"], dt.date)
    assert isinstance(parsed.extra["at"][1]["z"], dt.datetime)
    entry = stored.post_entry(parsed, config)
    assert entry is not None
    back = stored.entry_from(entry, config)
    assert back is not None
    _same(back[0], parsed)
    assert repr(back[0].extra) == repr(parsed.extra)  # the same types: a date is no datetime
    first = _built(root)
    assert len(_entries(root)) == 1
    assert _built(root) == first == _built(root, cache=False)


def test_a_post_json_cannot_hold_gets_no_entry_and_builds_all_the_same(
    make_site: MakeSite,
) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", extra="{ratio: .inf}")})
    config = load_config(root)
    parsed = load_post(config, root / "posts/a.md")
    assert stored.post_entry(parsed, config) is None
    first = _built(root)
    assert _built(root) == first == _built(root, cache=False)
    assert _entries(root) == {}
    found = content.load_cached(config, root / "posts/a.md", Cache.for_site(root), "site")
    assert isinstance(found, content.Entry) and found.key and found.size == 0
    _same(found.post, parsed)


@pytest.mark.parametrize(
    "entry",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"post": {"source": "posts/a.md"}}).encode(),  # fields missing
        b"{}",
    ],
)
def test_an_entry_this_code_did_not_write_is_no_post(make_site: MakeSite, entry: bytes) -> None:
    config = load_config(make_site({}))
    assert stored.entry_from(entry, config) is None


def test_an_entry_whose_parts_are_not_the_sizes_it_says_is_no_post(make_site: MakeSite) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", body="Line one.\n\nTwo.\n")})
    config = load_config(root)
    parsed = load_post(config, root / "posts/a.md")
    entry = stored.post_entry(parsed, config, ("0" * 64, render_post(parsed, "https://x.org/a/")))
    assert entry is not None and stored.entry_from(entry, config) is not None
    assert stored.entry_from(entry[:-1], config) is None  # the twin cut short
    assert stored.entry_from(entry + b"x", config) is None
    head, _, rest = entry.partition(b"\n")
    values = json.loads(head)
    values["rendering"] = None  # four parts for one
    assert stored.entry_from(json.dumps(values).encode() + b"\n" + rest, config) is None


def test_a_post_is_parsed_until_a_build_puts_its_entry_then_taken_from_it(
    make_site: MakeSite,
) -> None:
    """Loading writes nothing; the build puts each post's entry, rendering included, once
    it has rendered the post; the next load takes both from it, until the file changes."""
    root = make_site({"posts/a.md": post("A", "2026-01-01", tags="[x]")})
    config = load_config(root)
    path = root / "posts/a.md"
    site = content.parsing_key(config)
    first = Cache.for_site(root)
    made = content.load_cached(config, path, first, site)
    assert (first.written, first.misses) == (0, 1)
    assert isinstance(made, content.Entry) and (made.size, made.rendering) == (0, None)
    first_build = _built(root)
    again = Cache.for_site(root)
    taken = content.load_cached(config, path, again, site)
    assert (again.written, again.misses) == (0, 0)
    assert isinstance(taken, content.Entry) and taken.key == made.key and taken.size > 0
    _same(taken.post, made.post)
    assert taken.rendering is not None
    assert taken.rendering[1] == render_post(made.post, config.absolute(made.post.path))
    assert taken.rendering[0] == build_module._render_key(made.post, config.absolute("2026/01/a/"))
    other_site = content.load_cached(config, path, again, "another config")
    assert isinstance(other_site, content.Entry) and other_site.key != made.key
    path.write_text(post("A", "2026-01-01", tags="[y]"))
    edited = content.load_cached(config, path, again, site)
    assert isinstance(edited, content.Entry) and edited.key != made.key
    assert edited.post.tags == ("y",) and edited.rendering is None
    assert _built(root) != first_build


def test_a_draft_s_entry_is_put_by_the_build_that_leaves_it_out(make_site: MakeSite) -> None:
    """Drafts and posts to come are parsed once: the build that leaves them out puts their
    entry, without a rendering, and one that renders them puts it again with one."""
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01"),
            "posts/draft.md": post("Draft", "2026-01-02", draft="true"),
            "posts/later.md": post("Later", "2099-01-01"),
        }
    )
    config = load_config(root)
    site = content.parsing_key(config)
    first = _built(root)
    assert len(_entries(root)) == 3
    for name in ("draft", "later"):
        cache = Cache.for_site(root)
        taken = content.load_cached(config, root / f"posts/{name}.md", cache, site)
        assert (cache.written, cache.misses) == (0, 0)
        assert isinstance(taken, content.Entry) and taken.size > 0 and taken.rendering is None
        _same(taken.post, load_post(config, root / f"posts/{name}.md"))
    assert _built(root) == first == _built(root, cache=False)
    with_drafts = _built(root, drafts=True)
    cache = Cache.for_site(root)
    taken = content.load_cached(config, root / "posts/draft.md", cache, site)
    assert isinstance(taken, content.Entry) and taken.rendering is not None
    assert with_drafts == _built(root, drafts=True, cache=False)


def test_children_read_the_entries_and_the_parent_counts_them(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"posts/p{n}.md": post(f"Post {n}", f"2026-01-{n + 1:02d}") for n in range(6)}
    root = make_site(files)
    config = load_config(root)
    monkeypatch.setattr(content, "POSTS_PER_CHILD", 2)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    _built(root)
    parent, get = os.getpid(), Cache.get

    def get_in_a_child(self: Cache, key: str) -> bytes | None:
        assert os.getpid() != parent, "an entry read by the parent"
        return get(self, key)

    monkeypatch.setattr(Cache, "get", get_in_a_child)
    warm = Cache.for_site(root)
    memo: dict[int, tuple[object, bytes]] = {}
    found: dict[str, content.Entry] = {}
    posts, _, _ = select_posts(config, LoadOptions(), None, memo, warm, found)
    assert warm.written == 0 and len(warm.used) == 6 and len(found) == 6
    assert {e.key: e.size for e in found.values()} == warm.used
    assert all(fingerprint(p, memo).hex() == found[p.source].key for p in posts)  # its key
    assert all(e.rendering is not None for e in found.values())
    monkeypatch.undo()
    assert (
        posts
        == select_posts(config, LoadOptions(), lambda c, p: content.Entry(load_post(c, p), ""))[0]
    )


def test_a_new_title_keeps_every_post_entry_a_new_url_or_timezone_makes_new_ones(
    make_site: MakeSite,
) -> None:
    """A title the parse and the rendering do not read renders nothing again; the URL,
    which each twin's links resolve against, and the timezone, which dates are parsed in,
    make every entry anew."""
    root = make_site({f"posts/p{n}.md": post(f"P{n}", f"2026-01-0{n + 1}") for n in range(3)})
    _built(root)
    before = _entries(root)
    assert len(before) == 3
    toml = root / "blog.toml"
    toml.write_text(toml.read_text().replace("Test blog", "Renamed"))
    cached = _built(root)
    assert _entries(root) == before  # none written anew
    assert cached == _built(root, cache=False)
    before = _entries(root)  # the uncached build wrote them anew
    for old, new in [
        ("blog.example.org/", "other.example.org/sub/"),
        ('"UTC"', '"Pacific/Kiritimati"'),
    ]:
        toml.write_text(toml.read_text().replace(old, new))
        cached = _built(root)
        now_held = _entries(root)
        assert len(now_held) == len(before) + 3 and before.items() <= now_held.items()
        assert cached == _built(root, cache=False)
        before = _entries(root)


def test_every_sample_post_parses_the_same_with_the_whole_config(tmp_path: Path) -> None:
    """What a post's key holds of the config is all its parse reads of the sample's."""
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copy(REPO / "blog.toml", tmp_path / "blog.toml")
    config = load_config(tmp_path)
    cache = Cache(None)
    for path in content.find_post_files(tmp_path)[0]:
        found = content.load_cached(config, path, cache, content.parsing_key(config))
        assert isinstance(found, content.Entry)
        _same(found.post, load_post(config, path))


@pytest.mark.parametrize("part", [0, 1, 3], ids=["body", "html", "twin"])
def test_an_entry_that_does_not_unpack_makes_a_build_without_the_cache(
    make_site: MakeSite, tmp_path: Path, part: int
) -> None:
    """A build that meets it says so, builds again reading no entry (so writing each
    anew) and publishes what `--no-cache` does; the next build meets none."""
    code = "```python\nprint(2)\n```\n\n```\n2\n```\n"
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01", body=code, check_code="true"),
            "posts/b.md": post("B", "2026-01-02", body="[To A](/2026/01/a/)\n"),
        }
    )
    assert quick_build(root, "--out", tmp_path / "first").code == 0
    assert damage_entries(root, part) == 2
    met = quick_build(root, "--out", tmp_path / "met")  # a new folder: every page is made
    assert met.code == 0, met.err
    source = "posts/a.md" if part == 0 else "a post"
    said = f"warning: the cache entry of {source} does not unpack"
    assert said in met.err and "building again without reading the cache" in met.err
    assert "Traceback" not in met.err
    assert quick_build(root, "--out", tmp_path / "uncached", "--no-cache").code == 0
    assert snapshot(tmp_path / "met") == snapshot(tmp_path / "uncached")
    again = quick_build(root, "--out", tmp_path / "again")
    assert again.code == 0 and again.err == ""
    assert snapshot(tmp_path / "again") == snapshot(tmp_path / "first")
