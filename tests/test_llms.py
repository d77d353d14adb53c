"""llms.txt, llms-full.txt, Markdown twins, head links and _headers (blogkeeper.llms).

Judges: the llms.txt reference parser (`llms_txt.parse_llms_file`) for structure; a
CommonMark parser (markdown-it-py) and markdown2 for what a Markdown reader shows; lxml for
the HTML heads; httpx for the `Link:` header values in `_headers`.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import httpx
import lxml.html
import markdown2
import pytest
from conftest import BLOG_TOML, build, copy_sample, now, post
from hypothesis import example, given, settings
from hypothesis import strategies as st
from llms_txt import parse_llms_file
from markdown_it import MarkdownIt

from blogkeeper import llms, urls
from blogkeeper.build import build_site, render_posts
from blogkeeper.cache import CACHE_DIR, Cache
from blogkeeper.config import load_config
from blogkeeper.content import Entry, LoadOptions, load_posts, select_posts
from blogkeeper.errors import BuildError
from blogkeeper.fences import scan
from blogkeeper.hosting import Snapshot, file_response
from blogkeeper.model import BuildOptions, Post
from blogkeeper.session import Counts

SAMPLE_URL = "https://tensors-and-tea.example.org/"


# --- judges and helpers ----------------------------------------------------------------


COMMONMARK = MarkdownIt("commonmark")


def _text(html: str) -> str:
    return str(lxml.html.fragment_fromstring(html, create_parent="div").text_content().strip())


def shown(markdown_inline: str) -> str:
    """What a Markdown reader shows for inline Markdown; CommonMark and markdown2 agree."""
    text = _text(COMMONMARK.render(markdown_inline))
    assert _text(markdown2.markdown(markdown_inline)) == text, markdown_inline
    return text


def shown_heading(markdown_text: str) -> str:
    return shown("# " + markdown_text)


def local_file(url: str, site_url: str, files: set[str]) -> str:
    """The output file an absolute URL of the site is served from; fails if there is none."""
    url, _, _ = url.partition("#")
    url = unquote(url)  # the base URL is written encoded in blog.toml (`my%20blog`)
    assert url.startswith(site_url), f"{url} is not on {site_url}"
    path = url[len(site_url) :]
    if path == "" or path.endswith("/"):
        path += "index.html"
    assert path in files, f"{url} resolves to no file in the output"
    return path


def site_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def published(root: Path) -> list[Post]:
    return load_posts(load_config(root), LoadOptions(now=now()))


@dataclass
class Built:
    root: Path
    url: str
    files: dict[str, bytes]

    def text(self, path: str) -> str:
        return self.files[path].decode("utf-8")

    def llms(self) -> object:
        return parse_llms_file(self.text("llms.txt"))


def listed(parsed: object) -> dict[str, list[dict[str, str | None]]]:
    return parsed.sections  # type: ignore[attr-defined, no-any-return]


def html_pages(files: dict[str, bytes]) -> list[str]:
    return sorted(p for p in files if p.endswith(".html"))


def head_links(data: bytes) -> tuple[list[str], list[str]]:
    """(hrefs of text/markdown alternates, hrefs of describedby) in a page's head."""
    head = lxml.html.document_fromstring(data).head
    alternates = head.xpath("link[@rel='alternate'][@type='text/markdown']/@href")
    described = head.xpath("link[@rel='describedby']/@href")
    return alternates, described


def page_url(site_url: str, path: str) -> str:
    return site_url + (path.removesuffix("index.html") if path.endswith("index.html") else path)


def parse_headers(text: str) -> dict[str, dict[str, str]]:
    """A Netlify / Cloudflare `_headers` file as {path: {header: value}}."""
    rules: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = rules.setdefault(line.strip(), {})
            continue
        assert current is not None, f"header line before any path: {line!r}"
        name, _, value = line.strip().partition(":")
        assert name not in current, f"{name} given twice for one path"
        current[name] = value.strip()
    return rules


def link_header(value: str) -> dict[str, dict[str, str]]:
    return httpx.Response(200, headers={"Link": value}).links  # type: ignore[return-value]


# --- any text round-trips --------------------------------------------------------------

_CHARS = st.sampled_from(string.ascii_letters[:3] + string.digits[:2] + string.punctuation + " é")
_TEXT = st.text(
    _CHARS | st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs")), min_size=1
).filter(str.strip)


@settings(max_examples=300, deadline=None)
@given(title=_TEXT, note=_TEXT)
@example(title="> quoted", note="1. listed")
@example(title="- dashed #", note="~~~ fence")
@example(title="a]b[c]\\", note="\\< <_> &copy; &#91;")
@example(title="snake_case *and* `code`", note="# not a heading")
def test_any_title_and_note_read_back_exactly(title: str, note: str) -> None:
    """Whatever the punctuation, the reference parser finds the link and a CommonMark reader
    and markdown2 both show the title and note as written (whitespace collapsed)."""
    line = llms.link_line(title, "https://x.example/a b (c)/index.md", note)
    text = (
        f"# {llms.heading_text(title)}\n\n> {llms.inline_text(note)}\n\nAbout.\n\n## S\n\n{line}\n"
    )
    parsed = parse_llms_file(text)
    (row,) = parsed.sections["S"]
    assert row["url"] == "https://x.example/a%20b%20%28c%29/index.md"
    assert shown(row["title"]) == " ".join(title.split())
    assert shown(row["desc"]) == " ".join(note.split())
    assert shown_heading(parsed.title) == " ".join(title.split())
    assert shown(parsed.summary) == " ".join(note.split())


