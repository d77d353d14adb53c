"""What Jekyll and Hugo imports share: the report, a post body edited line by line with
its line numbers kept for the report, heading ids, math escapes, and writing the site.

It reads nothing and writes only in `write_site`, into the new site folder; it never
deletes anything.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import markdown2
import yaml

from blogkeeper.config import CONTROL
from blogkeeper.content import slugify
from blogkeeper.fences import indented_code, scan
from blogkeeper.render import EXTRAS

# Front matter keys that only told the old generator's theme what to do: dropped.
DROPPED = frozenset(
    [
        "layout",
        "comments",
        "mathjax",
        "math",
        "katex",
        "sitemap",
        "toc",
        "toc_label",
        "toc_sticky",
        "toc_icon",
        "share",
        "related",
        "showtoc",
        "tocopen",
        "hidemeta",
        "disablehljs",
        "disableshare",
        "showreadingtime",
        "showwordcount",
        "showbreadcrumbs",
        "showpostnavlinks",
        "hidesummary",
        "searchhidden",
        "usehugotoc",
        "type",
        "weight",
        "markup",
        "menu",
        "cover_hidden",
        "enablemathjax",
        "usemath",
        "use_math",
        "mermaid",
        "header_image_hidden",
        "read_time",
        "author_profile",
    ]
)


@dataclass(frozen=True)
class Note:
    """A place that needs the author: `path:line: what`."""

    path: str
    line: int | None
    what: str
    broken: bool = False  # a link that did not answer on the old site either

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}" if self.line else f"{self.path}: {self.what}"


@dataclass
class Report:
    """What an import did: posts written, conversions by kind, and places to look at."""

    posts: int = 0
    drafts: int = 0
    conversions: Counter[str] = field(default_factory=Counter)
    notes: list[Note] = field(default_factory=list)
    unresolved: int = 0  # links to old pages that were not imported
    urls: int = 0  # old URLs that answer in the new site (post pages and aliases)
    moved: int = 0  # posts whose old URL no blogkeeper URL can be (not among `urls`)

    def text(self) -> str:
        posts = f"{self.posts} post{'s' if self.posts != 1 else ''}"
        drafts = f"{self.drafts} draft{'s' if self.drafts != 1 else ''}"
        lines = [f"imported {posts} ({drafts}); {self.urls} old URLs kept (pages and aliases)"]
        if self.conversions:
            lines.append("converted:")
            lines += [f"  {n:5}  {kind}" for kind, n in sorted(self.conversions.items())]
        notes = sorted(self.notes, key=lambda n: (n.path != "blog.toml", n.path, n.line or 0))
        broken = [note for note in notes if note.broken]
        if broken:
            lines.append("links already broken on the old site (the build only warns):")
            lines += [f"  {note}" for note in broken]
        others = [note for note in notes if not note.broken]
        if others:
            lines.append("needs you:")
            lines += [f"  {note}" for note in others]
        return "\n".join(lines)


class Body:
    """A post body as lines, each remembering its line in the source file, so that notes
    made while converting name the line of the written post."""

    def __init__(self, text: str) -> None:
        self.lines: list[tuple[int, str]] = list(enumerate(text.split("\n")))
        self.notes: list[tuple[int, str, bool]] = []
        self.found: Counter[str] = Counter()
        self.key_notes: list[tuple[str, str]] = []

    def note(self, origin: int, what: str, broken: bool = False) -> None:
        self.notes.append((origin, what, broken))

    def note_key(self, key: str, what: str) -> None:
        """A note on a front matter key: placed at that key's line of the written file."""
        self.key_notes.append((key, what))

    def count(self, kind: str, n: int = 1) -> None:
        if n:
            self.found[kind] += n

    def edit(
        self, change: Callable[[int, str], str | None], only: Iterable[int] | None = None
    ) -> None:
        """Apply `change(origin, line)` to the lines (at the indexes `only`, if given);
        it returns the new text, which may hold newlines, or None to delete the line."""
        indexes = set(range(len(self.lines)) if only is None else only)
        kept = []
        for index, (origin, line) in enumerate(self.lines):
            new = change(origin, line) if index in indexes else line
            if new is not None:
                kept.append((origin, new))
        self.lines = kept

    def prose(self) -> list[int]:
        """Indexes of the lines outside fenced code (lines that edits made hold several
        are split first, each keeping its source line)."""
        self.lines = [(o, part) for o, line in self.lines for part in line.split("\n")]
        texts = [line for _, line in self.lines]
        inside = {i for f in scan(texts) for i in range(f.start, f.end + 1)}
        return [i for i in range(len(texts)) if i not in inside]

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def placed_notes(self, path: str, first_line: int) -> list[Note]:
        """The notes, at the lines of the written file whose body starts at `first_line`."""
        where: dict[int, int] = {}
        number = first_line
        for origin, line in self.lines:
            where.setdefault(origin, number)
            number += line.count("\n") + 1
        placed = []
        for origin, what, broken in self.notes:
            after = [where[o] for o in where if o >= origin]
            placed.append(Note(path, min(after) if after else number - 1, what, broken))
        return placed


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def drop_controls(body: Body) -> None:
    """Remove terminal colour codes and other control characters, which blogkeeper
    refuses (HTML forbids them): pasted program output is where they come from."""
    first: int | None = None
    removed = 0

    def change(origin: int, line: str) -> str:
        nonlocal first, removed
        new = CONTROL.sub("", ANSI.sub("", line))
        if new != line:
            first = origin if first is None else first
            removed += 1
        return new

    body.edit(change)
    if first is not None:
        body.count("lines with control characters (terminal colours) cleaned", removed)
        body.note(first, f"control characters (terminal colour codes) removed from {removed} lines")


