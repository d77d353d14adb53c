"""A preview's builds (one `Session`) make what a fresh build of the same files makes,
and redo only what an edit touched.

The property test applies random sequences of edits, creations, renames and deletions of
posts, templates, static files and blog.toml to a site, and after each step compares
every output file of the session's build, byte for byte, with a fresh `build` of the
same folder. The focused tests count what a build did by the session's own report
(`Session.counts`, what `serve` prints after each rebuild).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from conftest import BLOG_TOML, REPO, post, write_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blogkeeper import build
from blogkeeper.cache import CACHE_DIR, Cache
from blogkeeper.config import load_config
from blogkeeper.errors import BuildError
from blogkeeper.model import BuildOptions, Kept
from blogkeeper.session import Session
from blogkeeper.writer import MARKER, Staging

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
OPTIONS = BuildOptions(drafts=True, future=True, now=NOW, preview=True)
OLD = 1_500_000_000 * 10**9  # a time long past, in ns, for files an editor left alone

NAMES = ["a", "b", "c", "d", "e"]
TAGS = ["[AI]", "[AI, Web]", "[Web]", "[]"]
BODIES = [
    "Intro.\n\n<!--more-->\n\nRest.\n",
    "Other intro.\n\n<!--more-->\n\nRest, with a [link](/topics/).\n",
    "No fold, one paragraph only.\n",
    "Intro.\n\n<!--more-->\n\nRest.\n",  # the same size as the first: only the times tell
    # Links the check resolves against other pages: a post's footnote, an id a template
    # writes into a post's page, a static file. Each resolves in some steps and not others.
    "A note[^1].\n\n<!--more-->\n\n[^1]: The note.\n",
    "See [a](/2026/01/a/#fn-1), [the end](/2026/01/a/#end-post-a), [notes](/notes.txt).\n",
]
TEMPLATES = {
    "templates/post_end.html": [
        '<p id="end-{{ post.title | lower | replace(" ", "-") }}">Thanks for reading '
        "{{ post.title }}.</p>\n"
    ],
    "templates/topics.html": [
        '{% extends "base.html" %}{% block content %}'
        "{% for t in topics %}<p>{{ t.name }}: {{ t.posts | length }}, "
        "{{ t.posts[0].html | length }}</p>{% endfor %}{% endblock %}\n"
    ],
    "templates/404.html": [
        '{% extends "base.html" %}{% block content %}<p>Gone. {{ now }}</p>'
        "{% for s in series_list %}{{ s.name }}{% endfor %}{% endblock %}\n"
    ],
}
CONFIGS = [
    BLOG_TOML,
    BLOG_TOML + "posts_per_page = 2\n",
    BLOG_TOML.replace("Test blog", "Other"),
    BLOG_TOML + "\n[llms]\ntwins = false\n",  # `llms: false` then changes no output path
]

post_step = st.tuples(
    st.just("post"),
    st.sampled_from(NAMES),
    st.sampled_from(["2026-01-05", "2026-03-01", "2026-09-01"]),  # the last: scheduled
    st.sampled_from(TAGS),
    st.sampled_from(BODIES),
    st.sampled_from(["", "Series"]),
    st.booleans(),  # `llms: false`: no twin, and its own rules in _headers
)
steps = st.one_of(
    post_step,
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("template"), st.sampled_from(sorted(TEMPLATES)), st.booleans()),
    st.tuples(st.just("static"), st.sampled_from([b"one", b"two", b""])),
    st.tuples(st.just("config"), st.sampled_from(range(len(CONFIGS)))),
)


def _apply(root: Path, step: tuple[object, ...]) -> None:
    kind = step[0]
    if kind == "post":
        _, name, date, tags, body, series, no_llms = step
        meta = {"tags": str(tags)}
        if series:
            meta["series"] = str(series)
        if no_llms:
            meta["llms"] = "false"
        text = post(f"Post {name}", str(date), str(body), **meta)
        (root / f"posts/{name}.md").write_text(text, encoding="utf-8")
    elif kind == "delete":
        (root / f"posts/{step[1]}.md").unlink(missing_ok=True)
    elif kind == "rename":
        source, target = root / f"posts/{step[1]}.md", root / f"posts/{step[2]}.md"
        if source.exists():
            source.rename(target)
    elif kind == "template":
        path = root / str(step[1])
        if step[2]:
            path.parent.mkdir(exist_ok=True)
            path.write_text(TEMPLATES[str(step[1])][0], encoding="utf-8")
        else:
            path.unlink(missing_ok=True)
    elif kind == "static":
        path = root / "static/notes.txt"
        if step[1]:
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(step[1])  # type: ignore[arg-type]
        else:
            path.unlink(missing_ok=True)
    else:
        (root / "blog.toml").write_text(CONFIGS[int(step[1])], encoding="utf-8")  # type: ignore[call-overload]


def _backdate(root: Path, when: int) -> None:
    """Set every post file's times as if it had been saved long ago (at `when`), so that
    the session trusts what it read of the file rather than reading it again."""
    for path in (root / "posts").glob("*.md"):
        os.utime(path, ns=(when, when))


def _files(
    root: Path, options: BuildOptions = OPTIONS, session: Session | None = None
) -> dict[str, bytes]:
    """Every output file of a build, by path."""
    kept = Kept()
    _, paths = build.build(root, kept, options, session)
    assert paths == sorted(kept.files)
    return kept.files


def _outputs(root: Path, session: Session | None) -> dict[str, bytes] | list[str]:
    """Every output file of a build, or its error messages."""
    try:
        return _files(root, OPTIONS, session)
    except BuildError as exc:
        return sorted(str(e) for e in exc.errors)


def _written(root: Path, out: Path) -> dict[str, bytes] | list[str]:
    """What `blogkeeper build` writes into `out`, reusing what it wrote there before
    (`Staging.reuse`); or its error messages."""
    staging = Staging(out)
    try:
        build.build(root, staging, OPTIONS)
        staging.commit()
    except BuildError as exc:
        staging.discard()
        return sorted(str(e) for e in exc.errors)
    files = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    folders = {p.relative_to(out) for p in out.rglob("*") if p.is_dir()}
    assert folders == {f for p in files for f in p.parents if f != Path()}  # none empty
    return {p.as_posix(): (out / p).read_bytes() for p in files if p.name != MARKER}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    changes=st.lists(st.tuples(steps, st.booleans()), min_size=1, max_size=8),
)
def test_a_session_builds_what_a_fresh_build_does(
    changes: list[tuple[tuple[object, ...], bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "site")
        write_files(
            root,
            {
                "blog.toml": BLOG_TOML,
                "posts/a.md": post("Post a", "2026-01-01", tags="[AI]"),
                "posts/b.md": post("Post b", "2026-02-01", series="Series"),
            },
        )
        _backdate(root, OLD)
        session = Session()
        out = Path(tmp, "out")
        fresh = _outputs(root, None)
        assert _outputs(root, session) == fresh == _written(root, out)
        for number, (step, backdate) in enumerate(changes, 1):
            _apply(root, step)
            if backdate:  # else the files just written are too fresh to trust: read again
                _backdate(root, OLD + number * 10**9)
            fresh = _outputs(root, None)
            assert _outputs(root, session) == fresh, step
            assert _written(root, out) == fresh, step  # the pages it kept are right
        shutil.rmtree(root)


SITE = {
    "posts/a.md": post("Post a", "2026-01-01", tags="[AI]"),
    "posts/b.md": post("Post b", "2026-02-01"),
    "posts/c.md": post("Post c", "2026-03-01", tags="[Web]"),
}


@pytest.fixture
def session_site(tmp_path: Path) -> tuple[Path, Session]:
    root = tmp_path / "site"
    write_files(root, {"blog.toml": BLOG_TOML, **SITE})
    _backdate(root, OLD)
    session = Session()
    _files(root, OPTIONS, session)
    assert session.counts.posts_read == 3 and session.counts.posts_rendered == 3
    return root, session


def _counts(root: Path, session: Session) -> tuple[int, int, int]:
    kept = _outputs(root, session)  # first: the fresh build fills the disk cache
    assert kept == _outputs(root, None)
    counts = session.counts
    return counts.posts_read, counts.posts_rendered, counts.pages_rendered


def test_a_new_session_takes_each_post_from_the_cache_not_parsing_it_again(
    session_site: tuple[Path, Session],
) -> None:
    """A preview's first build reads each file, but parses it only if no build before
    put its `Post` in the cache (a parse always puts its entry: a new file)."""
    root, _ = session_site
    entries = {p: p.stat().st_ino for p in (root / CACHE_DIR).glob("??/*")}
    posts = [p for p in entries if b'{"source":"posts/' in p.read_bytes()]
    assert len(posts) == 3  # put by the first session's build
    fresh = Session()
    assert _outputs(root, fresh) == _outputs(root, None)
    assert fresh.counts.posts_read == 3 and fresh.counts.posts_rendered == 0
    assert {p: p.stat().st_ino for p in (root / CACHE_DIR).glob("??/*")} == entries
    (root / "posts/a.md").write_text(
        post("Post a", "2026-01-01", "Intro.\n\n<!--more-->\n\nNew.\n")
    )
    _outputs(root, Session())
    assert len(list((root / CACHE_DIR).glob("??/*"))) > len(entries)  # its new Post, rendering


def test_an_unchanged_rebuild_reads_renders_and_templates_nothing(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    assert _counts(root, session) == (0, 0, 0)
    assert str(session.counts) == "0 posts read, 0 rendered, 0 pages rendered"


def test_a_body_edit_renders_its_post_and_the_pages_that_list_it(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    (root / "posts/b.md").write_text(
        post("Post b", "2026-02-01", "Intro.\n\n<!--more-->\n\nNew.\n")
    )
    # b's page, and the index, archive and 404 pages, whose templates get b's `Post`
    # (body included); not a's or c's pages, nor any topic page (b has no topic)
    assert _counts(root, session) == (1, 1, 4)


def test_a_post_in_a_topic_also_renders_that_topic_s_page(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    text = post("Post a", "2026-01-01", "Intro.\n\n<!--more-->\n\nNew.\n", tags="[AI]")
    (root / "posts/a.md").write_text(text)
    # as for b, plus topics/ai/, which lists it; not topics/, which shows how many posts
    # each topic has (the built-in topics.html reads `topic_counts`, not `topics`)
    assert _counts(root, session) == (1, 1, 5)


def test_a_post_gaining_a_topic_renders_the_topics_page(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    (root / "posts/b.md").write_text(post("Post b", "2026-02-01", tags="[AI]"))
    # b's page, the index, archive and 404 pages, topics/ai/ and topics/ (AI has 2 now)
    assert _counts(root, session) == (1, 0, 6)


@pytest.mark.parametrize("threads", [False, True], ids=["forked child", "preview's child"])
def test_a_template_reading_a_whole_topic_renders_every_page_of_it_again(
    tmp_path: Path, threads: bool
) -> None:
    """A page is compared on the part of its context its templates read: a topic.html
    that shows every post of the topic renders each of the topic's pages again when one
    of them changes, the built-in one only the page that lists it."""
    root = tmp_path / "site"
    posts = {f"posts/p{n}.md": post(f"P{n}", f"2026-01-{n + 1:02d}", tags="[AI]") for n in range(5)}
    every = "{{ topic.posts | map(attribute='post.title') | join(', ') }}"
    if threads:  # as in `serve`: the child is sent only what each page's template reads
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True).start()
    config = BLOG_TOML + "posts_per_page = 2\n"
    for template, topic_pages in (None, 1), (every, 3):
        if root.exists():
            shutil.rmtree(root)
        files = {"blog.toml": config, **posts}
        if template:
            files["templates/topic.html"] = (
                '{% extends "base.html" %}{% block content %}' + template + "{% endblock %}\n"
            )
        write_files(root, files)
        _backdate(root, OLD)
        session = Session()
        _files(root, OPTIONS, session)
        (root / "posts/p0.md").write_text(post("P0 renamed", "2026-01-01", tags="[AI]"))
        assert _files(root, OPTIONS, session) == _files(root, OPTIONS)
        rendered = session.counts.pages_rendered
        # p0's page, the index page that lists it, archive, 404 and the topic's pages
        assert rendered == 4 + topic_pages, (template, rendered)
    if threads:
        stop.set()


def test_a_title_edit_renders_every_page_that_shows_it(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    (root / "posts/b.md").write_text(post("Post B!", "2026-02-01"))
    # b's page, the index, the archive and the 404 page (recent posts); b's body is
    # unchanged, so its rendering is the one in memory
    assert _counts(root, session) == (1, 0, 4)


def test_a_static_file_renders_no_page(session_site: tuple[Path, Session]) -> None:
    root, session = session_site
    write_files(root, {"static/robots-extra.txt": "hello"})
    assert _counts(root, session) == (0, 0, 0)


def test_a_template_or_blog_toml_change_renders_every_page(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    pages = len(session.pages.pages) if session.pages else 0
    write_files(root, {"templates/post_end.html": "<p>Thanks.</p>\n"})
    assert _counts(root, session) == (0, 0, pages)
    (root / "blog.toml").write_text(BLOG_TOML.replace("Test blog", "Renamed"))
    assert _counts(root, session) == (3, 0, pages)  # the posts: read again, not rendered


def test_a_file_saved_just_before_it_was_read_is_read_again(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    path = root / "posts/b.md"
    path.write_text(post("Post b", "2026-02-01", "Intro.\n\n<!--more-->\n\nNow.\n"))
    assert _counts(root, session)[:2] == (1, 1)
    # Unchanged since, but saved within a second of being read: a save in the same tick
    # of the file system's clock would have left its times as they were. Read again.
    assert _counts(root, session) == (1, 0, 0)
    os.utime(path, ns=(OLD + 10**9, OLD + 10**9))
    assert _counts(root, session) == (1, 0, 0)  # its times changed: read, found the same
    assert _counts(root, session) == (0, 0, 0)


def test_a_file_rewritten_with_its_size_and_times_kept_is_read_again(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    path = root / "posts/b.md"
    stat = path.stat()
    path.write_text(post("Post b", "2026-02-01", "Intro.\n\n<!--more-->\n\nBest.\n"))
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as `touch -r` or rsync -t
    assert _counts(root, session)[:2] == (1, 1)  # its change time still moved


def test_the_clock_renders_pages_again_only_when_it_passes_a_post(tmp_path: Path) -> None:
    root = tmp_path / "site"
    files = {**SITE, "posts/d.md": post("Post d", "2026-07-01")}
    write_files(root, {"blog.toml": BLOG_TOML, **files})
    session = Session()

    def at(when: dt.datetime) -> tuple[dict[str, bytes], int]:
        options = BuildOptions(drafts=True, future=True, now=when, preview=True)
        files = _files(root, options, session)
        assert files == _files(root, options)
        return files, session.counts.pages_rendered

    first, _ = at(NOW)
    assert b">Scheduled</strong>" in first["2026/07/d/index.html"]
    later, pages = at(NOW + dt.timedelta(days=10))  # still before d's date
    assert pages == 0 and later == first
    after, pages = at(dt.datetime(2026, 7, 2, tzinfo=dt.UTC))
    assert pages > 0 and b">Scheduled</strong>" not in after["2026/07/d/index.html"]


def test_a_template_named_by_a_variable_counts_as_reading_every_global(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    write_files(
        root,
        {
            "templates/post_end.html": '{% include ["counts.html"][0] %}\n',
            "templates/counts.html": "{% for t in topics %}{{ t.posts | length }}{% endfor %}\n",
        },
    )
    _counts(root, session)
    (root / "posts/a.md").write_text(post("Post a", "2026-01-01", "Other.\n", tags="[AI]"))
    # a's page, index, archive, 404, topics/ai/, and b's and c's pages: their post.html
    # includes a template it names by an expression, which may read `topics` (the
    # built-in topics.html reads `topic_counts`, which a body edit does not change)
    assert _counts(root, session) == (1, 1, 7)


def test_a_link_into_another_post_is_checked_again_when_that_page_changes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "site"
    with_note = "A note[^1].\n\n<!--more-->\n\n[^1]: The note.\n"
    write_files(
        root,
        {
            "blog.toml": BLOG_TOML,
            "posts/a.md": post("Post a", "2026-01-01", with_note),
            "posts/c.md": post("Post c", "2026-03-01", "See [the note](/2026/01/a/#fn-1).\n"),
        },
    )
    _backdate(root, OLD)
    session = Session()
    assert isinstance(_outputs(root, session), dict)  # the link resolves
    assert isinstance(_outputs(root, session), dict) and session.links.made == 0  # all kept
    # c is untouched, but the page its link points into loses the id: an error, as in a
    # fresh build, and back again
    (root / "posts/a.md").write_text(post("Post a", "2026-01-01", "No note.\n"))
    broken = _outputs(root, session)
    assert broken == _outputs(root, None)
    assert broken == [
        "posts/c.md:5: link to `/2026/01/a/#fn-1`: no element with id `fn-1` "
        "on that page (fix the address, or remove the link)"
    ]
    (root / "posts/a.md").write_text(post("Post a", "2026-01-01", with_note))
    assert isinstance(_outputs(root, session), dict)


def test_a_link_to_a_file_is_checked_again_when_the_site_s_files_change(tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_files(
        root,
        {"blog.toml": BLOG_TOML, "posts/c.md": post("Post c", "2026-03-01", "[N](/notes.txt)\n")},
    )
    _backdate(root, OLD)
    session = Session()
    assert isinstance(_outputs(root, session), list)  # no such file yet
    write_files(root, {"static/notes.txt": "notes"})
    assert isinstance(_outputs(root, session), dict)
    (root / "static/notes.txt").unlink()
    assert isinstance(_outputs(root, session), list)


def test_a_post_s_llms_flag_changes_its_headers_rule_with_no_path_changing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "site"
    config = BLOG_TOML + "\n[llms]\ntwins = false\n"
    write_files(root, {"blog.toml": config, "posts/a.md": post("Post a", "2026-01-01")})
    _backdate(root, OLD)
    session = Session()
    before = _outputs(root, session)
    (root / "posts/a.md").write_text(post("Post a", "2026-01-01", llms="false"))
    after = _outputs(root, session)
    assert after == _outputs(root, None)
    assert isinstance(before, dict) and isinstance(after, dict)
    assert before.keys() == after.keys() and before["_headers"] != after["_headers"]


def test_an_equal_blog_toml_on_other_lines_cites_its_new_lines(tmp_path: Path) -> None:
    """An equal config keeps its object between builds, but not one whose lines moved:
    an error about a blog.toml value names the line it is on now."""
    write_files(tmp_path, {"posts/a.md": post("A", "2026-01-01")})
    toml = tmp_path / "blog.toml"
    toml.write_text(BLOG_TOML + 'image = "../../card.png"\n')
    session = Session()
    lines = []
    for _ in range(2):
        with pytest.raises(BuildError) as failed:
            _files(tmp_path, BuildOptions(), session)
        [error] = failed.value.errors
        assert error.path == "blog.toml"
        lines.append(error.line)
        toml.write_text("# a comment above it all\n" + toml.read_text())
    assert lines[1] == lines[0] + 1, lines


# --- a preview's session leaves the cache's bound for when the folders are quiet --------


def _over_the_bound(folder: Path) -> Cache:
    """A cache of `folder` with ten unused entries, and one this build wrote: over its
    bound (1,000 bytes), so that `finish` deletes entries."""
    for number in range(10):
        Cache(folder).put(f"{number:02d}" + "a" * 62, b"x" * 1000)
    cache = Cache(folder, limit=1_000)
    cache.put("99" + "b" * 62, b"y" * 100)
    return cache


def _entries(folder: Path) -> int:
    return len(list(folder.glob("??/*")))


@pytest.mark.parametrize("remember", [True, False])
def test_a_preview_s_session_leaves_the_bound_for_after_serving(
    tmp_path: Path, remember: bool
) -> None:
    session = Session(remember=remember)
    session.bound(_over_the_bound(tmp_path / "one"))
    if not remember:  # `blogkeeper build`'s: at once
        assert _entries(tmp_path / "one") == 1
        return
    assert _entries(tmp_path / "one") == 11  # left for after serving
    session.finish()
    assert _entries(tmp_path / "one") == 1
    session.bound(_over_the_bound(tmp_path / "two"))
    session.start(load_config(REPO))  # or the next build applies it first
    assert _entries(tmp_path / "two") == 1


def test_a_session_finds_the_clashes_an_edit_makes(session_site: tuple[Path, Session]) -> None:
    """The output paths are checked again when they or the aliases change (a session
    keeps the last check's answer for equal paths and aliases)."""
    root, session = session_site
    page = root / "static/2026/01/a/index.html"
    post_a = root / "posts/a.md"
    original = post_a.read_text()
    steps = [
        lambda: (page.parent.mkdir(parents=True), page.write_text("in the way")),
        page.unlink,
        lambda: post_a.write_text(original.replace("---\n", "---\naliases: [/llms.txt]\n", 1)),
        lambda: post_a.write_text(original),
    ]
    found = []
    for step in steps:
        step()
        _backdate(root, OLD)
        found.append(_outputs(root, session))
        assert found[-1] == _outputs(root, None)
    assert [isinstance(f, list) for f in found] == [True, False, True, False], found


def test_the_sitemap_is_made_again_only_when_what_it_lists_changes(
    session_site: tuple[Path, Session],
) -> None:
    root, session = session_site
    first = _files(root, OPTIONS, session)["sitemap.xml"]
    post_b = root / "posts/b.md"
    post_b.write_text(post_b.read_text() + "\nMore words.\n")
    kept = _files(root, OPTIONS, session)["sitemap.xml"]
    assert kept is first  # the text changed, not what the sitemap lists
    post_b.write_text(post("Post b", "2026-02-02"))
    again = _files(root, OPTIONS, session)["sitemap.xml"]
    assert again != first and again == _files(root)["sitemap.xml"]
    assert b"2026-02-02" in again