# --- the sample blog -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = copy_sample(tmp_path_factory.mktemp("sample") / "site")
    result = build(root, "--out", str(root / "public"))
    assert result.code == 0, result.err
    return Built(root, SAMPLE_URL, site_files(root / "public"))


def test_sample_llms_txt_reads_back(sample: Built) -> None:
    config = load_config(sample.root)
    parsed = sample.llms()
    assert shown_heading(parsed.title) == config.title  # type: ignore[attr-defined]
    assert shown(parsed.summary) == config.description  # type: ignore[attr-defined]
    assert "Markdown twin" in parsed.info  # type: ignore[attr-defined]
    sections = listed(parsed)
    assert list(sections) == ["LLM from scratch", "Posts", "Optional"]
    posts = published(sample.root)
    series = sorted((p for p in posts if p.series), key=lambda p: p.part or 0)
    others = [p for p in posts if not p.series]  # newest first, as load_posts gives them
    for name, expected in (("LLM from scratch", series), ("Posts", others)):
        rows = sections[name]
        assert [shown(r["title"] or "") for r in rows] == [p.title for p in expected]
        notes = [shown(r["desc"] or "") for r in rows]
        checked = [re.search(r" \(code checked: \d+ of \d+ blocks[^)]*\)$", n) for n in notes]
        assert [bool(c) for c in checked] == [p.series == "LLM from scratch" for p in expected]
        summaries = [n[: c.start()] if c else n for n, c in zip(notes, checked, strict=True)]
        assert summaries == [p.summary for p in expected]
        assert [r["url"] for r in rows] == [f"{SAMPLE_URL}{p.path}index.md" for p in expected]


def test_sample_every_llms_url_resolves(sample: Built) -> None:
    text = sample.text("llms.txt")
    found = re.findall(r"\]\(([^)]+)\)", text)
    rows = [row for rows in listed(sample.llms()).values() for row in rows]
    assert len(found) == len(rows) + 1  # the rows and the llms-full.txt link in the prose
    for url in found:
        local_file(url, sample.url, set(sample.files))


def test_sample_twins_hold_the_whole_post(sample: Built) -> None:
    for post_ in published(sample.root):
        twin = sample.text(post_.path + "index.md")
        check_twin(twin, post_, sample.url)


def test_sample_llms_full_holds_every_twin_in_llms_order(sample: Built) -> None:
    full = sample.text("llms-full.txt")
    rows = [row for rows in listed(sample.llms()).values() for row in rows]
    twins = [row["url"] for row in rows if row["url"].endswith("/index.md")]  # type: ignore[union-attr]
    assert len(twins) == len(published(sample.root))
    positions = []
    for url in twins:
        twin = sample.text(local_file(url, sample.url, set(sample.files)))  # type: ignore[arg-type]
        assert "\n---\n\n" + twin in full
        positions.append(full.index(twin))
    assert positions == sorted(positions)
    assert full.count("\n---\n\n# ") == len(twins)


def test_sample_head_links_on_every_page(sample: Built) -> None:
    check_head_links(sample)


def test_sample_headers_repeat_the_head_links(sample: Built) -> None:
    check_headers(sample)


# --- checks shared by the fixtures -----------------------------------------------------


def check_twin(twin: str, post_: Post, site_url: str) -> None:
    header, _, body = twin.partition("\n\n- ")
    assert shown_heading(header.removeprefix("# ")) == post_.title
    assert not twin.startswith("---")
    meta, _, body = body.partition("\n\n")
    assert f"- HTML version: {site_url}" in "- " + meta
    for fence in scan(twin.split("\n")):
        assert fence.options == (), f"fence options left in {post_.source}: {fence}"
    check_same_body(post_, body)
    check_links_absolute(twin, post_.source)


_DEST = re.compile(
    r"\]\((<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)|(?:href|src)=(\"[^\"]*\"|'[^']*')"
)
_REF = re.compile(r"^( {0,3}\[[^\]^][^\]]*\]:\s*)\S+", re.MULTILINE)


def _unlinked(line: str) -> str:
    return _REF.sub(r"\1URL", _DEST.sub("](URL", line))


# The line a twin has after each output block of a checked post (llms.with_notes).
_CHECK_NOTE = re.compile(r"^[> ]*\*Output (?:not )?checked\b.*\*$")


