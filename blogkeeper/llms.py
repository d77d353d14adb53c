"""Output for language models: Markdown twins, /llms.txt, /llms-full.txt and `_headers`.

Follows llms.txt v2 (llmstxt.org): each post gets a Markdown twin at `{post.path}index.md`
(a post at `x.html`: `x.md` beside it), llms.txt maps the site in sections of
`- [Title](url): notes` lines, llms-full.txt holds every twin, and `_headers` (Netlify /
Cloudflare Pages) repeats the pages' `<link>` relations as HTTP `Link:` headers. Twins
come from the author's Markdown, never from HTML converted back: the body of each is made
where its post is rendered (`twin_body`). `Site` and outputs in, `Output` values out into
the build's sink (which gives back the old site's twins it keeps); no file is opened here.
"""

from __future__ import annotations

import collections
import itertools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from blogkeeper import urls
from blogkeeper.cache import Cache, Unkeyable, fingerprint, fingerprint_or_none
from blogkeeper.config import SiteConfig
from blogkeeper.errors import ContentError
from blogkeeper.fences import Fence, scan
from blogkeeper.model import Earlier, Output, Post, PostProof, RenderedPost, Sink, Site
from blogkeeper.render import heading_id
from blogkeeper.urls import LLMS_FULL, LLMS_TXT, TWIN, has_twin, twin_name, twin_path

MARKDOWN_TYPE = "text/markdown; charset=utf-8"
POSTS_SECTION = "Posts"
OPTIONAL_SECTION = "Optional"


def render_llms(
    site: Site,
    generated: list[str],
    static: list[Output],
    sink: Sink,
    earlier: Earlier | None = None,
    memo: dict[int, tuple[object, bytes]] | None = None,
    cache: Cache | None = None,
) -> tuple[list[str], list[Output], tuple[ContentError, ...], Rest]:
    """(the paths of the LLM outputs, each put into `sink` as it is made, `static` minus
    a `_headers` merged into ours, warnings, and the rest): the rest (`Rest`) puts what is
    left (llms.txt if it changed, llms-full.txt, the twins not put yet), and the caller
    runs it once, here or, with a folder for a sink, in a forked child (each of its paths
    was asked of `sink.reuse`).

    `generated` must already hold the path of every HTML page and of the feed:
    `_headers` gets a rule for each page, and llms.txt links the feed only when it exists.
    A post's twin, its line in llms.txt, and the `_headers` rules, whose inputs equal
    those in `earlier`'s build are taken from it (the rules from `cache`, else). No twin
    is held longer than it takes to put it and its part of llms-full.txt. A sink that
    keeps files by key (`reuse`) keeps each twin and llms-full.txt whose key is the last
    build's; `memo` holds the fingerprints the pages' keys made already.
    """
    config = site.config
    if not config.llms.enabled:
        return [], static, (), Rest((), 0)
    earlier = earlier or Earlier()
    memo = {} if memo is None else memo
    sections = plan_sections(site, {*generated, *(o.path for o in static)})
    ordered = _full_order(site, sections)
    puts: list[Callable[[], None]] = []  # what is left to put, in order: the `Rest`
    if not (sink.reusing and sink.reuse(LLMS_TXT, _index_key(site, sections, memo))):
        puts.append(partial(_put_index, sink, site, sections, earlier))
    made = [LLMS_TXT]
    wanted = config.llms.full or config.llms.twins
    keys = _twin_keys(site, ordered, memo) if wanted and sink.reusing else None
    kept = []  # whether the sink holds each twin's file already
    if sink.reusing and config.llms.twins:
        keyed: Sequence[str | None] = keys or [None] * len(ordered)  # None: path cleared
        kept = [sink.reuse(twin_path(e.post), key) for e, key in zip(ordered, keyed, strict=True)]
    more = config.llms.twins and not (kept and all(kept))  # twin files to put

    def twins() -> Iterator[bytes]:
        for number, entry in enumerate(ordered):
            if kept and kept[number]:  # the sink holds it: its bytes are read, not made
                yield sink.read(twin_path(entry.post))
                continue
            inputs = (config, entry, site.proofs.get(entry.post.source))
            data = earlier.value("twin " + entry.post.source, inputs, partial(_twin_bytes, *inputs))
            if config.llms.twins:
                sink.put(Output(twin_path(entry.post), data))
            yield data

    twins_put = None  # what puts llms-full.txt and the twins, if any is left to put
    if config.llms.full:
        head = _full_head(site, ordered).encode()
        full_key = None if keys is None else Cache.key("full", CODE, head, *keys)
        if not (sink.reusing and sink.reuse(LLMS_FULL, full_key)):
            parts = itertools.chain([head], (b"\n---\n\n" + t for t in twins()))
            twins_put = partial(sink.put_parts, LLMS_FULL, parts)
        elif more:
            twins_put = partial(_drain, twins())
        made.append(LLMS_FULL)
    elif more:
        twins_put = partial(_drain, twins())  # each twin put, none kept
    if twins_put is not None:
        puts.append(twins_put)
    making = len(ordered) - sum(kept) if twins_put is not None else 0  # those not kept
    if config.llms.twins:
        made += [twin_path(entry.post) for entry in ordered]
    own = next((o for o in static if o.path == urls.HEADERS), None)
    paths = sorted([*generated, *made])
    posts = site.posts  # of them `header_rules` reads each one's path and `llms`
    given = (
        config,
        tuple(paths),
        tuple(e.post.path for e in posts),
        tuple(e.post.llms for e in posts),
    )
    made_rules = partial(_header_rules, site, paths, given, cache or Cache(None), memo)
    rules, left_out = earlier.value("headers", given, made_rules)
    sink.put(Output(urls.HEADERS, _headers_text(rules, own.data if own else None).encode()))
    warnings = (_left_out(left_out, config.permalink_line),) if left_out else ()
    rest = Rest(tuple(puts), making)
    return [*made, urls.HEADERS], [o for o in static if o is not own], warnings, rest


