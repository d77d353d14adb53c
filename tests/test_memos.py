"""The post and page memos are never stale: whatever changes, a build through them equals
a build without them, and a damaged memo is only a slower build."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import post, write_files

from blogkeeper import pages, render
from blogkeeper.cache import CACHE_DIR, Memo
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, load_posts
from blogkeeper.errors import BuildError
from blogkeeper.site import BuildOptions, assemble, build_site, render_posts

MakeSite = Callable[..., Path]
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
BUILT_IN = Path(pages.__file__).parent / "templates"
MACROS = (BUILT_IN / "_macros.html").read_text().replace("Read more", "Keep reading")


def outputs(root: Path, cache: bool = True) -> dict[str, bytes]:
    return {o.path: o.data for o in build_site(root, BuildOptions(now=NOW, cache=cache))}


def same_as_fresh(root: Path) -> dict[str, bytes]:
    """The outputs through the memos, checked equal to a build without any cache."""
    built = outputs(root)
    assert built == outputs(root, cache=False)
    return built


@pytest.fixture
def site(make_site: MakeSite) -> Path:
    return make_site(
        {
            "posts/a.md": post("A", "2026-01-01", tags="[X]", series='"Tour"'),
            "posts/b.md": post("B", "2026-01-02", tags="[X, Y]", series='"Tour"'),
            "posts/c.md": post("C", "2026-01-03", tags="[Y]"),
        }
    )


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


STEPS: list[tuple[str, Callable[[Path], None]]] = [
    ("nothing", lambda root: None),
    ("a body", lambda root: edit(root, "posts/b.md", "Rest.", "Rest, edited.")),
    ("an intro", lambda root: edit(root, "posts/a.md", "Intro.", "New intro.")),
    ("a title", lambda root: edit(root, "posts/a.md", '"A"', '"A renamed"')),
    ("the tags", lambda root: edit(root, "posts/c.md", "[Y]", "[Z]")),
    ("a date", lambda root: edit(root, "posts/a.md", "2026-01-01", "2026-02-01")),
    ("a series", lambda root: edit(root, "posts/b.md", '"Tour"', '"Other"')),
    ("the config", lambda root: edit(root, "blog.toml", "Test blog", "Renamed blog")),
    ("the zone", lambda root: edit(root, "blog.toml", '"UTC"', '"Pacific/Kiritimati"')),
    (
        "a template",
        lambda root: write_files(
            root, {"templates/topics.html": "{% for t in topics %}{{ t.name }};{% endfor %}"}
        ),
    ),
    ("an imported one", lambda root: write_files(root, {"templates/_macros.html": MACROS})),
    ("a removed post", lambda root: (root / "posts" / "c.md").unlink()),
]


def test_builds_through_the_memos_equal_builds_without(site: Path) -> None:
    before = same_as_fresh(site)
    for what, step in STEPS:
        step(site)
        after = same_as_fresh(site)
        if what != "nothing":
            assert after != before, what
        before = after


def changed_by(root: Path, name: str, old: str, new: str) -> set[str]:
    before = same_as_fresh(root)
    edit(root, name, old, new)
    after = same_as_fresh(root)
    return {path for path in after if after[path] != before.get(path)}


def test_an_edit_updates_every_page_that_shows_what_changed(site: Path) -> None:
    changed = changed_by(site, "posts/a.md", "Intro.", "Brand-new intro.")
    assert {"index.html", "topics/x/index.html", "2026/01/a/index.html"} <= changed
    assert not {"topics/y/index.html", "archive/index.html"} & changed
    changed = changed_by(site, "posts/a.md", '"A"', '"A renamed"')
    assert {"archive/index.html", "series/tour/index.html", "2026/01/b/index.html"} <= changed
    assert "2026/01/c/index.html" not in changed  # not in the series


def test_a_template_that_names_no_setting_still_sees_them_through_filters(site: Path) -> None:
    write_files(site, {"templates/404.html": "{{ 'archive/' | url }} {{ '' | absolute }}"})
    assert same_as_fresh(site)["404.html"] == b"/archive/ https://blog.example.org/"
    edit(site, "blog.toml", "https://blog.example.org/", "https://example.com/blog/")
    assert same_as_fresh(site)["404.html"] == b"/blog/archive/ https://example.com/blog/"


def test_a_damaged_memo_is_ignored(site: Path) -> None:
    good = same_as_fresh(site)
    cache = site / CACHE_DIR
    (cache / "posts.json").write_text('{"not": "an entry"}')
    for entry in (cache / "pages").iterdir():
        entry.write_bytes(entry.read_bytes()[:-3])  # cut short
    assert outputs(site) == good
    (cache / "posts.json").write_text("][")
    for entry in (cache / "pages").iterdir():
        entry.write_bytes(b"garbage")
    assert outputs(site) == good


def test_damaged_post_entries_are_not_used(site: Path) -> None:
    config = load_config(site)
    memo = Memo.for_site(site, "posts")
    fresh = load_posts(config, LoadOptions(now=NOW), memo)
    memo.save()
    stored = Memo.for_site(site, "posts").stored
    assert len(stored) == 3
    for damage in (
        lambda e: e.pop("title"),
        lambda e: e.update(title=5),
        lambda e: e.update(tags=[1]),
        lambda e: e.update(date=["2026-01-01T00:00:00", 0, 3600]),  # not this zone's offset
        lambda e: e.update(date="yesterday"),
        lambda e: e.update(body_length=10**9),
        lambda e: e.update(part=True),
    ):
        broken = Memo(None)
        for key, value in stored.items():
            entry = dict(value)  # type: ignore[call-overload]
            damage(entry)
            broken[key] = entry
        assert load_posts(config, LoadOptions(now=NOW), broken) == fresh


def test_errors_are_never_memoised(make_site: MakeSite) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01", colour="red")})
    config = load_config(root)
    for _ in range(2):
        memo = Memo.for_site(root, "posts")
        with pytest.raises(BuildError, match="unknown front-matter key"):
            load_posts(config, LoadOptions(now=NOW), memo)
        memo.save()
        assert not memo.used


def test_page_keys_see_the_globals_named_inside_blocks(site: Path) -> None:
    config = load_config(site)
    built = assemble(config, render_posts(load_posts(config, LoadOptions(now=NOW))))
    keys = pages.PageKeys(built, pages.environment(built))
    names = keys._names("topics.html")
    assert names is not None and {"topics", "series_list", "site"} <= names
    write_files(site, {"templates/index.html": "{% include page.title %}"})
    keys = pages.PageKeys(built, pages.environment(built))
    assert keys._names("index.html") is None  # a computed name can reach any template


def test_a_value_of_an_unknown_type_is_never_keyed(site: Path) -> None:
    config = load_config(site)
    built = assemble(config, render_posts(load_posts(config, LoadOptions(now=NOW))))
    keys = pages.PageKeys(built, pages.environment(built))
    assert keys.key("404.html", {"page": object()}) is None
    assert keys.key("404.html", {"page": "x"}) != keys.key("404.html", {"page": "y"})


@dataclasses.dataclass(frozen=True)
class _Parsed:
    html: str
    tags: tuple[str, ...] = dataclasses.field(default=(), metadata={"derived_from": ("html",)})


def test_fields_derived_from_others_are_not_hashed_again(site: Path) -> None:
    config = load_config(site)
    built = assemble(config, render_posts(load_posts(config, LoadOptions(now=NOW))))
    keys = pages.PageKeys(built, pages.environment(built))
    same = keys.value(_Parsed("<p>", ("p",))), keys.value(_Parsed("<p>", ("p", "x")))
    assert same[0] == same[1]
    assert keys.value(_Parsed("<p>")) != keys.value(_Parsed("<b>"))


def test_a_new_renderer_updates_the_pages_of_posts_that_did_not_change(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page keys leave a post's HTML out (see `RenderedPost.rendered_with`): HTML that
    changes while the post does not must still change its page and the list pages."""
    before = same_as_fresh(site)
    real_render, real_versions = render.render_markdown, render.versions

    def new_render(*args: Any) -> render.Rendered:
        made = real_render(*args)
        return render.Rendered(made.html.replace("Intro.", "Intro!"), made.intro, made.folded)

    monkeypatch.setattr(render, "render_markdown", new_render)
    monkeypatch.setattr(render, "versions", lambda: {**real_versions(), "markdown2": "99"})
    after = same_as_fresh(site)
    changed = {path for path in after if after[path] != before[path]}
    assert {"2026/01/a/index.html", "2026/01/b/index.html"} <= changed
    assert "index.html" not in changed  # the intros did not change

    def new_intro(*args: Any) -> render.Rendered:
        made = real_render(*args)
        return render.Rendered(made.html, made.intro.replace("Intro.", "Intro?"), made.folded)

    monkeypatch.setattr(render, "render_markdown", new_intro)
    monkeypatch.setattr(render, "versions", lambda: {**real_versions(), "markdown2": "100"})
    again = same_as_fresh(site)
    changed = {path for path in again if again[path] != after[path]}
    assert {"index.html", "topics/x/index.html"} <= changed


