"""Output for language models: Markdown twins, /llms.txt, /llms-full.txt and `_headers`.

Follows llms.txt v2 (llmstxt.org): each post gets a Markdown twin at `{post.path}index.md`,
llms.txt maps the site in sections of `- [Title](url): notes` lines, llms-full.txt holds
every twin, and `_headers` (Netlify / Cloudflare Pages) repeats the pages' `<link>`
relations as HTTP `Link:` headers. Twins come from the author's Markdown, never from HTML
converted back; a `memo` can keep their bodies between builds. Pure: `Site` and outputs
in, `Output` values out; no file is read or written.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from blogkeeper.cache import code_digest, digest
from blogkeeper.config import SiteConfig
from blogkeeper.content import Post
from blogkeeper.fences import Fence, scan

if TYPE_CHECKING:
    from blogkeeper.cache import FileMemo, Memo
    from blogkeeper.site import Output, RenderedPost, Site

LLMS_TXT = "llms.txt"
LLMS_FULL = "llms-full.txt"
TWIN_NAME = "index.md"
HEADERS = "_headers"
FEED_PATH = "feed/rss.xml"
MARKDOWN_TYPE = "text/markdown; charset=utf-8"
POSTS_SECTION = "Posts"
OPTIONAL_SECTION = "Optional"


# --- which pages link what -------------------------------------------------------------


def twin_path(post: Post) -> str:
    """A post's Markdown twin, relative to the site root: `2026/03/slug/index.md`."""
    return post.path + TWIN_NAME


def has_twin(config: SiteConfig, post: Post) -> bool:
    return config.llms.enabled and config.llms.twins and post.llms


def markdown_alternate(config: SiteConfig, post: Post | None = None) -> str | None:
    """The site path a page's `text/markdown` alternate points at, or None for no link.

    A post links its twin (llms.txt when twins are off); other pages link llms.txt; a
    post whose front matter says `llms: false` links nothing.
    """
    if not config.llms.enabled or (post is not None and not post.llms):
        return None
    if post is not None and has_twin(config, post):
        return twin_path(post)
    return LLMS_TXT


# --- the build step --------------------------------------------------------------------


@dataclass
class Kept:
    """What `render_llms` keeps between builds (each optional): twin bodies by post
    (`bodies`, where render workers put them), small results by a hash of their whole
    input (`memo`: llms.txt lines, the index of the twin pack), and in `pack`, by a hash
    of their whole input, `_headers` and every twin of the site in one file, so that a
    rebuild reads one file, not one per post."""

    bodies: FileMemo | None = None
    memo: Memo | None = None
    pack: FileMemo | None = None


def render_llms(
    site: Site,
    generated: list[Output],
    static: list[Output],
    memo: FileMemo | Kept | None = None,
) -> tuple[list[Output], list[Output]]:
    """(`generated` plus the LLM outputs, `static` minus a `_headers` merged into ours).

    `generated` must already hold every HTML page and the feed: `_headers` gets a rule for
    each page, and llms.txt links the feed only when it exists. `memo`: see `Kept` (a
    `FileMemo` alone is `Kept.bodies`).
    """
    config = site.config
    if not config.llms.enabled:
        return generated, static
    from blogkeeper.site import Output

    kept = memo if isinstance(memo, Kept) else Kept(bodies=memo)
    config_key = _config_key(config) if kept.memo is not None or kept.pack is not None else ""
    sections = plan_sections(site, {o.path for o in [*generated, *static]})
    ordered = _full_order(site, sections)
    wanted = config.llms.full or config.llms.twins
    twins = _twins(config, ordered, kept, config_key) if wanted else []  # once, for both uses
    outputs = [Output(LLMS_TXT, llms_txt(site, sections, kept.memo, config_key).encode())]
    if config.llms.full:
        head = _full_head(site, ordered).encode()
        # `b"".join(b"\n---\n\n" + t ...)` without a copy of each twin.
        body = b"\n---\n\n" + b"\n---\n\n".join(twins) if twins else b""
        outputs.append(Output(LLMS_FULL, head + body))
    if config.llms.twins:
        outputs += [Output(twin_path(e.post), t) for e, t in zip(ordered, twins, strict=True)]
    own = next((o for o in static if o.path == HEADERS), None)
    paths = sorted(o.path for o in [*generated, *outputs])
    data = _kept_headers(site, paths, own.data if own else None, kept.pack, config_key)
    outputs.append(Output(HEADERS, data))
    return [*generated, *outputs], [o for o in static if o is not own]