@dataclass(frozen=True)
class Rest:
    """What `render_llms` leaves to put: `put()` puts it (llms.txt if it changed,
    llms-full.txt, the twins not put yet: `puts`, none if nothing is left), making
    `making` twins (the others it reads back from the sink, or puts none)."""

    puts: tuple[Callable[[], None], ...]
    making: int

    def put(self) -> None:
        for put in self.puts:
            put()


def _put_index(sink: Sink, site: Site, sections: list[Section], earlier: Earlier) -> None:
    sink.put(Output(LLMS_TXT, llms_txt(site, sections, earlier).encode()))


def _drain(items: Iterator[bytes]) -> None:
    collections.deque(items, maxlen=0)


# The code a twin's bytes come from.
CODE = ("blogkeeper",)


def _index_key(
    site: Site, sections: list[Section], memo: dict[int, tuple[object, bytes]]
) -> str | None:
    """llms.txt's key: its code and all `llms_txt` reads; None when it cannot be keyed."""
    given = fingerprint_or_none((site.config, sections, site.posts, site.proofs), memo)
    return None if given is None else Cache.key("llms.txt", CODE, given)


def _twin_keys(
    site: Site, ordered: list[RenderedPost], memo: dict[int, tuple[object, bytes]]
) -> list[str] | None:
    """Each twin's key (`Cache.key`: its code and what `twin` reads), or None when one
    cannot be keyed (`fingerprint`)."""
    config = site.config
    try:
        return [
            Cache.key("twin", CODE, fingerprint((config, e, site.proofs.get(e.post.source)), memo))
            for e in ordered
        ]
    except Unkeyable:
        return None


def _twin_bytes(config: SiteConfig, entry: RenderedPost, proof: PostProof | None) -> bytes:
    return twin(config, entry, proof).encode("utf-8", "surrogatepass")


# --- llms.txt --------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """An H2 section of llms.txt: posts, then other links as (title, site path, note)."""

    name: str
    posts: tuple[RenderedPost, ...]
    links: tuple[tuple[str, str, str], ...] = ()


def plan_sections(site: Site, existing: set[str]) -> list[Section]:
    """The H2 sections of llms.txt in the configured order; empty ones are dropped.

    Each post appears once: an optional-tagged post goes to Optional, a series post to its
    series, the rest to Posts, newest first. A section left out of `[llms] sections` leaves
    its posts out of llms.txt (llms-full.txt still has them). `existing` are the site's
    output paths: Optional links the feed only when there is one.
    """
    config = site.config.llms
    listed = tuple(e for e in site.posts if e.post.llms)
    optional: tuple[RenderedPost, ...] = ()
    if "optional" in config.sections:
        optional = tuple(e for e in listed if set(e.post.tags) & set(config.optional_tags))
    taken = {POSTS_SECTION.casefold(), OPTIONAL_SECTION.casefold()}
    series = []
    if "series" in config.sections:
        for group in site.series:
            members = tuple(e for e in group.posts if e.post.llms and e not in optional)
            if members:
                series.append(Section(_series_label(group.name, taken), members))
    placed = {id(e) for s in series for e in s.posts} | {id(e) for e in optional}
    rest = tuple(e for e in listed if id(e) not in placed)
    links = tuple(_extra_links(site.config, existing))
    chosen = {
        "series": series,
        "posts": [Section(POSTS_SECTION, rest)],
        "optional": [Section(OPTIONAL_SECTION, optional, links)],
    }
    return [s for name in config.sections for s in chosen[name] if s.posts or s.links]