def check_same_body(post_: Post, body: str) -> None:
    """The twin's body is the source body minus the fold; lines differ only by a fence's
    options or a link's destination."""
    lines = post_.body.split("\n")
    fences = {f.start: f for f in scan(lines)}
    source = [line for index, line in enumerate(lines) if index != post_.fold and line.strip()]
    twin = [line for line in body.split("\n") if line.strip() and not _CHECK_NOTE.match(line)]
    if any(not f.closed for f in fences.values()):
        twin = twin[:-1]  # the closing fence the twin adds
    assert len(twin) == len(source), f"{post_.source}: line count differs"
    openers = {lines[i]: f for i, f in fences.items()}
    for theirs, ours in zip(source, twin, strict=True):
        if theirs == ours:
            continue
        if theirs in openers:
            marker = re.match(r"\s*(`+|~+)", theirs)
            assert marker is not None
            assert ours == openers[theirs].indent + marker.group(1) + openers[theirs].lang
            continue
        assert _unlinked(theirs) == _unlinked(ours), f"{post_.source}: {theirs!r} → {ours!r}"


def check_links_absolute(twin: str, source: str) -> int:
    """Rendered by a CommonMark parser, no link or image in the twin is relative; returns
    how many there are."""
    tree = lxml.html.fragment_fromstring(COMMONMARK.render(twin), create_parent="div")
    elements = tree.xpath("//a[@href] | //img[@src]")
    for element in elements:
        value = element.get("href") if element.tag == "a" else element.get("src")
        assert re.match(r"^[a-z][a-z0-9+.-]*:", value), f"{source}: relative {value!r}"
    return len(elements)


def check_head_links(built: Built) -> None:
    files = set(built.files)
    twins = {p.path + "index.html": p for p in published(built.root)}
    for path in html_pages(built.files):
        if (built.root / "static" / path).is_file():
            continue  # the author's own page, copied as is
        alternates, described = head_links(built.files[path])
        assert [unquote(d) for d in described] == ["/" + built.url.split("/", 3)[3] + "llms.txt"], (
            path
        )
        post_ = twins.get(path)
        expected = "llms.txt" if post_ is None else post_.path + "index.md"
        if post_ is not None and not post_.llms:
            assert alternates == [], path
            continue
        assert len(alternates) == 1, path
        target = urljoin(page_url(built.url, path), alternates[0])
        assert local_file(target, built.url, files) == expected, path
        assert local_file(urljoin(built.url, described[0]), built.url, files) == "llms.txt"


def served_headers(built: Built, path: str) -> dict[str, str]:
    """The headers `serve`'s emulation of Cloudflare Pages sends for a file of the build."""
    base = "/" + built.url.split("/", 3)[3]
    return dict(file_response(Snapshot.of(base, built.files), path).headers)


def resolved_links(value: str, url: str) -> dict[str, tuple[str, str | None]]:
    """{rel: (absolute target, type)} of a `Link:` value, resolved against the URL asked
    for, as a client resolves them (RFC 8288, 3.2)."""
    links = link_header(value)
    return {
        rel: (unquote(urljoin(url, link["url"])), link.get("type")) for rel, link in links.items()
    }


def decoded(links: dict[str, tuple[str, str | None]]) -> dict[str, tuple[str, str | None]]:
    """Link targets compared decoded: a page's head and `_headers` may encode a space or a
    parenthesis differently, and both name the same file."""
    return {rel: (unquote(target), kind) for rel, (target, kind) in links.items()}


def check_headers(built: Built) -> None:
    """Through the host emulation, each page's `Link:` header says what its head says,
    twins name their page as canonical, and Markdown is served as such: what the per-page
    `_headers` of earlier versions gave, from a constant number of rules."""
    rules = parse_headers(built.text("_headers"))
    own = (built.root / "static" / "_headers").is_file()
    assert len(rules) < 20 + (10 if own else 0), len(rules)
    site = Snapshot.of("/" + built.url.split("/", 3)[3], built.files)
    for path in html_pages(built.files):
        if (built.root / "static" / path).is_file():
            continue  # the author's own page, copied as is
        alternates, described = head_links(built.files[path])
        url = page_url(built.url, path)
        links = resolved_links(dict(file_response(site, path).headers)["Link"], url)
        expected: dict[str, tuple[str, str | None]] = {
            "describedby": (urljoin(url, described[0]), None)
        }
        if alternates:
            expected["alternate"] = (urljoin(url, alternates[0]), "text/markdown")
        assert decoded(links) == decoded(expected), path
    for path in [p for p in built.files if p.endswith(".md") or p.startswith("llms")]:
        headers = dict(file_response(site, path).headers)
        assert headers["Content-Type"] == "text/markdown; charset=utf-8"
        if path.endswith("/index.md"):
            url = built.url + path
            assert resolved_links(headers["Link"], url) == {
                "canonical": (built.url + path.removesuffix("index.md"), None),
                "describedby": (built.url + "llms.txt", None),
            }
    if "robots.txt" in built.files:
        robots = dict(file_response(site, "robots.txt").headers)
        assert robots["Content-Type"] == "text/plain; charset=utf-8"
        assert "Link" not in robots


# --- a hostile blog --------------------------------------------------------------------

HOSTILE_URL = "https://example.org/my blog (draft)/"  # as a reader sees it
HOSTILE_TOML = (
    BLOG_TOML.replace("https://blog.example.org/", HOSTILE_URL.replace(" ", "%20")).replace(
        'description = "A blog for tests."',
        'description = "Tests: [brackets], (parens), *stars*, _unders_, `ticks` & &amp; <b>"',
    )
    + '\n[llms]\noptional_tags = ["Aside"]\n'
)