def _config_key(config: SiteConfig) -> str:
    """Stands for the site's settings and blogkeeper's code in every key of `Kept`."""
    return digest("llms", code_digest("blogkeeper"), repr(config))


def _twins(
    config: SiteConfig, ordered: Sequence[RenderedPost], kept: Kept, config_key: str
) -> list[bytes]:
    """The twin of each post in `ordered`, encoded; from `kept.pack` where it holds one
    made from the same post and settings (keyed by a hash of both), else made."""
    if kept.memo is None or kept.pack is None:
        return [twin(config, e, kept.bodies).encode() for e in ordered]
    keys = [_twin_pack_key(config_key, e.post) for e in ordered]
    old = _unpacked(kept.memo, kept.pack, config_key)
    twins = [
        _packed(old, key, config, e, kept.bodies) for key, e in zip(keys, ordered, strict=True)
    ]
    index = [[key, len(t)] for key, t in zip(keys, twins, strict=True)]
    pack_key = _index_key(config_key, index)
    last = kept.memo.get(_pack_name(config_key))
    if last != [pack_key, index] or any(key not in old for key in keys):  # new, or damaged
        kept.pack.put(pack_key, b"".join(twins))
        kept.memo[_pack_name(config_key)] = [pack_key, index]
        if isinstance(last, list) and last and last[0] != pack_key:
            kept.pack.used.discard(last[0])  # replaced: let `prune` delete it
    return twins


def _packed(
    old: dict[str, bytes],
    key: str,
    config: SiteConfig,
    entry: RenderedPost,
    bodies: FileMemo | None,
) -> bytes:
    kept = old.get(key)
    return kept if kept is not None else twin(config, entry, bodies).encode()


def _twin_pack_key(config_key: str, post: Post) -> str:
    """A hash of everything a post's twin is made from: every field of `post` (its body
    hashed as is: `repr` of a long text costs more than hashing it), or the hash they are
    a function of, and the settings."""
    if post.key:
        return digest(config_key, "post", post.key)
    fields = [
        getattr(post, f.name) for f in dataclasses.fields(post) if f.repr and f.name != "body"
    ]
    return digest(config_key, repr(fields), post.body)


def _index_key(config_key: str, index: object) -> str:
    """The pack's key: a hash of its index, so that a damaged index finds no pack."""
    return digest(config_key, json.dumps(index))


def _pack_name(config_key: str) -> str:
    # One entry points to the latest pack: its place is known before any post is hashed.
    return digest("twin pack", config_key)


def _unpacked(memo: Memo, pack: FileMemo, config_key: str) -> dict[str, bytes]:
    """The twins in the pack the last build wrote, by key; {} if missing or damaged."""
    entry = memo.get(_pack_name(config_key))
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
        return {}
    pack_key, index = entry
    valid = isinstance(index, list) and all(
        isinstance(i, list)
        and len(i) == 2
        and isinstance(i[0], str)
        and isinstance(i[1], int)
        and not isinstance(i[1], bool)
        and i[1] >= 0
        for i in index
    )
    data = pack.get(pack_key) if valid and pack_key == _index_key(config_key, index) else None
    if data is None or sum(size for _, size in index) != len(data):
        return {}
    found = {}
    start = 0
    for key, size in index:
        found[key] = data[start : start + size]
        start += size
    return found


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
    if FEED_PATH in existing:
        links.append(("RSS feed", FEED_PATH, "the newest posts in full, as RSS"))
    return links