def _series_label(name: str, taken: set[str]) -> str:
    """A series' section name, never equal to another section's ("Posts", "Optional")."""
    label = " ".join(name.split())
    if label.casefold() in taken:
        label = f"Series: {label}"
    base, number = label, 1
    while label.casefold() in taken:
        number += 1
        label = f"{base} ({number})"
    taken.add(label.casefold())
    return label


def _full_order(site: Site, sections: list[Section]) -> list[RenderedPost]:
    """Posts for llms-full.txt and twins: llms.txt order, then unlisted posts newest first."""
    seen: dict[int, RenderedPost] = {}
    for section in sections:
        for entry in section.posts:
            seen.setdefault(id(entry), entry)
    for entry in site.posts:
        if entry.post.llms:
            seen.setdefault(id(entry), entry)
    return list(seen.values())


def _extra_links(config: SiteConfig, existing: set[str]) -> list[tuple[str, str, str]]:
    links = []
    if config.llms.full:
        links.append(("Every post in full", LLMS_FULL, "every post as Markdown, in one file"))
    if urls.RSS in existing:
        links.append(("RSS feed", urls.RSS, "the newest posts in full, as RSS"))
    if urls.JSON_FEED in existing:
        links.append(("JSON Feed", urls.JSON_FEED, "the same posts as JSON Feed 1.1"))
    return links