LINKS_BODY = """\
Intro with [a relative link](../other/) and ![an image](pic.png "Title").

<!--more-->

Inline code keeps `[rel](kept.html)` and ``a ` [x](kept2.html)`` as written.
A [fragment](#part), a [root link](/about/), a [spaced one](<with space.png>),
a [parenthesised](a(b).html), [empty]() and an <https://example.com/auto> autolink.
Escaped \\](not-a-link) stays. A [reference][ref] and a footnote.[^1]

<a href="raw.html">raw</a> and <img src='raw.png' alt="x"> <span id="part">part</span>

[ref]: docs/ref.html "Reference"
[^1]: A footnote with [a link](note.html).

```python skip raises=ValueError
print("[x](in-fence.html)")
```

~~~~ text {.numberLines}
[y](in-tilde-fence.html)
~~~~

```output
unclosed [z](in-unclosed.html)
"""

HOSTILE_POSTS = {
    "brackets": ("Brackets [1] and (parens) ] in a title", "A summary with [x](y) and ] too"),
    "unicode": ("日本語のタイトル — Ünïcödé ✓", "Résumé: naïve café, 東京"),
    "punct": ("[]()*_#`&<>!", "Only punctuation in the title"),
    "hashes": ("C# and F#", "Ends in a hash"),
    "empty": ("An empty summary", ""),
    "links": ("Links of every kind", "Every link form"),
    "aside": ("An aside", "Tagged Aside, so Optional"),
    "hidden": ("Not for models", "Opted out"),
}


def hostile_files() -> dict[str, str]:
    files = {
        "posts/brackets.md": post(
            HOSTILE_POSTS["brackets"][0], "2026-01-01", summary='"A summary with [x](y) and ] too"'
        ),
        "posts/unicode.md": post(
            HOSTILE_POSTS["unicode"][0], "2026-01-02", summary='"Résumé: naïve café, 東京"'
        ),
        "posts/punct.md": post(
            "[]()*_#`&<>!", "2026-01-03", summary="Only punctuation in the title"
        ),
        "posts/hashes.md": post("C# and F#", "2026-01-04", summary="Ends in a hash"),
        "posts/empty.md": post(
            "An empty summary", "2026-01-05", summary='""', body="First words.\n"
        ),
        "posts/links.md": post(
            "Links of every kind", "2026-01-06", body=LINKS_BODY, summary="Every link form"
        ),
        "posts/aside.md": post(
            "An aside", "2026-01-07", tags="[Aside]", summary="Tagged Aside, so Optional"
        ),
        "posts/hidden.md": post("Not for models", "2026-01-08", llms="false", summary="Opted out"),
        "posts/s1.md": post(
            "Part one", "2026-02-01", series="Optional", part="1", tags="[Series A, Series B]"
        ),
        "posts/s2.md": post(
            "Part two", "2026-01-20", series="Optional", part="2", tags="[Series A, Series B]"
        ),
        "posts/s3.md": post("Posts part", "2026-02-02", series="Posts", tags="[Optional, Posts]"),
        "static/_headers": "/*\n  X-Frame-Options: DENY\n",
        # What links.md links to: a link to nothing fails the build.
        "static/2026/01/other/index.html": "x",
    }
    for name in ("pic.png", "with space.png", "a(b).html", "raw.html", "raw.png", "note.html"):
        files[f"static/2026/01/links/{name}"] = "x"
    files["static/2026/01/links/docs/ref.html"] = "x"
    return files


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("hostile")
    for name, text in {"blog.toml": HOSTILE_TOML, **hostile_files()}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    result = build(root, "--out", str(root / "public"))
    assert result.code == 0, result.err
    return Built(root, HOSTILE_URL, site_files(root / "public"))


def test_hostile_llms_txt_reads_back(hostile: Built) -> None:
    parsed = hostile.llms()
    assert shown_heading(parsed.title) == "Test blog"  # type: ignore[attr-defined]
    assert shown(parsed.summary) == load_config(hostile.root).description  # type: ignore[attr-defined]
    sections = listed(parsed)
    # Series named like the fixed sections get a prefix; the post tagged with both
    # series-like tags is listed once, in its series.
    assert list(sections) == ["Series: Optional", "Series: Posts", "Posts", "Optional"]
    assert [shown(r["title"] or "") for r in sections["Series: Optional"]] == [
        "Part one",
        "Part two",
    ]
    titles = [shown(r["title"] or "") for rows in sections.values() for r in rows]
    assert sorted(titles) == sorted(
        [t for t, _ in HOSTILE_POSTS.values() if t != "Not for models"]
        + ["Part one", "Part two", "Posts part", "Every post in full", "RSS feed", "JSON Feed"]
    )
    assert [shown(r["title"] or "") for r in sections["Optional"]] == [
        "An aside",
        "Every post in full",
        "RSS feed",
        "JSON Feed",
    ]
    summaries = dict(HOSTILE_POSTS.values())
    pages = {p.title: p for p in published(hostile.root)}
    for rows in sections.values():
        for row in rows:
            title = shown(row["title"] or "")
            if summaries.get(title):
                assert shown(row["desc"] or "") == summaries[title]
            if title in pages:
                meta = lxml.html.document_fromstring(
                    hostile.files[pages[title].path + "index.html"]
                )
                description = meta.xpath("//meta[@name='description']/@content")[0]
                assert shown(row["desc"] or "") == " ".join(description.split())


