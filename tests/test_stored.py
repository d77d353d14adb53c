"""A post as a cache entry (blogkeeper/stored.py), and loading posts through the cache."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, post

from blogkeeper import content, stored
from blogkeeper.cache import Cache, fingerprint
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, load_post, select_posts
from blogkeeper.model import Post

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


def test_every_sample_post_comes_back_from_its_entry_as_it_went_in(tmp_path: Path) -> None:
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copy(REPO / "blog.toml", tmp_path / "blog.toml")
    config = load_config(tmp_path)
    paths, _ = content.find_post_files(tmp_path)
    assert len(paths) >= 5
    for path in paths:
        parsed = load_post(config, path)
        entry = stored.post_entry(parsed, config)
        assert entry is not None, path
        head, _, body = entry.partition(b"\n")  # data, never a pickle
        assert json.loads(head)["source"] == parsed.source and body.decode() == parsed.body
        back = stored.post_from(entry, config)
        assert back is not None
        _same(back, parsed)


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Pacific/Kiritimati"])
def test_every_field_comes_back_in_the_site_timezone(make_site: MakeSite, timezone: str) -> None:
    root = _site(make_site, {"posts/rich.md": RICH}, timezone)
    config = load_config(root)
    parsed = load_post(config, root / "posts/rich.md")
    assert parsed.updated is not None and parsed.series and parsed.extra["c"]["d"] == 0
    back = stored.post_from(stored.post_entry(parsed, config), config)
    assert back is not None
    _same(back, parsed)
    assert back.date.tzinfo is config.tz and back.date.fold == parsed.date.fold


def test_a_post_json_cannot_hold_gets_no_entry_and_loads_all_the_same(
    make_site: MakeSite,
) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", extra="{launched: 2020-01-01}")})
    config = load_config(root)
    parsed = load_post(config, root / "posts/a.md")
    assert stored.post_entry(parsed, config) is None
    cache = Cache.for_site(root)
    for _ in range(2):
        found, key = content.load_cached(config, root / "posts/a.md", cache, "site")
        assert isinstance(found, Post) and key
        _same(found, parsed)
    assert cache.written == 0


@pytest.mark.parametrize(
    "entry",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"source": "posts/a.md"}).encode(),  # a field missing
        b"{}",
    ],
)
def test_an_entry_this_code_did_not_write_is_no_post(make_site: MakeSite, entry: bytes) -> None:
    config = load_config(make_site({}))
    assert stored.post_from(entry, config) is None


def test_an_entry_with_a_body_that_is_not_utf8_or_in_its_head_is_no_post(
    make_site: MakeSite,
) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", body="Line one.\n\nTwo.\n")})
    config = load_config(root)
    entry = stored.post_entry(load_post(config, root / "posts/a.md"), config)
    assert entry is not None and stored.post_from(entry, config) is not None
    head, _, body = entry.partition(b"\n")
    assert stored.post_from(head + b"\n" + body[:-1] + b"\xff", config) is None
    whole = json.loads(head) | {"body": body.decode()}  # every field in one JSON value
    assert stored.post_from(json.dumps(whole).encode(), config) is None


def test_a_post_is_parsed_once_then_taken_from_the_cache_until_its_file_changes(
    make_site: MakeSite,
) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", tags="[x]")})
    config = load_config(root)
    path = root / "posts/a.md"
    first = Cache.for_site(root)
    made, key = content.load_cached(config, path, first, "site")
    assert first.written == 1 and first.misses == 1
    again = Cache.for_site(root)
    taken, same_key = content.load_cached(config, path, again, "site")
    assert (again.written, again.misses, same_key) == (0, 0, key)
    assert isinstance(made, Post) and isinstance(taken, Post)
    _same(taken, made)
    _, other_site = content.load_cached(config, path, again, "another config")
    assert other_site != key
    path.write_text(post("A", "2026-01-01", tags="[y]"))
    edited, new_key = content.load_cached(config, path, again, "site")
    assert new_key != key and isinstance(edited, Post) and edited.tags == ("y",)


def test_children_count_the_entries_they_read_and_put_in_the_parent_s_cache(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"posts/p{n}.md": post(f"Post {n}", f"2026-01-{n + 1:02d}") for n in range(6)}
    root = make_site(files)
    config = load_config(root)
    monkeypatch.setattr(content, "POSTS_PER_CHILD", 2)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    cold = Cache.for_site(root)
    memo: dict[int, tuple[object, bytes]] = {}
    posts, _, _ = select_posts(config, LoadOptions(), None, memo, cold)
    assert cold.written == 6 and len(cold.used) == 6  # put by the children
    assert all(fingerprint(p, memo).hex() in cold.used for p in posts)  # a post's key
    warm = Cache.for_site(root)
    seen: list[tuple[Post, object]] = []  # each post as it arrives, and what was fetched
    then = content.Then(lambda p, cache: (p.title, os.getpid()), lambda *got: seen.append(got))
    again, _, _ = select_posts(config, LoadOptions(), None, {}, warm, then)
    assert warm.written == 0 and warm.used == cold.used
    assert {id(p) for p, _ in seen} == {id(p) for p in again} and len(seen) == 6
    assert all(got[0] == p.title and got[1] != os.getpid() for p, got in seen)  # in a child
    assert again == posts == select_posts(config, LoadOptions(), load_post)[0]


def test_a_setting_the_parse_does_not_read_keeps_every_post_entry(make_site: MakeSite) -> None:
    """A new title or URL parses nothing again; a new timezone parses every post."""
    root = make_site({f"posts/p{n}.md": post(f"P{n}", f"2026-01-0{n + 1}") for n in range(3)})
    config = load_config(root)
    select_posts(config, LoadOptions(), None, {}, Cache.for_site(root))

    def entries() -> dict[Path, int]:
        found = (root / ".blogkeeper-cache").glob("??/*")
        return {p: p.stat().st_ino for p in found if b'{"source":"posts/' in p.read_bytes()}

    before = entries()
    assert len(before) == 3
    toml = root / "blog.toml"
    for old, new in [("Test blog", "Renamed"), ("blog.example.org/", "other.example.org/sub/")]:
        toml.write_text(toml.read_text().replace(old, new))
        renamed = load_config(root)
        cache = Cache.for_site(root)
        posts, _, _ = select_posts(renamed, LoadOptions(), None, {}, cache)
        assert cache.written == 0 and entries() == before
        assert posts == select_posts(renamed, LoadOptions(), load_post)[0]
    toml.write_text(toml.read_text().replace('"UTC"', '"Pacific/Kiritimati"'))
    moved = load_config(root)
    cache = Cache.for_site(root)
    posts, _, _ = select_posts(moved, LoadOptions(), None, {}, cache)
    assert cache.written == 3 and posts == select_posts(moved, LoadOptions(), load_post)[0]
    assert posts[0].date.tzinfo is moved.tz


def test_every_sample_post_parses_the_same_with_the_whole_config(tmp_path: Path) -> None:
    """What a post's key holds of the config is all its parse reads of the sample's."""
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copy(REPO / "blog.toml", tmp_path / "blog.toml")
    config = load_config(tmp_path)
    cache = Cache(None)
    for path in content.find_post_files(tmp_path)[0]:
        found, _ = content.load_cached(config, path, cache, content.parsing_key(config))
        assert isinstance(found, Post)
        _same(found, load_post(config, path))