def llms_txt(site: Site, sections: list[Section], earlier: Earlier | None = None) -> str:
    """llms.txt: the title, the summary, how the site is organised, and the sections. A
    post's line whose inputs equal those in `earlier`'s build is taken from it."""
    config = site.config
    earlier = earlier or Earlier()
    lines = [f"# {heading_text(config.title)}", ""]
    if config.description.strip():
        lines += [f"> {inline_text(config.description)}", ""]
    lines += [_about(site, sections), ""]
    for section in sections:
        rows = []
        for entry in section.posts:
            inputs = (config, entry, site.proofs.get(entry.post.source))
            rows.append(
                earlier.value("line " + entry.post.source, inputs, partial(_post_line, *inputs))
            )
        rows += [link_line(t, absolute_url(config, p), n) for t, p, n in section.links]
        lines += [f"## {heading_text(section.name)}", "", *rows, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _about(site: Site, sections: list[Section]) -> str:
    """The prose paragraph: how the site is organised and where the Markdown lives."""
    config = site.config
    names = {section.name for section in sections}
    author = f" by {inline_text(config.author)}" if config.author.strip() else ""
    parts = [f"{inline_text(config.title)} is a blog{author}."]
    if names - {POSTS_SECTION, OPTIONAL_SECTION}:
        parts.append("Posts that form a series are listed under the series name, in reading order.")
    if POSTS_SECTION in names:
        parts.append(f"{_others(names)} are under “{POSTS_SECTION}”, newest first.")
    if OPTIONAL_SECTION in names:
        parts.append(f"“{OPTIONAL_SECTION}” holds what you can skip.")
    if config.llms.twins:
        files = any(twin_name(e.post) != TWIN for e in site.posts)
        html = " (for a page ending in `.html`, that name ending in `.md`)" if files else ""
        parts.append(
            "Each post link points to the post's Markdown twin: the post as its author wrote "
            f"it, with absolute links, at its page's URL followed by `{TWIN}`{html}."
        )
    else:
        parts.append("Each post link points to the post's HTML page.")
    if config.llms.full:
        full = encode_url(absolute_url(config, LLMS_FULL))
        parts.append(f"Every post in one file: [{LLMS_FULL}]({full}).")
    return " ".join(parts)


def _others(names: set[str]) -> str:
    series = names - {POSTS_SECTION, OPTIONAL_SECTION}
    return "The other posts" if series else "All posts"


def _post_line(config: SiteConfig, entry: RenderedPost, proof: PostProof | None) -> str:
    # The note is the description the post's page head has too, and how much code is checked.
    note = entry.description
    if proof is not None:
        why = f", {proof.reasons}" if proof.reasons else ""
        note = f"{note} (code checked: {proof.ratio} blocks{why})".lstrip()
    return link_line(entry.post.title, _post_url(config, entry.post), note)


def _post_url(config: SiteConfig, post: Post) -> str:
    return absolute_url(config, twin_path(post) if has_twin(config, post) else post.path)


def link_line(title: str, url: str, note: str) -> str:
    line = f"- [{inline_text(title)}]({encode_url(url)})"
    return f"{line}: {inline_text(note)}" if note.strip() else line


# --- llms-full.txt ---------------------------------------------------------------------


def _full_head(site: Site, ordered: Sequence[RenderedPost]) -> str:
    """llms-full.txt up to its first post."""
    config = site.config
    lines = [f"# {heading_text(config.title)}: every post in full", ""]
    if config.description.strip():
        lines += [f"> {inline_text(config.description)}", ""]
    index = encode_url(absolute_url(config, LLMS_TXT))
    count = f"{len(ordered)} post{'s' if len(ordered) != 1 else ''}"
    lines.append(
        f"The {count} of {inline_text(config.title)} as Markdown, in the order of "
        f"[{LLMS_TXT}]({index}). Each post begins after a `---` line with its title as a "
        "heading, then its date, topics and address."
    )
    return "\n".join(lines) + "\n"


# --- the Markdown twin -----------------------------------------------------------------


def twin(config: SiteConfig, entry: RenderedPost, proof: PostProof | None = None) -> str:
    """A post as clean Markdown: title, a metadata list, then the body as written (made
    by `twin_body` where the post was rendered); with `proof`, what check-code checked,
    in the list and after each output block."""
    post = entry.post
    lines = [f"# {heading_text(post.title)}", ""]
    lines.append(f"- Published: {post.date.date().isoformat()}")
    if post.updated:
        lines.append(f"- Updated: {post.updated.date().isoformat()}")
    if config.author.strip():
        lines.append(f"- Author: {inline_text(config.author)}")
    if post.tags:
        lines.append(f"- Topics: {', '.join(inline_text(t) for t in post.tags)}")
    if post.series:
        part = f", part {post.part}" if post.part else ""
        lines.append(f"- Series: {inline_text(post.series)}{part}")
    if post.summary.strip():
        lines.append(f"- Summary: {inline_text(post.summary)}")
    if proof is not None:
        lines.append(f"- Code checked: {_proof_line(proof)}")
    lines.append(f"- HTML version: {encode_url(absolute_url(config, post.path))}")
    body = entry.rendering.twin
    if proof is not None and body:
        body = with_notes(body, proof)
    return "\n".join(lines) + "\n" + ("\n" + body if body else "")


def _proof_line(proof: PostProof) -> str:
    """ "12 of 12 blocks, torch 2.13.0, 2026-12-03"."""
    why = f" ({proof.reasons})" if proof.reasons else ""
    done = f", {proof.tools}, {proof.last_date}" if proof.checked else ""
    return f"{proof.ratio} blocks{why}{done}"


def with_notes(body: str, proof: PostProof) -> str:
    """A twin body with a line after each output block of a python block saying whether
    it was checked (added to the cached body, as the page adds its notes to the cached
    HTML). The body keeps every fence of the post, so its output fences, in document
    order, are the post's; should their count differ, no note is added."""
    notes = {b.output_index: b.note for b in proof.blocks if b.output_index is not None}
    lines = body.rstrip("\n").split("\n")
    outputs = [f for f in scan(lines) if f.lang == "output"]
    if not notes or len(outputs) != proof.outputs:
        return body
    for index in sorted(notes, reverse=True):
        fence = outputs[index]
        prefix = fence.quote.rstrip()
        added = [prefix, f"{fence.quote}*{inline_text(notes[index])}*"]
        if fence.end + 1 < len(lines) and lines[fence.end + 1].strip(" >"):
            added.append(prefix)
        lines[fence.end + 1 : fence.end + 1] = added
    return "\n".join(lines) + "\n"


def twin_body(body: str, fold: int | None, base: str) -> str:
    """`body` without the fold line and headings' `{#id}`, fence options dropped, relative
    URLs made absolute."""
    lines = body.split("\n")
    # Fences inside blockquotes stay as written: their lines carry the quote prefix.
    found = scan(lines)
    fences = {f.start: f for f in found if not f.depth}
    quoted_code = {i for f in found if f.depth for i in range(f.start, f.end + 1)}
    out: list[str] = []
    prose: list[str] = []
    index = 0
    while index < len(lines):
        fence = fences.get(index)
        if index == fold:
            # Drop the marker and, between two blank lines, one of them.
            index += 2 if _blank(lines, index - 1) and _blank(lines, index + 1) else 1
            continue
        if fence is None:
            prose.append(lines[index] if index in quoted_code else _without_id(lines, index))
            index += 1
            continue
        out += _links_absolute("\n".join(prose), base).split("\n") if prose else []
        prose = []
        out += _bare_fence(lines, fence)
        index = fence.end + 1
    if prose:
        out += _links_absolute("\n".join(prose), base).split("\n")
    return "\n".join(out).strip("\n") + "\n" if "".join(out).strip() else ""


_QUOTE_PREFIX = re.compile(r"(?:>[ ]?)*")


def _without_id(lines: list[str], index: int) -> str:
    """Line `index` without the `{#id}` that names a heading's id: a reader of Markdown
    would see braces, and the id is in the page the twin's links point at."""
    line = lines[index]
    prefix = _QUOTE_PREFIX.match(line)
    quote = prefix.group(0) if prefix else ""
    following = lines[index + 1] if index + 1 < len(lines) else ""
    heading = heading_id(line[len(quote) :], following.removeprefix(quote))
    return line if heading is None else quote + heading[0]


def _blank(lines: list[str], index: int) -> bool:
    return 0 <= index < len(lines) and not lines[index].strip()


_MARKER = re.compile(r"^[ \t]*(`{3,}|~{3,})")


def _bare_fence(lines: list[str], fence: Fence) -> list[str]:
    """A fence's lines with its info string cut to the language; an unclosed one closed."""
    match = _MARKER.match(lines[fence.start])
    assert match is not None, "scan() returned a fence that does not start with a marker"
    marker = match.group(1)
    opening = fence.indent + marker + fence.lang
    block = [opening, *lines[fence.start + 1 : fence.end + 1]]
    if not fence.closed:
        code = lines[fence.start + 1 :]
        while code and not code[-1].strip():
            code.pop()
        block = [opening, *code, fence.indent + marker]
    return block


# --- making links absolute -------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_TICKS = re.compile(r"(?<![`\\])`+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# A reference definition: `[label]: dest "title"`; `[^1]:` is a footnote, not a link.
_REF_DEF = re.compile(
    r"^(?P<lead> {0,3}\[(?!\^)(?:[^\]\\\n]|\\.)+\]:[ \t]*\n?[ \t]*)"
    r"(?P<dest><[^>\n]*>|\S+)(?=[ \t]*(?:$|[ \t\n][ \t]*[\"'(]))",
    re.MULTILINE,
)
_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9-]*\s[^<>]*>")
_ATTR = re.compile(
    r"""(?P<lead>\b(?:href|src)\s*=\s*)(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'>]+))""",
    re.IGNORECASE,
)