def fence_indented_code(body: Body) -> None:
    """Indented code blocks (as `fences.indented_code` finds them) made fenced ones:
    blogkeeper keeps math, escapes and links out of fences, and a fence says where code
    ends without counting spaces."""
    body.prose()  # split lines that edits made hold several
    lines = body.lines
    texts = [text for _, text in lines]
    blocks = sorted(indented_code(texts, scan(texts)).items())
    for start, end in reversed(blocks):
        code = [re.sub(r"^(?: {4}|\t)", "", line) for _, line in lines[start : end + 1]]
        fence = "~~~~" if any(line.lstrip().startswith("~~~") for line in code) else "~~~"
        code[0] = f"{fence}\n{code[0]}"
        code[-1] = f"{code[-1]}\n{fence}"  # the same line when the block has one
        lines[start : end + 1] = [
            (o, c) for (o, _), c in zip(lines[start : end + 1], code, strict=True)
        ]
        body.count("indented code block made a fence")


SCRIPT_OPEN = re.compile(r"^\s*<script\b", re.IGNORECASE)
SCRIPT_CLOSE = re.compile(r"</script\s*>\s*$", re.IGNORECASE)


def drop_math_loaders(body: Body) -> None:
    """Remove `<script>` blocks that load MathJax or KaTeX: blogkeeper renders math
    itself (and markdown2 cannot read a script tag whose attributes span lines)."""
    prose = body.prose()
    drop: set[int] = set()
    start: int | None = None
    for index in prose:
        line = body.lines[index][1]
        if start is None and SCRIPT_OPEN.match(line):
            start = index
        if start is not None and SCRIPT_CLOSE.search(line):
            block = "\n".join(body.lines[i][1] for i in range(start, index + 1))
            if re.search(r"mathjax|katex", block, re.IGNORECASE):
                drop.update(range(start, index + 1))
                body.count("MathJax/KaTeX script removed (blogkeeper renders math)")
            start = None
    body.edit(lambda _, line: None, drop)


# ---- heading ids -----------------------------------------------------------------------

ATX = re.compile(r"^(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^(=+|-+)[ \t]*$")
EXPLICIT_ID = re.compile(r"[ \t]*\{:?[ \t]*#([\w:.-]+)[^}]*\}[ \t]*$")


def kramdown_id(text: str) -> str:
    """kramdown's own auto id (input: kramdown): letters, digits, spaces and dashes of the
    heading's source text, from its first letter, spaces as dashes, lower-cased."""
    text = re.sub(r"^[^a-zA-Z]+", "", text)
    text = re.sub(r"[^a-zA-Z0-9 -]", "", text)
    return text.replace(" ", "-").lower() or "section"