def test_hostile_empty_summary_falls_back_to_the_intro(hostile: Built) -> None:
    rows = [r for rows in listed(hostile.llms()).values() for r in rows]
    row = next(r for r in rows if shown(r["title"] or "") == "An empty summary")
    assert row["desc"] == "First words."


def test_hostile_urls_resolve_and_are_encoded(hostile: Built) -> None:
    text = hostile.text("llms.txt")
    found = re.findall(r"\]\(([^)]+)\)", text)
    assert found and all(
        url.startswith("https://example.org/my%20blog%20%28draft%29/") for url in found
    )
    for url in found:
        local_file(unquote(url), hostile.url, set(hostile.files))


def test_hostile_twins(hostile: Built) -> None:
    posts = published(hostile.root)
    assert not any(p.endswith("index.md") and "hidden" in p for p in hostile.files)
    for post_ in posts:
        if post_.llms:
            check_twin(
                hostile.text(post_.path + "index.md"), post_, "https://example.org/my%20blog"
            )


def test_hostile_twin_links(hostile: Built) -> None:
    page = "https://example.org/my%20blog%20%28draft%29/2026/01/links/"
    root = "https://example.org/"
    twin = hostile.text("2026/01/links/index.md")
    expected = [
        "[a relative link](https://example.org/my%20blog%20%28draft%29/2026/01/other/)",
        f'![an image]({page}pic.png "Title")',
        "`[rel](kept.html)`",
        "``a ` [x](kept2.html)``",
        f"[fragment]({page}#part)",
        f"[root link]({root}about/)",
        f"[spaced one]({page}with%20space.png)",
        f"[parenthesised]({page}a%28b%29.html)",
        f"[empty]({page})",
        "<https://example.com/auto>",
        "\\](not-a-link)",
        f'<a href="{page}raw.html">',
        f"<img src='{page}raw.png'",
        f'[ref]: {page}docs/ref.html "Reference"',
        f"[a link]({page}note.html)",
        '```python\nprint("[x](in-fence.html)")\n```',
        "~~~~text\n[y](in-tilde-fence.html)\n~~~~",
        "```output\nunclosed [z](in-unclosed.html)\n```\n",
    ]
    for piece in expected:
        assert piece in twin, piece
    assert "<!--more-->" not in twin
    # 7 inline links and images, an autolink, 2 raw HTML tags, a reference, a footnote's link
    assert check_links_absolute(twin, "links.md") == 12


def test_hostile_llms_full_and_head_links(hostile: Built) -> None:
    full = hostile.text("llms-full.txt")
    for post_ in published(hostile.root):
        path = post_.path + "index.md"
        if post_.llms:
            assert "\n---\n\n" + hostile.text(path) in full
        else:
            assert path not in hostile.files
    assert "Not for models" not in full
    check_head_links(hostile)
    check_headers(hostile)


def test_hostile_own_headers_come_first(hostile: Built) -> None:
    text = hostile.text("_headers")
    assert text.startswith("/*\n  X-Frame-Options: DENY\n\n# Written by blogkeeper")


# --- zero posts and the [llms] switches ------------------------------------------------


def outputs(make_site: Callable[..., Path], files: dict[str, str], llms: str = "") -> Built:
    root = make_site(files, BLOG_TOML + llms)
    result = build_site(root, BuildOptions(now=now()))
    return Built(root, "https://blog.example.org/", {o.path: o.data for o in result})


def test_zero_posts(make_site: Callable[..., Path]) -> None:
    built = outputs(make_site, {})
    parsed = built.llms()
    assert shown_heading(parsed.title) == "Test blog"  # type: ignore[attr-defined]
    sections = listed(parsed)
    assert list(sections) == ["Optional"]
    assert sections["Optional"][0]["url"] == "https://blog.example.org/llms-full.txt"
    for row in sections["Optional"]:
        local_file(row["url"] or "", built.url, set(built.files))
    assert "The 0 posts of Test blog" in built.text("llms-full.txt")
    check_head_links(built)
    check_headers(built)


TWO_POSTS = {
    "posts/a.md": post("Alpha", "2026-01-01", series="S", part="1"),
    "posts/b.md": post("Beta", "2026-01-02"),
}


def test_twins_off(make_site: Callable[..., Path]) -> None:
    built = outputs(make_site, TWO_POSTS, "\n[llms]\ntwins = false\n")
    assert not [p for p in built.files if p.endswith(".md")]
    rows = [r for rows in listed(built.llms()).values() for r in rows]
    assert {r["url"] for r in rows} >= {
        "https://blog.example.org/2026/01/a/",
        "https://blog.example.org/2026/01/b/",
    }
    assert "# Alpha" in built.text("llms-full.txt")
    check_head_links_to_llms(built)
    check_headers(built)