def _links_absolute(text: str, base: str) -> str:
    """Every link, image and reference definition in `text` made absolute against `base`;
    code spans are left alone (fenced code never reaches here)."""
    text = _REF_DEF.sub(lambda m: m["lead"] + _absolute_dest(m["dest"], base), text)
    return "".join(
        piece if is_code else _inline_absolute(piece, base)
        for is_code, piece in _code_span_split(text)
    )


def _code_span_split(text: str) -> Iterator[tuple[bool, str]]:
    """`text` cut into (is code span, piece); a backtick run with no closing run is text."""
    last = position = 0
    while (opening := _TICKS.search(text, position)) is not None:
        ticks = opening.group(0)
        blank = _BLANK_LINE.search(text, opening.end())
        limit = blank.start() if blank else len(text)
        closing = re.compile(rf"(?<!`){ticks}(?!`)").search(text, opening.end(), limit)
        if closing is None:
            position = opening.end()
            continue
        yield False, text[last : opening.start()]
        yield True, text[opening.start() : closing.end()]
        last = position = closing.end()
    yield False, text[last:]


def _inline_absolute(text: str, base: str) -> str:
    text = _TAG.sub(lambda m: _ATTR.sub(lambda a: _attr_absolute(a, base), m.group(0)), text)
    out = []
    last = 0
    for match in re.finditer(r"(?<!\\)\]\(", text):
        if match.start() < last:
            continue
        span = _destination(text, match.end())
        if span is None:
            continue
        start, end = span
        out += [text[last:start], _absolute_dest(text[start:end], base)]
        last = end
    return "".join(out) + text[last:]


def _destination(text: str, start: int) -> tuple[int, int] | None:
    """(start, end) of the link destination that begins at or after `start`."""
    index = start
    while index < len(text) and text[index] in " \t":
        index += 1
    if index < len(text) and text[index] == "\n":
        index += 1
        while index < len(text) and text[index] in " \t":
            index += 1
    if index < len(text) and text[index] == "<":
        close = text.find(">", index)
        newline = text.find("\n", index)
        if close == -1 or (newline != -1 and newline < close):
            return None
        return index, close + 1
    depth, end = 0, index
    while end < len(text) and not text[end].isspace():
        char = text[end]
        if char == "\\":
            end += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        end += 1
    end = min(end, len(text))
    if end == index and not text.startswith(")", index):
        return None
    return index, end