def test_html_is_keyed_unless_it_is_known_what_rendered_it(site: Path) -> None:
    config = load_config(site)
    built = assemble(config, render_posts(load_posts(config, LoadOptions(now=NOW))))
    keys = pages.PageKeys(built, pages.environment(built))
    entry = built.posts[0]
    assert entry.rendered_with is None  # rendered without a cache
    other = dataclasses.replace(entry, html=entry.html + "<p>more</p>")
    assert keys.value(entry) != keys.value(other)
    known = dataclasses.replace(entry, rendered_with="salt")
    assert keys.value(known) == keys.value(dataclasses.replace(other, rendered_with="salt"))
    assert keys.value(known) != keys.value(dataclasses.replace(known, rendered_with="pepper"))


def test_kept_pages_are_read_only_when_asked_for(site: Path) -> None:
    """A page the memo holds stays in its memo file until written, and reads back exact."""
    good = same_as_fresh(site)
    built = build_site(site, BuildOptions(now=NOW))
    post_page = next(o for o in built if o.path.endswith("/a/index.html"))
    assert post_page._data is None and post_page._stored is not None  # not in memory
    assert post_page.data == good[post_page.path]


def test_a_kept_page_gone_before_it_is_written_is_a_clear_error(site: Path, tmp_path: Path) -> None:
    """Another build pruning the memo meanwhile: a `BuildError` naming the file, and the
    command line leaves the previous site as it was."""
    from conftest import build, snapshot

    assert build(site).code == 0
    before = snapshot(site / "public")
    built = build_site(site, BuildOptions(now=NOW))
    kept = [o for o in built if o._stored is not None]
    assert kept
    Path(kept[0]._stored.file).unlink()  # type: ignore[union-attr]
    with pytest.raises(BuildError) as caught:
        kept[0].data  # noqa: B018
    assert "changed while this build was using it" in caught.value.errors[0].message
    assert caught.value.errors[0].path == kept[0]._stored.file  # type: ignore[union-attr]
    from blogkeeper.writer import write_site

    with pytest.raises(BuildError):
        write_site(built, site / "public")
    assert snapshot(site / "public") == before