def check_head_links_to_llms(built: Built) -> None:
    for path in html_pages(built.files):
        alternates, described = head_links(built.files[path])
        assert alternates == ["/llms.txt"] and described == ["/llms.txt"], path


def test_full_off(make_site: Callable[..., Path]) -> None:
    built = outputs(make_site, TWO_POSTS, "\n[llms]\nfull = false\n")
    assert "llms-full.txt" not in built.files
    assert "llms-full" not in built.text("llms.txt")
    assert list(listed(built.llms()))[:2] == ["S", "Posts"]


def test_llms_disabled(make_site: Callable[..., Path]) -> None:
    built = outputs(make_site, TWO_POSTS, "\n[llms]\nenabled = false\n")
    assert not {"llms.txt", "llms-full.txt", "_headers"} & set(built.files)
    assert not [p for p in built.files if p.endswith(".md")]
    for path in html_pages(built.files):
        assert head_links(built.files[path]) == ([], []), path
        assert b"llms.txt" not in built.files[path], path


def test_sections_choose_and_order(make_site: Callable[..., Path]) -> None:
    built = outputs(make_site, TWO_POSTS, '\n[llms]\nsections = ["posts"]\n')
    sections = listed(built.llms())
    assert list(sections) == ["Posts"]
    assert [shown(r["title"] or "") for r in sections["Posts"]] == ["Beta", "Alpha"]
    assert "Optional" not in built.text("llms.txt")


def test_unknown_section_is_a_config_error(make_site: Callable[..., Path]) -> None:
    root = make_site(TWO_POSTS, BLOG_TOML + '\n[llms]\nsections = ["posts", "serie"]\n')
    with pytest.raises(BuildError) as caught:
        build_site(root, BuildOptions(now=now()))
    (error,) = caught.value.errors
    assert (error.path, error.line) == ("blog.toml", 8)
    assert "serie" in error.message and error.hint == "did you mean `series`?"


def test_optional_tag_moves_a_series_post_to_optional(make_site: Callable[..., Path]) -> None:
    files = {
        **TWO_POSTS,
        "posts/c.md": post("Gamma", "2026-01-03", series="S", part="2", tags="[Aside]"),
    }
    built = outputs(make_site, files, '\n[llms]\noptional_tags = ["Aside"]\n')
    sections = listed(built.llms())
    assert [shown(r["title"] or "") for r in sections["S"]] == ["Alpha"]
    assert shown(sections["Optional"][0]["title"] or "") == "Gamma"
    full = built.text("llms-full.txt")
    assert full.index("# Alpha") < full.index("# Beta") < full.index("# Gamma")


def test_twins_from_cached_renderings_are_the_twins_made_afresh(tmp_path: Path) -> None:
    """A twin's body is kept in the post's cached rendering: what a warm build reads back,
    or a build that finds the entries damaged, gives the twins rendering gives."""
    root = copy_sample(tmp_path / "site")
    config = load_config(root)
    posts = load_posts(config, LoadOptions(now=now()))
    fresh = [llms.twin(config, entry) for entry in render_posts(config, posts)]
    assert all("\n- HTML version: " in twin for twin in fresh)

    def twins_through_the_cache() -> tuple[list[str], int]:
        cache, counts = Cache.for_site(root), Counts()
        found: dict[str, Entry] = {}  # each post's entry, read back or made
        loaded, _, _ = select_posts(config, LoadOptions(now=now()), None, {}, cache, found)
        rendered = render_posts(config, loaded, cache, None, None, None, found, counts)
        return [llms.twin(config, entry) for entry in rendered], counts.posts_rendered

    assert twins_through_the_cache() == (fresh, len(posts))  # cold: every post rendered
    assert twins_through_the_cache() == (fresh, 0)  # warm: every rendering read back
    entries = [p for p in (root / CACHE_DIR).rglob("*") if p.is_file() and p.name != ".gitignore"]
    assert len(entries) == len(posts)
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:-1] + b"\xff")  # same size, not the same bytes
    assert twins_through_the_cache() == (fresh, len(posts))


# --- what a build keeps for the next ---------------------------------------------------


def _llms_outputs(root: Path, cache: bool = True) -> dict[str, bytes]:
    built = build_site(root, BuildOptions(now=now(), cache=cache))
    names = (urls.LLMS_TXT, urls.LLMS_FULL, urls.HEADERS)
    return {o.path: o.data for o in built if o.path in names or o.path.endswith(".md")}


def _same_with_and_without_cache(root: Path) -> dict[str, bytes]:
    kept = _llms_outputs(root)
    assert kept == _llms_outputs(root, cache=False)
    assert _llms_outputs(root) == kept  # and from what that build kept
    return kept