def _attr_absolute(match: re.Match[str], base: str) -> str:
    value = next(v for v in (match["dq"], match["sq"], match["bare"]) if v is not None)
    quote_char = "'" if match["sq"] is not None else '"'
    return f"{match['lead']}{quote_char}{resolve(value, base)}{quote_char}"


def _absolute_dest(dest: str, base: str) -> str:
    inner = dest[1:-1] if dest.startswith("<") and dest.endswith(">") else dest
    return dest if _SCHEME.match(inner) else resolve(inner, base)


def resolve(url: str, base: str) -> str:
    """`url` resolved against `base` and percent-encoded; absolute URLs are kept as they are."""
    if _SCHEME.match(url):
        return url
    try:
        return encode_url(urljoin(base, url))
    except ValueError:  # a malformed URL (`//[::1`): kept as written; links.py reports it
        return url


# --- URLs and Markdown text ------------------------------------------------------------


def absolute_url(config: SiteConfig, path: str) -> str:
    return config.absolute(path)


def encode_url(url: str) -> str:
    """`url` with spaces, parentheses, angle brackets, quotes and non-ASCII percent-encoded,
    so that it is one token in Markdown and the llms.txt reference parser (no `)` allowed)."""
    if _PLAIN_URL.fullmatch(url):
        return url  # most URLs: nothing to encode, found in one pass
    parts = urlsplit(url)
    safe = "/:@!$&'*+,;=%~"
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            quote(parts.path, safe=safe),
            quote(parts.query, safe=safe + "?/"),
            quote(parts.fragment, safe=safe + "?/"),
        )
    )


# A URL `encode_url` gives back as it is: a lowercase scheme and a host (and port), or
# neither, then a path of letters, digits and `/._~-` (not starting `//`, which would be
# a host); no query or fragment. `urlsplit` and `urlunsplit` give such a URL back as it
# is, and `quote` changes none of its characters.
_PLAIN_URL = re.compile(
    r"(?:[a-z][a-z0-9+.\-]*://[A-Za-z0-9.\-]+(?::[0-9]+)?)?(?!//)[\w.~/\-]*", re.ASCII
)

_ENTITY_START = re.compile(r"&(?=[A-Za-z0-9#])")
_ESCAPED = re.compile(r"\\(?=[!-/:-@\[-`{-~]|$)")


def inline_text(text: str, heading: bool = False) -> str:
    """Plain text as Markdown inline content that shows exactly `text`, on one line.

    `[` and `]` become character references, because the llms.txt reference parser
    allows no `]` in a link title whatever the escaping. So do `<`, a backslash before
    punctuation, and an `&` that could start a reference. `` ` ``, `*` and `_` get a
    backslash, as does a leading block marker (`>`, `#`, `-`, `1.`) and, in a heading,
    a trailing `#`, which would close it.
    """
    if _plain(text) and not (heading and text.endswith("#")):
        return text  # most titles: nothing to do, found in one pass
    text = re.sub(r"[ \t\n\r\f\v]+", " ", text).strip(" ")
    text = _ENTITY_START.sub("&amp;", text)
    # A reference, not `\\`: markdown2 mangles `\\<`, `\\>` and a heading ending in `\\`.
    text = _ESCAPED.sub("&#92;", text).replace("<", "&lt;")
    text = re.sub(r"([`*_])", r"\\\1", text)
    text = text.replace("[", "&#91;").replace("]", "&#93;")
    if heading:
        text = re.sub(r"#+$", lambda m: "\\#" * len(m.group(0)), text)
    return _BLOCK_START.sub(_unblock, text, count=1)


def _plain(text: str) -> bool:
    """Whether `inline_text` gives `text` back as it is: no character it changes, single
    spaces inside only, and no block marker (nor a digit, nor a space) first nor a space
    last. Four quick scans: one regular expression for all of it took four times as long
    (a tenth of a second for llms.txt at 10,000 posts)."""
    return not (_CHANGED.search(text) or "  " in text or _LEADING.match(text) or text[-1:] == " ")


_CHANGED = re.compile(r"[\t\n\r\f\v&\\<`*_\[\]]")
_LEADING = re.compile(r"[ >#+\-~\d]")
# What would open a block (quote, heading, list, fence) if the text began a line.
_BLOCK_START = re.compile(r"^(?:[>#+\-]|\d+[.)]|~)")


def _unblock(match: re.Match[str]) -> str:
    marker = match.group(0)
    if marker == "~":
        return "&#126;"
    return marker[:-1] + "\\" + marker[-1]


def heading_text(text: str) -> str:
    return inline_text(text, heading=True)