def test_the_site_folder_spelled_two_ways_is_one_site(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--site .` and `--site /abs/path` hit the same memo entries: none is written again."""
    build_site(site, BuildOptions(now=NOW))
    pages_memo = site / CACHE_DIR / "pages"
    before = {p.name: p.stat().st_ino for p in pages_memo.iterdir()}
    monkeypatch.chdir(site)
    build_site(Path("."), BuildOptions(now=NOW))
    assert {p.name: p.stat().st_ino for p in pages_memo.iterdir()} == before


@pytest.mark.parametrize("cache", [True, False])
def test_pages_rendered_by_forked_workers_equal_pages_rendered_here(
    site: Path, monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:
    from blogkeeper import cache as cache_module

    pools: list[int] = []
    real = cache_module.parallel_map

    def counting(function: Any, items: Any, workers: Any = None, small: bool = False) -> Any:
        if function is pages._render_forked:
            pools.append(len(items))
        return real(function, items, workers, small)

    monkeypatch.setattr(cache_module, "parallel_map", counting)
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    monkeypatch.setattr(pages, "PARALLEL_PAGES", 10**9)
    here = outputs(site, cache=cache)
    assert not pools
    shutil.rmtree(site / CACHE_DIR, ignore_errors=True)
    monkeypatch.setattr(pages, "PARALLEL_PAGES", 2)
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 2)
    assert outputs(site, cache=cache) == here
    assert pools and max(pools) >= 2  # the pages went through a pool
    if cache:
        assert outputs(site) == here  # and what the workers kept reads back the same


def test_a_template_error_in_a_forked_worker_is_the_same_error(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(site, {"templates/post.html": "{{ post.title }} {{ 1 // 0 }}"})
    monkeypatch.setenv("BLOGKEEPER_WORKERS", "2")
    errors = []
    for threshold in (10**9, 2):
        monkeypatch.setattr(pages, "PARALLEL_PAGES", threshold)
        from blogkeeper import cache as cache_module

        monkeypatch.setattr(cache_module, "PARALLEL_MIN", 2)
        with pytest.raises(BuildError) as caught:
            build_site(site, BuildOptions(now=NOW))
        errors.append([(e.path, e.line, e.message) for e in caught.value.errors])
    assert errors[0] == errors[1] and errors[0]


def test_twin_bodies_no_build_uses_are_deleted(site: Path) -> None:
    """Render workers hand each twin body over in `twins/`; once a later build renders
    again, the bodies of text that no longer exists are gone (the folder does not grow
    with every edit)."""
    build_site(site, BuildOptions(now=NOW))
    folder = site / CACHE_DIR / "twins"
    first = {p.name for p in folder.iterdir()}
    assert len(first) == 3
    for n in range(3):
        edit(site, "posts/b.md", "Rest" if n == 0 else f"again {n - 1}", f"again {n}")
        build_site(site, BuildOptions(now=NOW))
    now = {p.name for p in folder.iterdir()}
    assert len(now) == 1 and not now & first  # only the body the last build rendered