def gfm_id(text: str) -> str:
    """kramdown's GFM parser (Jekyll's default input) and GitHub: lower-cased, word
    characters, dashes, spaces and tabs kept, spaces and tabs as dashes."""
    text = re.sub(r"[^\w\- \t]", "", text.lower())
    return re.sub(r"[ \t]", "-", text)


def goldmark_id(text: str) -> str:
    """Hugo's default (goldmark, autoHeadingIDType "github") on the heading's plain text."""
    plain = re.sub(r"<[^>]*>", "", text)  # goldmark's text of a heading leaves raw HTML out
    plain = re.sub(r"`+|\*+|(?<!\w)_+|_+(?!\w)|!?\[([^\]]*)\]\([^)]*\)", r"\1", plain)
    kept = []
    for char in plain:
        if char in "- ":
            kept.append("-")
        elif char == "_" or char.isalnum():
            kept.append(char.lower())
    return "".join(kept) or "heading"


def dedupe_ruby(ids: list[str]) -> list[str]:
    """kramdown's and Hugo's rule for a repeated id: `a`, `a-1`, `a-2`."""
    seen: Counter[str] = Counter()
    out = []
    for value in ids:
        out.append(f"{value}-{seen[value]}" if seen[value] else value)
        seen[value] += 1
    return out


def blogkeeper_ids(texts: list[str]) -> list[str]:
    """The ids blogkeeper gives these headings, in order: markdown2's header ids (the
    extra blogkeeper renders with), made unique as blogkeeper makes every id of a page."""
    converter = markdown2.Markdown(extras=dict(EXTRAS))
    converter.convert("")  # a fresh document: no header ids counted yet
    seen = {"main"}
    out = []
    for text in texts:
        value = converter.header_id_from_text(text, "")
        candidate, number = value, 1
        while candidate in seen:
            number += 1
            candidate = f"{value}-{number}"
        seen.add(candidate)
        out.append(candidate)
    return out


def keep_heading_ids(body: Body, old_id: Callable[[str], str]) -> None:
    """Write `{#id}` on each heading whose id on the old site differs from blogkeeper's,
    so links to `post#section` keep landing."""
    prose = body.prose()
    headings: list[tuple[int, str, str]] = []  # index, text, explicit id
    for index in prose:
        line = body.lines[index][1]
        match = ATX.match(line)
        text = match.group(2) if match else None
        if match is None and index > 0 and index - 1 in prose and SETEXT.match(line):
            above = body.lines[index - 1][1]
            if above.strip() and not ATX.match(above) and not above.startswith((" ", "\t")):
                text, index = above.strip(), index - 1
        if text is None:
            continue
        explicit = EXPLICIT_ID.search(text)
        headings.append((index, text, explicit.group(1) if explicit else ""))
    auto = [h for h in headings if not h[2]]
    olds = dedupe_ruby([old_id(text) for _, text, _ in auto])
    news = blogkeeper_ids([text for _, text, _ in auto])
    changed = {}
    for (index, text, _), old, new in zip(auto, olds, news, strict=True):
        if old != new or "$" in text or "\\(" in text:
            changed[index] = old
    body.count("heading id kept with {#id}", len(changed))
    add_ids(body, changed)


def add_ids(body: Body, ids: dict[int, str]) -> None:
    """Append `{#id}` to the heading lines at these indexes (ATX, or setext text lines)."""
    for index, value in ids.items():
        origin, line = body.lines[index]
        match = ATX.match(line)
        if match:
            line = f"{match.group(1)} {match.group(2).rstrip()} {{#{value}}}"
        else:
            line = f"{line.rstrip()} {{#{value}}}"
        body.lines[index] = (origin, line)


# ---- math ------------------------------------------------------------------------------

# The escapes authors write in TeX only because Markdown would eat the character: `\\`
# (for `\`), `\_` and `\*`. Escapes that are TeX commands too (`\{`, `\|`, `\,`, `\#`)
# are kept as written: the author meant the TeX, whatever Markdown made of it.
MD_ESCAPE = re.compile(r"\\([\\_*])")
ESCAPED_MATH = re.compile(r"\\\\\((.+?)\\\\\)|\\\\\[(.+?)\\\\\]", re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:.+?)(?<!`)\1(?!`)")