# --- _headers --------------------------------------------------------------------------
#
# A constant number of pattern rules, whatever the number of posts: Cloudflare Pages counts
# at most 100 rules. Two hosts read the file and combine matching rules differently:
# Cloudflare Pages applies every matching rule in file order and joins repeated headers
# with a comma (`! Name` removes what an earlier rule set), while netlify-cli keeps the last
# matching rule's value. So every rule after the first that sets `Link` for a path starts
# with `! Link` and gives the whole value: on both hosts the last matching rule wins.
# Values name their targets by relative references (`<index.md>`, `<./>`), which a client
# resolves against the URL it asked for (RFC 8288, 3.2), because only Cloudflare documents
# placeholders in header values.

HeaderRule = tuple[str, tuple[str, ...]]
TWIN_ALTERNATE = '<index.md>; rel="alternate"; type="text/markdown"'
TWIN_CANONICAL = '<./>; rel="canonical"'


RULES_LIMIT = 100  # the most `_headers` rules Cloudflare Pages reads


def _headers_text(rules: list[HeaderRule], own: bytes | None) -> str:
    parts = [own.decode("utf-8", "replace").rstrip("\n") + "\n\n" if own and own.strip() else ""]
    parts.append(
        "# Written by blogkeeper: llms.txt v2 link relations, Markdown and JSON Feed types.\n"
    )
    for path, headers in rules:
        parts.append(path + "\n")
        parts += [f"  {header}\n" for header in headers]
    return "".join(parts)


def _left_out(count: int, line: int | None) -> ContentError:
    message = (
        f"_headers has no rules for the {count} posts at `.html` URLs: they need two each, "
        f"and Cloudflare Pages reads at most {RULES_LIMIT} rules"
    )
    hint = (
        "their pages' <link> elements still name their twins; hosts send them the `*.html` "
        "rule's link to llms.txt, and their twins with the host's own type for .md"
    )
    return ContentError("blog.toml", line, message, hint)


def _header_rules(
    site: Site,
    paths: list[str],
    given: tuple[object, ...],
    cache: Cache,
    memo: dict[int, tuple[object, bytes]],
) -> tuple[list[HeaderRule], int]:
    """`header_rules(site, paths)`, from `cache` if it holds them for `given` (all they
    read): making them reads every output path (50 ms at 10,000 posts), keying them
    only digests the paths."""
    key = Cache.key("headers", CODE, fingerprint(given, memo))
    try:
        rules, left_out = json.loads(cache.get(key) or b"null")
        return [(pattern, tuple(lines)) for pattern, lines in rules], int(left_out)
    except (ValueError, TypeError):  # none, or not one this code wrote
        pass
    made = header_rules(site, paths)
    cache.put(key, json.dumps(made).encode())
    return made


def header_rules(site: Site, paths: list[str]) -> tuple[list[HeaderRule], int]:
    """The `_headers` rules for a site whose outputs are `paths`: pattern rules for every
    page, post, twin and llms file, then one exact rule for each page the patterns give
    the wrong `Link` (a post with `llms: false`, a list page shaped like a post), and two
    for each post at `x.html` (its page and its twin `x.md`) while the rules stay within
    `RULES_LIMIT`; and how many `.html` posts are left out past it.

    Of `site` it reads only the config and each post's `path` and `llms` (`render_llms`
    keeps the rules while those and `paths` are unchanged)."""
    config = site.config
    base = encode_url(config.base_path)
    described = f'<{base}{LLMS_TXT}>; rel="describedby"'
    page = _llms_page_link(base, described)
    wanted = _page_links(site, paths, page, described)
    with_twins = [e.post for e in site.posts if has_twin(config, e.post)]
    twins = sorted({_shape(twin_path(post)) for post in with_twins if twin_name(post) == TWIN})
    rules: list[HeaderRule] = [
        (base + pattern, (f"Link: {page}",)) for pattern in ("", "*/", "*.html")
    ]
    shapes = [shape.removesuffix(TWIN) for shape in twins]
    for shape in shapes:
        rules.append((base + shape, ("! Link", f"Link: {TWIN_ALTERNATE}, {described}")))
    rules += _exceptions(base, wanted, shapes, page, f"{TWIN_ALTERNATE}, {described}")
    # A page not named index.html (404.html, a post at x.html) whose `Link` is not the
    # `*.html` rule's, and a `.html` post's twin (`x.md`, in no pattern): a rule each.
    singles = [p for p in sorted(wanted) if not _is_folder_page(p) and wanted[p] != page]
    files = sorted((p for p in with_twins if twin_name(p) != TWIN), key=lambda p: p.path)
    left_out = 0
    llms = [(base + name, (f"Content-Type: {MARKDOWN_TYPE}",)) for name in (LLMS_TXT, LLMS_FULL)]
    llms = [rule for rule in llms if rule[0].removeprefix(base) in paths]
    feeds = _json_feed_rules(base, paths)
    fixed = len(rules) + len(twins) + len(llms) + len(feeds)
    if fixed + len(singles) + len(files) > RULES_LIMIT:
        posts = {e.post.path for e in site.posts}
        singles = [p for p in singles if p not in posts]  # a post at x.html, not 404.html
        left_out, files = len([p for p in posts if p.endswith(urls.HTML)]), []
    for path in singles:
        rules.append((encode_url(base + path), ("! Link", f"Link: {wanted[path]}")))
    for shape in twins:
        canonical = f"Link: {TWIN_CANONICAL}, {described}"
        rules.append((base + shape, (f"Content-Type: {MARKDOWN_TYPE}", canonical)))
    for post in files:
        page_name = encode_url(post.path.rpartition("/")[2])  # a header value is ASCII
        canonical = f'Link: <{page_name}>; rel="canonical", {described}'
        twin_rule = (f"Content-Type: {MARKDOWN_TYPE}", canonical)
        rules.append((encode_url(base + twin_path(post)), twin_rule))
    return rules + llms + feeds, left_out