KEPT_POSTS = {
    "posts/a.md": post("Alpha", "2026-01-01", body="Intro [b](../b/).\n\n<!--more-->\n\nRest.\n"),
    "posts/b.md": post("Beta", "2026-01-02", series="S", tags="[T]"),
    "posts/c.md": post("Gamma", "2026-01-03", summary="Short."),
}


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("posts/a.md", 'title: "Alpha"', 'title: "Alpha [one]"'),  # llms.txt line, twin, head
        ("posts/a.md", "Rest.", "Rest, edited."),  # a twin's body
        ("posts/a.md", "Intro [b]", "Opening [b]"),  # the intro: a note in llms.txt
        (
            "posts/a.md",
            'title: "Alpha"',
            'title: "Alpha"\nslug: other',
        ),  # a URL: twin path, _headers
        ("posts/c.md", "summary: Short.", "summary: Shorter."),
        ("posts/c.md", 'title: "Gamma"', 'title: "Gamma"\nllms: false'),
        ("posts/b.md", "series: S", "series: R"),
        ("blog.toml", "example.org", "example.net/blog"),  # every absolute URL
        ("blog.toml", 'author = "Tester"', 'author = "Ann"'),
    ],
)
def test_kept_llms_outputs_are_never_stale(
    make_site: Callable[..., Path], path: str, old: str, new: str
) -> None:
    root = make_site(KEPT_POSTS)
    before = _same_with_and_without_cache(root)
    text = (root / path).read_text()
    assert old in text
    (root / path).write_text(text.replace(old, new, 1))
    assert _same_with_and_without_cache(root) != before


def test_kept_llms_outputs_follow_static_headers_and_settings(
    make_site: Callable[..., Path],
) -> None:
    root = make_site(KEPT_POSTS)
    _same_with_and_without_cache(root)
    (root / "static").mkdir(exist_ok=True)
    (root / "static" / "_headers").write_text("/*\n  X-Frame-Options: DENY\n")
    assert b"DENY" in _same_with_and_without_cache(root)[urls.HEADERS]
    toml = root / "blog.toml"
    toml.write_text(toml.read_text() + "\n[llms]\nfull = false\n")
    assert urls.LLMS_FULL not in _same_with_and_without_cache(root)