def llms_txt(
    site: Site, sections: list[Section], memo: Memo | None = None, config_key: str = ""
) -> str:
    """llms.txt; `memo` keeps each post's line by a hash of what it is made from
    (`config_key` standing for the settings and the code)."""
    config = site.config
    lines = [f"# {heading_text(config.title)}", ""]
    if config.description.strip():
        lines += [f"> {inline_text(config.description)}", ""]
    lines += [_about(site, sections), ""]
    for section in sections:
        rows = [_post_line(config, e, memo, config_key) for e in section.posts]
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
        parts.append(
            "Each post link points to the post's Markdown twin: the post as its author wrote "
            f"it, with absolute links, at its page's URL followed by `{TWIN_NAME}`."
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


def _post_line(config: SiteConfig, entry: RenderedPost, memo: Memo | None, config_key: str) -> str:
    post = entry.post
    if memo is None:
        return link_line(post.title, _post_url(config, post), _note(entry))
    if post.key and entry.html_key:  # hashes the post and its intro are functions of
        key = digest(config_key, "line keys", post.key, entry.html_key)
    else:  # the note is the summary, else made from the intro: the key needs only one
        described = ("s", post.summary) if post.summary else ("i", entry.intro)
        key = digest(config_key, "line", post.title, post.path, str(post.llms), *described)
    line = memo.get(key)
    if not isinstance(line, str):
        line = link_line(post.title, _post_url(config, post), _note(entry))
        memo[key] = line
    return line


def _post_url(config: SiteConfig, post: Post) -> str:
    return absolute_url(config, twin_path(post) if has_twin(config, post) else post.path)


def _note(entry: RenderedPost) -> str:
    """A post's note in llms.txt: the description its page's head has too."""
    from blogkeeper.pages import post_description

    return post_description(entry)


def link_line(title: str, url: str, note: str) -> str:
    line = f"- [{inline_text(title)}]({encode_url(url)})"
    return f"{line}: {inline_text(note)}" if note.strip() else line


# --- llms-full.txt ---------------------------------------------------------------------


def llms_full(
    site: Site, ordered: Sequence[RenderedPost], twins: Sequence[str] | None = None
) -> str:
    """Every post's twin after a header; `twins`, when given, are those of `ordered`."""
    if twins is None:
        twins = [twin(site.config, entry) for entry in ordered]
    # One join: adding each twin to a growing string copies it again for every post.
    return _full_head(site, ordered) + "".join("\n---\n\n" + t for t in twins)


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


def twin(config: SiteConfig, entry: RenderedPost, memo: FileMemo | None = None) -> str:
    """A post as clean Markdown: title, a metadata list, then the body as written.

    The body, the costly part, comes from `entry.twin` when that was made for this
    URL, else from `memo` when given (where render workers put it), kept by a hash of
    its inputs.
    """
    post = entry.post
    page = absolute_url(config, post.path)
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
    lines.append(f"- HTML version: {encode_url(page)}")
    # Made by the process that rendered the post, if for this URL (the site's may differ).
    if entry.twin is not None and entry.twin[0] == page:
        body = entry.twin[1]
    else:
        key = twin_key(post.fold, page, post.body)
        kept = _kept(memo.get(key)) if memo is not None else None
        body = twin_body(post.body, post.fold, page) if kept is None else kept
        if memo is not None and kept is None:
            memo.put(key, body.encode("utf-8", "surrogatepass"))
    return "\n".join(lines) + "\n" + ("\n" + body if body else "")


def twin_key(fold: int | None, page: str, body: str) -> str:
    """The `memo` key of a twin's body: a hash of everything it is made from."""
    return digest(str(fold), page, body)


def _kept(data: bytes | None) -> str | None:
    try:
        return None if data is None else data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # a damaged memo file: make the twin again
        return None


def twin_body(body: str, fold: int | None, base: str) -> str:
    """`body` without the fold line, fence options dropped, relative URLs made absolute."""
    lines = body.split("\n")
    fences = {f.start: f for f in scan(lines)}
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
            prose.append(lines[index])
            index += 1
            continue
        out += _links_absolute("\n".join(prose), base).split("\n") if prose else []
        prose = []
        out += _bare_fence(lines, fence)
        index = fence.end + 1
    if prose:
        out += _links_absolute("\n".join(prose), base).split("\n")
    return "\n".join(out).strip("\n") + "\n" if "".join(out).strip() else ""


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
    return encode_url(urljoin(base, url))


# --- URLs and Markdown text ------------------------------------------------------------


def absolute_url(config: SiteConfig, path: str) -> str:
    return config.absolute(path)


def encode_url(url: str) -> str:
    """`url` with spaces, parentheses, angle brackets, quotes and non-ASCII percent-encoded,
    so that it is one token in Markdown and the llms.txt reference parser (no `)` allowed)."""
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
    text = re.sub(r"[ \t\n\r\f\v]+", " ", text).strip(" ")
    text = _ENTITY_START.sub("&amp;", text)
    # A reference, not `\\`: markdown2 mangles `\\<`, `\\>` and a heading ending in `\\`.
    text = _ESCAPED.sub("&#92;", text).replace("<", "&lt;")
    text = re.sub(r"([`*_])", r"\\\1", text)
    text = text.replace("[", "&#91;").replace("]", "&#93;")
    if heading:
        text = re.sub(r"#+$", lambda m: "\\#" * len(m.group(0)), text)
    return _BLOCK_START.sub(_unblock, text, count=1)


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


def _kept_headers(
    site: Site, paths: list[str], own: bytes | None, files: FileMemo | None, config_key: str
) -> bytes:
    """`headers_file` for outputs at `paths` (sorted), encoded, kept in `files` by a hash
    of all it is made from: the settings and code (`config_key`), `own`, the paths, and
    each post's path and whether it has a twin."""
    if files is None:
        return _headers_text(site, paths, own).encode()
    posts = [f"{e.post.path}\0{e.post.llms}" for e in site.posts]
    key = digest(config_key, "headers", own or b"", "\n".join(paths), "\n".join(posts))
    data = files.get(key)
    if data is None:
        data = _headers_text(site, paths, own).encode()
        files.put(key, data)
    return data


def headers_file(site: Site, outputs: Sequence[Output], own: bytes | None) -> str:
    """Netlify / Cloudflare Pages `_headers`: each HTML page's `Link:` relations, and the
    Markdown files' content type. The site's own `static/_headers` comes first, unchanged.

    One rule per path and no wildcards: Netlify lets a later matching rule replace a
    header where Cloudflare joins them, so only non-overlapping rules mean the same on both.
    """
    return _headers_text(site, sorted(o.path for o in outputs), own)


def _headers_text(site: Site, paths: list[str], own: bytes | None) -> str:
    config = site.config
    posts = {e.post.path + "index.html": e.post for e in site.posts}
    twins = {twin_path(e.post): e.post for e in site.posts if has_twin(config, e.post)}
    parts = [own.decode("utf-8", "replace").rstrip("\n") + "\n\n" if own and own.strip() else ""]
    parts.append(
        "# Written by blogkeeper: llms.txt v2 link relations and Markdown content types.\n"
    )
    for path in paths:
        headers = _headers_for(config, path, posts, twins)
        if headers:
            parts.append(encode_url(config.base_path + _url_path(path)) + "\n")
            parts += [f"  {header}\n" for header in headers]
    return "".join(parts)


def _headers_for(
    config: SiteConfig, path: str, posts: dict[str, Post], twins: dict[str, Post]
) -> list[str]:
    described = f'<{encode_url(config.base_path + LLMS_TXT)}>; rel="describedby"'
    if path.endswith(".html"):
        target = markdown_alternate(config, posts.get(path))
        if target is None:
            return [f"Link: {described}"]
        alternate = f'<{encode_url(config.base_path + target)}>; rel="alternate"'
        return [f'Link: {alternate}; type="text/markdown", {described}']
    if path in twins:
        canonical = encode_url(absolute_url(config, twins[path].path))
        return [
            f"Content-Type: {MARKDOWN_TYPE}",
            f'Link: <{canonical}>; rel="canonical", {described}',
        ]
    if path in (LLMS_TXT, LLMS_FULL):
        return [f"Content-Type: {MARKDOWN_TYPE}"]
    return []


def _url_path(path: str) -> str:
    """The URL path a file is served at: `x/index.html` → `x/`."""
    if path == "index.html":
        return ""
    return path.removesuffix("index.html") if path.endswith("/index.html") else path