def unescape_markdown(tex: str) -> str:
    """TeX written in prose with Markdown's escapes undone (`\\\\` -> `\\`, `\\_` -> `_`,
    `\\*` -> `*`): the TeX MathJax read on the old site."""
    return MD_ESCAPE.sub(r"\1", tex)


def outside_code_spans(line: str, change: Callable[[str], str]) -> str:
    """`change` applied to the parts of a line outside `code spans`."""
    parts, last = [], 0
    for match in CODE_SPAN.finditer(line):
        parts += [change(line[last : match.start()]), match.group(0)]
        last = match.end()
    return "".join([*parts, change(line[last:])])


def escaped_math(body: Body) -> None:
    """`\\\\( x \\\\)` and `\\\\[ x \\\\]` (delimiters escaped so Markdown would leave
    `\\(`/`\\[` for MathJax) become blogkeeper's `\\(`/`\\[` math, its TeX unescaped."""
    prose = body.prose()
    text = "\n".join(body.lines[i][1] for i in prose)
    if "\\\\(" not in text and "\\\\[" not in text:
        return

    def change(part: str) -> str:
        def math(match: re.Match[str]) -> str:
            body.count("escaped math delimiters \\\\( \\\\[ unescaped")
            if match.group(1) is not None:
                return "\\(" + unescape_markdown(match.group(1)) + "\\)"
            return "\\[" + unescape_markdown(match.group(2)) + "\\]"

        return ESCAPED_MATH.sub(math, part)

    for run in paragraph_runs(body):  # display math may span lines
        joined = "\n".join(body.lines[i][1] for i in run)
        if "\\\\(" in joined or "\\\\[" in joined:
            new = outside_code_spans(joined, change).split("\n")
            if len(new) == len(run):
                for i, line in zip(run, new, strict=True):
                    body.lines[i] = (body.lines[i][0], line)


DOLLAR_CONFIG = re.compile(r"""\[\s*['"]\$['"]\s*,\s*['"]\$['"]\s*\]|left:\s*['"]\$['"]""")
SINGLE_DOLLAR = re.compile(r"(?<![\\$])\$(?!\$)(?=\S)([^$\n]*?[^\s\\$])\$(?![$\d])")


MATH_LIBRARY = re.compile(r"mathjax|katex", re.IGNORECASE)
# TeX commands, sub- and superscripts, braces, operators, or a short name (`$n$`, `$G$`)
TEX_LIKE = re.compile(r"[\\^_{}=+<>*/|()]|^\w{1,3}'*$")


def dollar_is_math(places: list[Path], bodies: list[str], report: Report) -> bool:
    """Whether the old site read `$...$` as math. Its MathJax or KaTeX configuration
    says (`inlineMath: [['$','$']]`, `{left: '$', ...}`, goldmark passthrough's
    `['$', '$']`; by default neither reads `$`). When the source sets up neither (a theme
    kept outside the repository, switched on in the config), the posts say: math when most `$...$`
    spans look like math (a TeX command, `^`, `_`, braces, an operator, or a name of up
    to three letters like `$n$`); the report says which was chosen."""
    configured = False
    for place in places:
        try:
            text = place.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if DOLLAR_CONFIG.search(text):
            return True
        # In a template or script: the library set up. In a config file, `mathjax =
        # true` is a theme's switch; the theme's set-up (not in the source?) decides.
        setup = place.suffix not in (".toml", ".yaml", ".yml", ".json")
        configured = configured or (setup and bool(MATH_LIBRARY.search(text)))
    if configured:
        return False
    spans = [m.group(1) for body in bodies for m in SINGLE_DOLLAR.finditer(body)]
    if not spans:
        return False
    tex = sum(1 for span in spans if TEX_LIKE.search(span))
    math = 2 * tex >= len(spans)
    what = "math" if math else "text"
    report.notes.append(
        Note(
            "posts/",
            None,
            f"no MathJax or KaTeX configuration in the source (a theme kept elsewhere?): "
            f"`$...$` read as {what}, as {tex} of {len(spans)} look like math; check a post",
        )
    )
    return math