def test_a_build_takes_the_headers_rules_from_the_cache_while_what_they_read_stays(
    make_site: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making the rules reads every output path; keying them only digests what they read
    (the paths, each post's path and `llms`): a build with the same takes them back."""
    root = make_site(KEPT_POSTS)
    before = _same_with_and_without_cache(root)
    made: list[int] = []
    rules = llms.header_rules

    def counted(site: object, paths: list[str]) -> object:
        made.append(len(paths))
        return rules(site, paths)  # type: ignore[arg-type]

    monkeypatch.setattr(llms, "header_rules", counted)
    body = (root / "posts/a.md").read_text()
    (root / "posts/a.md").write_text(body.replace("Rest.", "Rest, edited."))  # no rule reads it
    assert _llms_outputs(root)[urls.HEADERS] == before[urls.HEADERS] and made == []
    (root / "posts/a.md").write_text(body.replace('title: "Alpha"', 'title: "Alpha"\nllms: false'))
    changed = _llms_outputs(root)[urls.HEADERS]
    assert len(made) == 1 and changed != before[urls.HEADERS]
    assert _llms_outputs(root, cache=False)[urls.HEADERS] == changed


# --- _headers at any size --------------------------------------------------------------


def test_headers_rules_stay_constant_as_posts_grow(make_site: Callable[..., Path]) -> None:
    """A hundred times the posts, the same rules: only `llms: false` posts add one each."""
    counts = []
    for total in (3, 300):
        files = {
            f"posts/p{i}.md": post(f"P {i}", f"2001-{i % 12 + 1:02d}-{i % 28 + 1:02d}", body="x\n")
            for i in range(total)
        }
        files["posts/hidden.md"] = post("Hidden", "2001-05-05", body="x\n", llms="false")
        built = outputs(make_site, files)
        counts.append(len(parse_headers(built.text("_headers"))))
        check_headers(built)
    assert counts[0] == counts[1] == 9  # one of them types /feed/feed.json


@pytest.mark.slow
def test_ten_thousand_posts_get_every_header_from_few_rules(
    make_site: Callable[..., Path],
) -> None:
    files = {
        f"posts/p{i}.md": post(
            f"P {i}",
            (dt.date(2000, 1, 1) + dt.timedelta(days=i)).isoformat(),
            body="x\n",
            tags=f"[t{i % 30}]",
            **({"llms": "false"} if i % 2500 == 7 else {}),
        )
        for i in range(10_000)
    }
    built = outputs(make_site, files)
    # 7 patterns, 4 `llms: false` posts, the JSON Feed type for the site's and topics' feeds
    assert len(parse_headers(built.text("_headers"))) == 7 + 4 + 2
    check_headers(built)


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(st.sampled_from("ab é1 \t\n&#;<>`*_[]\\-+.)~!\u00a0"), max_size=12),
    heading=st.booleans(),
)
@example(text="x#", heading=True)
@example(text="2026 in review", heading=False)
def test_inline_text_gives_text_back_as_it_is_only_where_the_full_escaping_would(
    text: str, heading: bool
) -> None:
    """The quick path (`_plain`) agrees with the escaping it skips."""
    quick = llms.inline_text(text, heading)
    plain = llms._plain
    llms._plain = lambda text: False  # every text escaped in full
    try:
        assert quick == llms.inline_text(text, heading)
    finally:
        llms._plain = plain


@settings(max_examples=600, deadline=None)
@given(
    url=st.one_of(
        st.text(st.sampled_from('aZ09/.-_~:?#%@ ()<>"é+'), max_size=14),
        st.builds(
            "".join,
            st.lists(
                st.sampled_from(
                    ["https://", "HTTP://", "x:", "//", "/", "a", "B.c", ":8", "é", "?", "#", "-"]
                ),
                max_size=6,
            ),
        ),
    )
)
@example(url="https://example.com/2026/03/x/index.md")
@example(url="https://example.com")
@example(url="https://example.com/?")
@example(url="index.md")
@example(url="//host/x")
def test_encode_url_gives_a_url_back_as_it_is_only_where_the_full_encoding_would(
    url: str,
) -> None:
    """The quick path (`_PLAIN_URL`) agrees with the encoding it skips."""
    quick = llms.encode_url(url)
    plain = llms._PLAIN_URL
    llms._PLAIN_URL = re.compile(r"(?!)")  # matches nothing: every URL encoded in full
    try:
        assert quick == llms.encode_url(url)
    finally:
        llms._PLAIN_URL = plain


# --- llms-full.txt joined in a forked child ------------------------------------------------


def _joined_site(make_site: Callable[..., Path]) -> Path:
    files = {
        f"posts/p{n:02d}.md": post(f"Post {n}", f"2026-01-{n + 1:02d}", f"Body {n}.\n")
        for n in range(6)
    }
    return make_site(files)


def test_llms_full_is_joined_in_a_child_while_the_build_goes_on(
    make_site: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big site's llms-full.txt (here: any site) is joined by a forked child, twins it
    keeps read back and an edited post's twin put there, and llms.txt made there too;
    the site is byte for byte a fresh build's, and the next build keeps the files. A join
    that makes every twin (a cold build's) runs here: its child would copy much of this
    process's memory."""
    import os

    from conftest import forked_children, quick_build, snapshot

    from blogkeeper import build as build_module
    from blogkeeper import writer

    monkeypatch.setattr(build_module, "JOIN_IN_CHILD_MIN", 1)
    monkeypatch.setattr(build_module, "JOIN_MAKING_MAX", 1)  # of 6
    joined_by = tmp_path / "joined-by"
    put_parts = writer.Staging.put_parts

    def watched(self: writer.Staging, path: str, parts: Any) -> None:
        with joined_by.open("a") as file:
            file.write(f"{path} {os.getpid()}\n")
        put_parts(self, path, parts)

    monkeypatch.setattr(writer.Staging, "put_parts", watched)
    put = writer.Staging.put

    def watched_put(self: writer.Staging, output: Any) -> None:
        if output.path == "llms.txt":
            with joined_by.open("a") as file:
                file.write(f"{output.path} {os.getpid()}\n")
        put(self, output)

    monkeypatch.setattr(writer.Staging, "put", watched_put)
    root = _joined_site(make_site)
    out = tmp_path / "out"
    assert quick_build(root, "--out", out).code == 0
    pid = str(os.getpid())
    assert joined_by.read_text().split() == ["llms.txt", pid, "llms-full.txt", pid]
    with (root / "posts/p03.md").open("a") as file:
        file.write("\nEdited.\n")
    joined_by.unlink()
    result = quick_build(root, "--out", out)
    assert result.code == 0, result.err
    lines = [line.split() for line in joined_by.read_text().splitlines()]
    assert [path for path, _ in lines] == ["llms.txt", "llms-full.txt"]  # the edit is in both
    assert os.getpid() not in {int(pid) for _, pid in lines}
    assert forked_children() == []
    assert "Edited." in (out / "llms-full.txt").read_text()
    assert "Edited." in (out / "2026/01/p03/index.md").read_text()
    joined_by.unlink()
    assert quick_build(root, "--out", out).code == 0
    assert not joined_by.exists()  # unchanged: llms-full.txt kept, nothing joined
    fresh = tmp_path / "fresh"
    assert quick_build(root, "--out", fresh, "--no-cache").code == 0
    assert snapshot(out) == snapshot(fresh)


def test_a_join_that_fails_in_its_child_fails_the_build_and_keeps_the_site(
    make_site: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child's error (here, the disk's) is the build's, with the file it names; the
    old site stays as it was and no child is left."""
    from conftest import forked_children, quick_build, snapshot

    from blogkeeper import build as build_module
    from blogkeeper import writer
    from blogkeeper.errors import BuildError, ContentError

    monkeypatch.setattr(build_module, "JOIN_IN_CHILD_MIN", 1)
    root = _joined_site(make_site)
    out = tmp_path / "out"
    assert quick_build(root, "--out", out).code == 0
    before = snapshot(out)

    def full_disk(self: writer.Staging, path: str, parts: Any) -> None:
        message = "could not write this file: No space left on device"
        raise BuildError([ContentError(str(self.out / path), None, message)])

    monkeypatch.setattr(writer.Staging, "put_parts", full_disk)
    with (root / "posts/p01.md").open("a") as file:
        file.write("\nEdited.\n")
    result = quick_build(root, "--out", out)
    assert result.code == 1
    assert "llms-full.txt" in result.err and "No space left on device" in result.err
    assert "Traceback" not in result.err
    assert snapshot(out) == before
    assert forked_children() == []