def _json_feed_rules(base: str, paths: list[str]) -> list[HeaderRule]:
    """The JSON Feed's own type, which hosts would send as application/json: one rule for
    the site's feed, one for all topics' and one for all series' (a placeholder each)."""
    name = urls.JSON_FEED.removeprefix(urls.FEED_FOLDER)
    rules: list[HeaderRule] = []
    for folder, pattern in (
        (urls.FEED_FOLDER, urls.FEED_FOLDER),
        (urls.TOPICS, urls.TOPICS + ":topic/"),
        (urls.SERIES, urls.SERIES + ":series/"),
    ):
        if any(p.startswith(folder) and p.endswith("/" + name) for p in paths):
            rules.append((base + pattern + name, (f"Content-Type: {urls.JSON_FEED_TYPE}",)))
    return rules


def _llms_page_link(base: str, described: str) -> str:
    return f'<{base}{LLMS_TXT}>; rel="alternate"; type="text/markdown", {described}'


def _page_links(site: Site, paths: list[str], page: str, described: str) -> dict[str, str]:
    """The `Link` value each HTML page must get: what its head says, as in llms.txt v2."""
    config = site.config
    posts = {urls.page_file(e.post.path): e.post for e in site.posts}
    links = {}
    for path in paths:
        if not path.endswith(".html"):
            continue
        post = posts.get(path)
        target = urls.markdown_alternate(config, post)
        if target is None:
            links[path] = described
        elif post is not None and has_twin(config, post):
            alternate = TWIN_ALTERNATE.replace(f"<{TWIN}>", f"<{encode_url(twin_name(post))}>")
            links[path] = f"{alternate}, {described}"
        else:
            links[path] = page
    return links


def _is_folder_page(path: str) -> bool:
    return path == urls.PAGE or path.endswith("/" + urls.PAGE)


def _shape(path: str) -> str:
    """A rule path matching every path with as many folders as `path`: 2026/03/x/index.md
    -> :p1/:p2/:p3/index.md (a placeholder matches one segment on both hosts)."""
    folders, _, name = path.rpartition("/")
    count = folders.count("/") + 1 if folders else 0
    return "".join(f":p{n}/" for n in range(1, count + 1)) + name


def _exceptions(
    base: str, wanted: dict[str, str], shapes: list[str], page: str, twin_link: str
) -> list[HeaderRule]:
    """Rules for the pages the pattern rules get wrong: a folder of such pages under one
    top-level name that holds no post gets two rules for the whole folder, any other page
    one rule of its own."""
    given = {
        path: twin_link if _shape(path.removesuffix(urls.PAGE)) in shapes else page
        for path in wanted
        if path.endswith("/" + urls.PAGE)
    }
    wrong = sorted(p for p, link in given.items() if link != wanted[p])
    rules: list[HeaderRule] = []
    for top in sorted({p.split("/")[0] for p in wrong}):
        under = {p: wanted[p] for p in given if p.split("/")[0] == top}
        values = set(under.values())
        if len(values) == 1 and twin_link not in values and len(under) > 2:
            link = f"Link: {values.pop()}"
            rules += [(f"{base}{top}/", ("! Link", link)), (f"{base}{top}/*/", ("! Link", link))]
            wrong = [p for p in wrong if p.split("/")[0] != top]
    for path in wrong:
        served = encode_url(base + urls.served_path(path))
        rules.append((served, ("! Link", f"Link: {wanted[path]}")))
    return rules