def escape_text_dollars(body: Body) -> None:
    """`$...$` was text on the old site: keep it text (`\\$`), not blogkeeper math."""

    def change(part: str) -> str:
        new, n = SINGLE_DOLLAR.subn(r"\\$\1\\$", part)
        body.count("single $ made \\$ (text on the old site)", n)
        return new

    body.edit(lambda _, line: outside_code_spans(line, change), body.prose())


def paragraph_runs(body: Body) -> list[list[int]]:
    """Indexes of each run of non-blank prose lines (a paragraph, a list, ...)."""
    prose = body.prose()
    runs: list[list[int]] = []
    current: list[int] = []
    for index in prose:
        if body.lines[index][1].strip() and (not current or current[-1] == index - 1):
            current.append(index)
        else:
            if current:
                runs.append(current)
            current = [index] if body.lines[index][1].strip() else []
    if current:
        runs.append(current)
    return runs


# ---- writing ---------------------------------------------------------------------------


@dataclass
class NewPost:
    """A converted post: where it goes under posts/, its front matter and body."""

    name: str
    source: str  # the old file, relative to the old site, for messages
    front: dict[str, Any]
    body: Body
    url: str  # its URL on the old site (and the new one), from the site root


@dataclass
class NewSite:
    config: dict[str, Any]
    posts: list[NewPost] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # static/ path -> old file


def keep_url(post: NewPost, pattern: str, predict: Callable[[NewPost], str]) -> None:
    """Make blogkeeper give `post` its old URL: from the site pattern as it is, else with
    a front matter `slug` that the pattern turns into the old URL, else with the post's
    own `permalink` (Jekyll categories in the URL, a date the pattern cannot give)."""
    if predict(post) == post.url:
        return
    if "slug" not in post.front:
        tokens = {"year": r"\d{4}", "month": r"\d\d", "day": r"\d\d"}
        regex = re.sub(
            r":(year|month|day|slug|title)",
            lambda m: f"({tokens[m.group(1)]})" if m.group(1) in tokens else "(?P<slug>[^/]+)",
            re.escape(pattern).replace("\\:", ":"),
        )
        match = re.fullmatch(regex, post.url)
        if match and match.group("slug"):
            post.front["slug"] = match.group("slug")
            if predict(post) == post.url:
                post.body.count("post URL kept with a front matter slug")
                return
            del post.front["slug"]
    post.front["permalink"] = post.url
    post.body.count("post URL kept with its own permalink")


def unify_names(posts: list[NewPost], report: Report) -> None:
    """One spelling per topic and series URL: the old site had one page for `NLP` and
    `nlp` (Jekyll and Hugo fold case), blogkeeper refuses two names on one URL. The
    spelling most posts use wins (the first seen on a tie)."""
    for key in ("tags", "series"):
        lists = {id(p): _names_of(p.front.get(key)) for p in posts}
        spellings: dict[str, Counter[str]] = {}
        for names in lists.values():
            for name in names:
                spellings.setdefault(slugify(name) or name, Counter())[name] += 1
        chosen: dict[str, str] = {}
        for counts in spellings.values():
            if len(counts) > 1:
                winner = counts.most_common(1)[0][0]
                chosen.update((name, winner) for name in counts)
                listed = ", ".join(f"`{n}`" for n in counts)
                what = f"{key} {listed} had one page on the old site: all written `{winner}`"
                report.notes.append(Note("posts/", None, what))
                report.conversions[f"{key} spellings merged"] += len(counts) - 1
        for post in posts:
            if key in post.front and chosen:
                names = list(dict.fromkeys(chosen.get(n, n) for n in lists[id(post)]))
                post.front[key] = names if key == "tags" else names[0]


def keep_aliases(posts: list[NewPost]) -> None:
    """Count each post's aliases, dropping those that are its own URL (Hugo lists it to
    redirect from a spelling before it lowercased URLs): blogkeeper refuses a redirect
    onto its own page, or one that differs from it only in case (one file on hosts that
    ignore case)."""
    for post in posts:
        aliases = post.front.get("aliases") or []
        own = post.url.rstrip("/")
        kept = [a for a in aliases if a.rstrip("/").casefold() != own.casefold()]
        for alias in aliases:
            if alias in kept:
                continue
            if alias.rstrip("/") == own:
                post.body.count("alias that is the post's own URL dropped")
            else:
                what = f"alias {alias} dropped: it differs from the post's URL only in case"
                post.body.note_key("aliases", f"{what}, so it no longer redirects")
        post.body.count("aliases kept", len(kept))
        if kept:
            post.front["aliases"] = kept
        else:
            post.front.pop("aliases", None)


def keep_updated(posts: list[NewPost]) -> None:
    """Drop an `updated` before the post's `date` (a theme's `lastmod` set by hand, or
    from a file's time), which blogkeeper refuses: a post is updated after it is out."""
    for post in posts:
        updated, date = post.front.get("updated"), post.front.get("date")
        if updated is not None and date is not None and _before(updated, date):
            del post.front["updated"]
            post.body.count("updated before date dropped")


def _before(a: dt.date, b: dt.date) -> bool:
    aware = [isinstance(v, dt.datetime) and v.tzinfo is not None for v in (a, b)]
    if all(aware):
        return a < b

    def moment(value: dt.date) -> tuple[dt.date, dt.time]:  # wall time: near enough here
        if isinstance(value, dt.datetime):
            return value.date(), value.replace(tzinfo=None).time()
        return value, dt.time()

    return moment(a) < moment(b)


def _names_of(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []


def front_matter(front: dict[str, Any]) -> str:
    text = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{text}---\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def blog_toml(config: dict[str, Any]) -> str:
    lines = []
    tables = {k: v for k, v in config.items() if isinstance(v, dict)}
    for key, value in config.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {toml_value(value)}")
    for name, table in tables.items():
        if table:
            lines += ["", f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def prepare_dir(target: Path) -> None:
    """Create `target`, or check it is an empty folder; never delete anything."""
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target}: is a file, not a folder")
    if target.is_dir() and any(target.iterdir()):
        raise ValueError(f"{target}: is not empty (import writes only into a new or empty folder)")
    target.mkdir(parents=True, exist_ok=True)


def write_site(site: NewSite, target: Path, report: Report) -> None:
    (target / "blog.toml").write_text(blog_toml(site.config), encoding="utf-8")
    (target / "posts").mkdir()
    (target / "static").mkdir()
    by_key: dict[str, list[Note]] = {}
    for post in site.posts:
        post.front = _without_controls(post.front)
        head = front_matter(post.front)
        path = target / "posts" / post.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(head + post.body.text().rstrip("\n") + "\n", encoding="utf-8")
        first = head.count("\n") + 1
        where = f"posts/{post.name}"
        head_lines = head.split("\n")
        for key, what in post.body.key_notes:
            line = next(
                (n for n, text in enumerate(head_lines, 1) if text.lstrip().startswith(key + ":")),
                1,
            )
            by_key.setdefault(what, []).append(Note(where, line, what))
        report.notes += post.body.placed_notes(where, first)
        report.conversions.update(post.body.found)
    for what, places in by_key.items():  # one line per front matter key, not per post
        others = len(places) - 1
        more = f" (and in {others} more post{'s' if others != 1 else ''})" if others else ""
        report.notes.append(Note(places[0].path, places[0].line, what + more))
    for name, old in sorted(site.files.items()):
        dest = target / "static" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(old, dest)


def _without_controls(value: Any) -> Any:
    """Front matter values without control characters (blogkeeper refuses them)."""
    if isinstance(value, dict):
        return {k: _without_controls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_controls(v) for v in value]
    return CONTROL.sub("", ANSI.sub("", value)) if isinstance(value, str) else value


def plain(value: Any) -> Any:
    """A front matter value YAML can write back: dates and the like as they are, other
    objects as text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | dt.date):
        return value
    return str(value)


def date_value(value: Any) -> dt.date | dt.datetime | None:
    """A front matter date as a date or datetime, from what YAML, TOML or a string gave."""
    if isinstance(value, dt.datetime | dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    text = re.sub(r"^(\d{4}-\d\d-\d\d)[ T](\d\d?:\d\d(?::\d\d)?(?:\.\d+)?)\s*", r"\1 \2", text)
    text = re.sub(r" ?([+-]\d\d):?(\d\d)$", r"+\1:\2", text).replace("++", "+").replace("+-", "-")
    text = re.sub(r" ?(Z|UTC)$", "+00:00", text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if len(text) == 10:
        return parsed.date()
    return parsed
