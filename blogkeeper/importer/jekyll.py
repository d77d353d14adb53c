"""Read a Jekyll site (kramdown, Liquid) into a `NewSite`: blog.toml values, converted
posts with their old URLs, and the old site's pages and files for the link check.

It reads the source folder and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from blogkeeper.content import slugify
from blogkeeper.fences import fence_marker
from blogkeeper.importer import common
from blogkeeper.importer.common import Body, NewPost, NewSite, Report
from blogkeeper.importer.links import OldSite

POST_NAME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)-(.+)\.(md|markdown|mkd|mkdn|mdown)$")
STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
}
# What a blogkeeper URL may not hold (`urls.path_problem`), as a run.
UNSAFE_IN_URL = re.compile(r"[?#\\%*:\s]+")
SKIP_DIRS = {"_site", "node_modules", "vendor", ".git", ".bundle", ".jekyll-cache", ".sass-cache"}


def detect(source: Path) -> bool:
    return (source / "_posts").is_dir()  # _config.yml is optional: Jekyll has defaults


def read_site(source: Path, report: Report) -> tuple[NewSite, OldSite, Callable[[str], str]]:
    config = _config(source)
    base = urlsplit(str(config.get("baseurl") or "")).path.strip("/")
    base_path = f"/{base}/" if base else "/"
    url = str(config.get("url") or "").rstrip("/")
    pattern = str(config.get("permalink") or "date")
    pattern = STYLES.get(pattern, pattern)
    tz = _timezone(config, report)
    kramdown = config.get("kramdown") if isinstance(config.get("kramdown"), dict) else {}
    gfm = str((kramdown or {}).get("input", "GFM")).lower() == "gfm"
    old_id = common.gfm_id if gfm else common.kramdown_id
    if (kramdown or {}).get("parse_block_html"):
        what = "kramdown's parse_block_html: Markdown inside HTML blocks is shown as written"
        report.notes.append(common.Note("_config.yml", None, what + " in blogkeeper; check them"))
    new_pattern = _pattern(pattern)
    site = NewSite(_blog_toml(config, url, base, tz, new_pattern, report))
    exclude = config.get("exclude") if isinstance(config.get("exclude"), list) else []
    files, excluded = _post_files(source, [str(p) for p in exclude or []])
    files.sort()
    if excluded:
        what = f"{excluded} posts not imported: `exclude` leaves them out of the old site"
        report.notes.append(common.Note("_config.yml", None, what))
    drafts = [p for p in (source / "_drafts").rglob("*") if p.is_file()]
    if drafts:
        report.notes.append(
            common.Note(
                "_drafts/", None, f"{len(drafts)} drafts not imported (no date to give them)"
            )
        )
    by_name = {}
    for path in files:
        post = _read_post(source, path, config, pattern, tz, report)
        if post is not None:
            by_name[path.stem] = post
            site.posts.append(post)
    bodies = [post.body.text() for post in site.posts]
    dollar_math = common.dollar_is_math(_math_config_files(source), bodies, report)
    for post in site.posts:
        _convert_body(post, by_name, base_path, dollar_math, source, url)
        if str(config.get("markdown") or "kramdown").lower() == "kramdown":
            inline_dollars(post.body)
        common.keep_heading_ids(post.body, old_id)
        if "permalink" not in post.front:
            common.keep_url(post, new_pattern, lambda p: predict(new_pattern, p, tz))
    return site, _old_site(source, base_path), old_id


def _config(source: Path) -> dict[str, Any]:
    if not (source / "_config.yml").exists():
        return {}  # Jekyll's defaults
    try:
        data = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{source / '_config.yml'}: not valid YAML: {exc}") from None
    return data if isinstance(data, dict) else {}


def _timezone(config: dict[str, Any], report: Report) -> str:
    name = str(config.get("timezone") or "")
    try:
        zoneinfo.ZoneInfo(name)
        return name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        what = f"timezone {name!r} unknown" if name else "no timezone"
        report.notes.append(
            common.Note(
                "blog.toml",
                None,
                f"{what}: UTC assumed (Jekyll used the build machine's); check dates near midnight",
            )
        )
        return "UTC"


def _pattern(jekyll: str) -> str:
    """The blog.toml pattern nearest Jekyll's: without `:categories` (a post with
    categories gets its own permalink), `:output_ext` as `.html`; a pattern with tokens
    blogkeeper lacks (`:i_month`, `:y_day`) becomes Jekyll's default without categories."""
    pattern = jekyll.replace("/:categories", "").replace(":output_ext", ".html")
    if re.search(r":(?!year|month|day|title|slug)\w+", pattern) or not re.search(
        r":(title|slug)", pattern
    ):
        return "/:year/:month/:day/:title.html"
    if not pattern.endswith(("/", ".html")):
        pattern += ".html"
    return pattern if pattern.startswith("/") else "/" + pattern


def _blog_toml(
    config: dict[str, Any], url: str, base: str, tz: str, pattern: str, report: Report
) -> dict[str, Any]:
    author = config.get("author")
    if isinstance(author, dict):
        author = author.get("name")
    if not url.startswith(("http://", "https://")):
        report.notes.append(
            common.Note(
                "blog.toml",
                None,
                "no `url` in _config.yml: https://example.org/ written; set the real one",
            )
        )
        url = "https://example.org"
    values: dict[str, Any] = {
        "title": str(config.get("title") or config.get("name") or "My blog"),
        "url": f"{url}/{base}/" if base else f"{url}/",
        "description": str(config.get("description") or ""),
        "author": str(author or ""),
        "timezone": tz,
        "permalink": pattern,
    }
    if isinstance(config.get("paginate"), int) and config["paginate"] > 0:
        values["posts_per_page"] = config["paginate"]
    return {k: v for k, v in values.items() if v != ""}


def _post_files(source: Path, exclude: list[str]) -> tuple[list[Path], int]:
    """The post files, and how many more `exclude` (from _config.yml) leaves out."""
    found, excluded = [], 0
    for folder in source.rglob("_posts"):
        parts = folder.relative_to(source).parts
        if folder.is_dir() and not SKIP_DIRS.intersection(parts):
            for path in folder.rglob("*"):
                if path.is_file() and POST_NAME.match(path.name):
                    if _excluded(path.relative_to(source).as_posix(), exclude):
                        excluded += 1
                    else:
                        found.append(path)
    return found, excluded


def _excluded(path: str, patterns: list[str]) -> bool:
    """Whether Jekyll's `exclude` leaves out the file at `path` (from the source): a
    pattern names it, or a folder above it, as a path or a glob."""
    for pattern in patterns:
        pattern = pattern.strip("/")
        if pattern and (
            fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/") or path == pattern
        ):
            return True
    return False


FRONT_MATTER = re.compile(r"---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|$)", re.DOTALL)


def split(text: str) -> tuple[dict[str, Any], str, int] | None:
    """Front matter, body and the body's first line (1-based), or None without one."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    match = FRONT_MATTER.match(text)
    if not match:
        return None
    data = yaml.safe_load(match.group(1) or "") or {}
    if not isinstance(data, dict):
        raise yaml.YAMLError("front matter is not a mapping")
    return data, text[match.end() :], text[: match.end()].count("\n") + 1


def _unreadable_front(
    text: str, error: yaml.YAMLError, where: str, report: Report
) -> tuple[dict[str, Any], str, int] | None:
    """A post whose front matter is not valid YAML, as Jekyll publishes it: with none (the
    title from the file name, the date from it too); the front matter is kept in an
    HTML comment above the body, reported. None if there is no front matter at all."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    match = FRONT_MATTER.match(text)
    if not match:
        return None
    mark = getattr(error, "problem_mark", None)
    at = f" at line {mark.line + 2}" if mark is not None else ""  # after the `---` line
    problem = str(getattr(error, "problem", None) or "not a mapping")
    what = f"front matter is not valid YAML ({problem}{at}): imported as Jekyll published it, "
    report.notes.append(
        common.Note(where, None, what + "with none; the old one is kept in a comment at the top")
    )
    kept = (match.group(1) or "").replace("-->", "-- >")
    comment = f"<!-- front matter that was not valid YAML:\n{kept}-->\n\n"
    return {}, comment + text[match.end() :], 1


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


def _read_post(
    source: Path, path: Path, config: dict[str, Any], pattern: str, tz: str, report: Report
) -> NewPost | None:
    where = path.relative_to(source).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        report.notes.append(common.Note(where, None, f"not imported: {exc}"))
        return None
    try:
        parts = split(text)
    except yaml.YAMLError as exc:
        parts = _unreadable_front(text, exc, where, report)
    if parts is None:
        report.notes.append(common.Note(where, None, "not imported: no front matter"))
        return None
    data, text, _ = parts
    name = POST_NAME.match(path.name)
    assert name is not None
    stem_title = name.group(4)
    date = common.date_value(data.get("date")) or dt.date(*map(int, name.group(1, 2, 3)))
    categories = [
        *_folder_categories(source, path),
        *_names(data.get("categories")),
        *_names(data.get("category")),
    ]
    body = Body(text)
    front = _front(data, stem_title, date, categories, body)
    if path.suffix != ".md":
        body.count(".markdown file renamed .md")
    # folders above and below _posts/ kept, so two posts of one name stay two files
    folders = [p for p in path.relative_to(source).parts[:-1] if p != "_posts"]
    post = NewPost("/".join([*folders, path.stem + ".md"]), where, front, body, "")
    own = data.get("permalink") if isinstance(data.get("permalink"), str) else None
    post.url = old_url(own or pattern, date, stem_title, data.get("slug"), categories, tz)
    if not post.url.startswith("/"):
        post.url = "/" + post.url
    if (safe := UNSAFE_IN_URL.sub("-", post.url)) != post.url:  # a category "Post Formats"
        what = f"the old URL {post.url} holds what no blogkeeper URL may (a space, say)"
        body.note(0, f"{what}: the post is at {safe}, and the old URL no longer answers")
        post.url = safe
        report.moved += not front.get("draft")  # a draft had no URL to keep
    if own:
        post.front["permalink"] = post.url
        body.count("post permalink kept")
    separator = data.get("excerpt_separator", config.get("excerpt_separator"))
    if isinstance(separator, str) and separator.strip() and separator != "\n\n":
        _fold(body, separator)
    report.posts += 1
    report.drafts += bool(front.get("draft"))
    return post


def _folder_categories(source: Path, path: Path) -> list[str]:
    parts = path.relative_to(source).parts
    return list(parts[: parts.index("_posts")])


def _front(
    data: dict[str, Any],
    stem_title: str,
    date: dt.date | dt.datetime,
    categories: list[str],
    body: Body,
) -> dict[str, Any]:
    front: dict[str, Any] = {}
    title = data.get("title")
    if title is None:
        title = " ".join(w.capitalize() for w in stem_title.split("-"))
        body.count("title made from the file name, as Jekyll does")
    front["title"] = str(title)
    front["date"] = date
    tags = list(dict.fromkeys([*categories, *_names(data.get("tags")), *_names(data.get("tag"))]))
    if tags:
        front["tags"] = tags
    if categories:
        body.count("categories made tags")
    extra: dict[str, Any] = {}
    summary_key = next((k for k in ("summary", "excerpt", "description") if data.get(k)), None)
    for key, value in data.items():
        low = key.lower()
        if key in (
            "title",
            "date",
            "tags",
            "tag",
            "categories",
            "category",
            "permalink",
            "excerpt_separator",
        ):
            continue
        if low in common.DROPPED:
            body.count(f"front matter `{key}` dropped (theme setting)")
        elif key == summary_key:
            front["summary"] = str(value)
            if key != "summary":
                body.count(f"`{key}` made summary")
        elif key == "published":
            if value is False:
                front["draft"] = True
                body.count("published: false made draft")
        elif key == "slug" and value:
            front["slug"] = str(value)
        elif key == "image" and value:
            front["image"] = _image(value)
        elif key == "redirect_from" and value:  # the jekyll-redirect-from plugin
            olds = [value] if isinstance(value, str) else [str(v) for v in value]
            front["aliases"] = [_alias(old) for old in olds]
        elif key in ("updated", "last_modified_at") and common.date_value(value):
            front["updated"] = common.date_value(value)
            if key != "updated":
                body.count(f"`{key}` made updated")
        else:
            extra[key] = common.plain(value)
            body.note_key(key, f"front matter `{key}` kept in `extra` (templates read post.extra)")
            body.count("front matter kept in extra")
    if extra:
        front["extra"] = extra
    return front


def _alias(old: str) -> str:
    path = "/" + old.strip().lstrip("/")
    return path if path.endswith(("/", ".html")) else path + "/"


def _image(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("path") or value.get("feature") or value.get("url") or ""
    return str(value)


def old_url(
    pattern: str,
    date: dt.date | dt.datetime,
    stem_title: str,
    slug: Any,
    categories: list[str],
    tz: str,
) -> str:
    """The URL Jekyll gave a post under this permalink pattern."""
    if isinstance(date, dt.datetime) and date.tzinfo is not None:
        date = date.astimezone(zoneinfo.ZoneInfo(tz))
    title = str(slug) if slug else stem_title
    values = {
        "year": f"{date.year:04}",
        "month": f"{date.month:02}",
        "i_month": str(date.month),
        "day": f"{date.day:02}",
        "i_day": str(date.day),
        "short_year": f"{date.year % 100:02}",
        "y_day": f"{date.timetuple().tm_yday:03}",
        # Jekyll's slugify, "pretty" mode with case kept, and "default" mode
        "title": re.sub(r"(?:[^\w.~!$&'()+,;=@]|_)+", "-", title).strip("-"),
        "slug": re.sub(r"(?:\W|_)+", "-", title.lower()).strip("-"),
        "categories": "/".join(dict.fromkeys(c.lower() for c in categories)),
        "output_ext": ".html",
        "week": f"{date.isocalendar()[1]:02}",
        "short_day": date.strftime("%a"),
        "short_month": date.strftime("%b"),
        "long_month": date.strftime("%B"),
        "hour": f"{getattr(date, 'hour', 0):02}",
        "minute": f"{getattr(date, 'minute', 0):02}",
        "second": f"{getattr(date, 'second', 0):02}",
    }
    url = re.sub(r":(\w+)", lambda m: values.get(m.group(1), m.group(0)), pattern)
    url = re.sub(r"/+", "/", url)
    if not url.endswith(("/", ".html")):
        url += ".html"  # Jekyll writes title.html; GitHub Pages serves it without .html too
    return url


def predict(pattern: str, post: NewPost, tz: str) -> str:
    """The URL blogkeeper gives `post` under its blog.toml `permalink` pattern."""
    date = post.front["date"]
    if isinstance(date, dt.datetime) and date.tzinfo is not None:
        date = date.astimezone(zoneinfo.ZoneInfo(tz))
    stem = re.sub(r"^\d{4}-\d\d-\d\d-", "", Path(post.name).stem)
    slug = post.front.get("slug")
    values = {
        "year": f"{date.year:04}",
        "month": f"{date.month:02}",
        "day": f"{date.day:02}",
        "title": str(slug) if slug else stem,
        "slug": slugify(str(slug) if slug else stem),
    }
    return re.sub(r":(year|month|day|title|slug)", lambda m: values[m.group(1)], pattern)


# ---- the body --------------------------------------------------------------------------

TAG = r"\{%-?\s*"
END = r"\s*-?%\}"
BASEURL = r"\{\{-?\s*site\.baseurl\s*-?\}\}"
SITE_URL = re.compile(r"\{\{-?\s*site\.(?:url|github\.url)\s*-?\}\}")
SITE_URL_PATH = re.compile(SITE_URL.pattern + r"(?=/)")  # before a path: a link on the site
RAW = re.compile(TAG + r"(end)?raw" + END)
HIGHLIGHT = re.compile(
    r"^([ \t]*)" + TAG + r"highlight\s+([\w+#.-]+)((?:\s+[^%]*?)?)" + END + r"[ \t]*$"
)
END_HIGHLIGHT = re.compile(r"^[ \t]*" + TAG + "endhighlight" + END + r"[ \t]*$")
POST_URL = re.compile(rf"(?:{BASEURL}\s*)?{TAG}post_url\s+([^\s%]+){END}")
LINK = re.compile(rf"(?:{BASEURL}\s*)?{TAG}link\s+([^\s%]+){END}")
FILTER = re.compile(
    r"\{\{-?\s*(['\"])(.*?)\1\s*\|\s*(relative_url|absolute_url|prepend:\s*site\.baseurl)"
    r"\s*-?\}\}"
)
COMMENT = re.compile(TAG + r"(end)?comment" + END)
LIQUID = re.compile(r"\{%.*?%\}|\{\{.*?\}\}")


def _math_config_files(source: Path) -> list[Path]:
    """Where a Jekyll site configures MathJax or KaTeX (kramdown itself reads only `$$`):
    _config.yml, its layouts and includes, and the HTML pages at its root."""
    places = [source / "_config.yml", *source.glob("*.html")]
    for folder in ("_includes", "_layouts"):
        places += [p for p in (source / folder).rglob("*") if p.is_file()]
    return places


def _convert_body(
    post: NewPost,
    by_name: dict[str, NewPost],
    base: str,
    dollar_math: bool,
    source: Path,
    url: str,
) -> None:
    body = post.body
    common.drop_controls(body)
    common.drop_math_loaders(body)
    _highlights(body)
    common.fence_indented_code(body)
    _liquid(body, by_name, base, source, url)
    _kramdown(body)
    common.escaped_math(body)
    if not dollar_math:
        common.escape_text_dollars(body)


# kramdown's `$$`: display math when it is a paragraph of its own, inline math elsewhere.
DOUBLE_DOLLAR = re.compile(r"(?<![\\$])\$\$(.+?)\$\$(?!\$)", re.DOTALL)
# What starts a line of a paragraph without being its text: quotes, a list item's marker.
LINE_PREFIX = re.compile(r"[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[*+-]|\d{1,9}[.)])(?:[ \t]+|$))?")


def inline_dollars(body: Body) -> None:
    """kramdown's inline `$$x$$` (one sharing its paragraph with other text) made
    `\\(x\\)`: blogkeeper, like MathJax, shows `$$` in a paragraph as display math. A `$$`
    that is a paragraph (or list item) of its own stays display math; code is left alone."""
    for run in common.paragraph_runs(body):
        units: list[list[int]] = []  # the paragraphs of the run: list items, quote parts
        for index in run:
            line = body.lines[index][1]
            prefix = LINE_PREFIX.match(line)
            marker = prefix.group(0).strip(" \t>") if prefix else ""
            rest = line[prefix.end() :] if prefix else line
            if not units or marker or not units[-1]:
                units.append([])
            if rest.strip():  # a bare `>` ends a paragraph in a quote
                units[-1].append(index)
            else:
                units.append([])
        for unit in filter(None, units):
            _inline_dollars_in(body, unit)


def _inline_dollars_in(body: Body, unit: list[int]) -> None:
    lines = [body.lines[i][1] for i in unit]
    text = "\n".join(lines)
    if "$$" not in text:
        return
    prefix = LINE_PREFIX.match(lines[0])
    written = text[prefix.end() if prefix else 0 :].strip()
    found = DOUBLE_DOLLAR.fullmatch(written)
    if found and "$$" not in found.group(1):
        return  # a paragraph of its own: display math

    def inline(match: re.Match[str]) -> str:
        body.count("kramdown inline $$ made \\( \\)")
        return "\\(" + match.group(1) + "\\)"

    new = common.outside_code_spans(text, lambda part: DOUBLE_DOLLAR.sub(inline, part))
    if new != text:
        for index, line in zip(unit, new.split("\n"), strict=True):
            body.lines[index] = (body.lines[index][0], line)


def _highlights(body: Body) -> None:
    opened: int | None = None
    fence = "```"
    changes: dict[int, str] = {}
    texts = [text for _, text in body.lines]
    for index, line in enumerate(texts):
        match = HIGHLIGHT.match(line)
        if match and opened is None:
            opened = index
            after = range(index + 1, len(texts))
            end = next((k for k in after if END_HIGHLIGHT.match(texts[k])), len(texts))
            fence = fence_marker(texts[index + 1 : end], "`")
            changes[index] = f"{match.group(1)}{fence}{match.group(2)}"
            body.count("{% highlight %} made a fence")
            if "linenos" in match.group(3):
                body.count("{% highlight linenos %}: line numbers dropped")
        elif END_HIGHLIGHT.match(line) and opened is not None:
            changes[index] = line[: len(line) - len(line.lstrip())] + fence
            opened = None
    body.lines = [(o, changes.get(i, text)) for i, (o, text) in enumerate(body.lines)]


def _liquid(body: Body, by_name: dict[str, NewPost], base: str, source: Path, url: str) -> None:
    body.edit(_Liquid(body, by_name, base, source, url).line)


class _Liquid:
    """Liquid in a post, line by line: links and paths made plain, `{% raw %}` undone,
    the rest kept where the author can find it and reported."""

    def __init__(self, body: Body, by_name: dict[str, NewPost], base: str, source: Path, url: str):
        self.body, self.by_name, self.source, self.url = body, by_name, source, url
        self.base = base.rstrip("/")
        self.raw = False
        prose = set(body.prose())
        self.fenced = {origin for i, (origin, _) in enumerate(body.lines) if i not in prose}

    def line(self, origin: int, line: str) -> str | None:
        pieces = RAW.split(line)  # [text, group, text, ...]: the group is "end" or None
        if len(pieces) == 1:
            return line if self.raw else self.convert(origin, line)
        out = []
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                out.append(piece if self.raw else self.convert(origin, piece))
            else:
                self.raw = piece != "end"
        self.body.count("{% raw %} removed", len(pieces) // 2)
        text = "".join(out)
        return text if text.strip() else None

    def convert(self, origin: int, part: str) -> str:
        body = self.body
        part = POST_URL.sub(lambda m: self.post_link(origin, m.group(1)), part)
        part = LINK.sub(lambda m: self.page_link(origin, m.group(1)), part)
        part, n = FILTER.subn(lambda m: self.base + "/" + m.group(2).lstrip("/"), part)
        body.count("relative_url / absolute_url made a path", n)
        part, n = re.subn(BASEURL, self.base, part)
        body.count("{{ site.baseurl }} made a path", n)
        part, n = SITE_URL_PATH.subn("", part)
        body.count("{{ site.url }} made a site path", n)
        part, n = SITE_URL.subn(self.url, part)  # in text: the site's address, as Jekyll wrote it
        body.count("{{ site.url }} in text made the site's address", n)
        part, n = COMMENT.subn(lambda m: "-->" if m.group(1) else "<!--", part)
        body.count("{% comment %} made an HTML comment", n)
        spans = [m.group(0) for m in common.CODE_SPAN.finditer(part)]
        code = [part] if origin in self.fenced else spans
        for tag in (t for text in code for t in LIQUID.findall(text)):
            body.note(origin, f"Liquid `{tag}` in code kept as text (Jekyll ran it)")
        if origin in self.fenced:
            return part
        return common.outside_code_spans(
            part, lambda text: LIQUID.sub(lambda m: self.unconverted(origin, m), text)
        )

    def unconverted(self, origin: int, match: re.Match[str]) -> str:
        what = f"Liquid `{match.group(0)}` not converted; kept in an HTML comment"
        self.body.note(origin, what)
        self.body.count("Liquid not converted (reported)")
        return f"<!-- jekyll: {match.group(0)} -->"

    def post_link(self, origin: int, name: str) -> str:
        stem = Path(name).stem if name.endswith((".md", ".markdown")) else name
        target = self.by_name.get(Path(stem).name)
        if target is None:
            self.body.note(origin, f"post_url `{name}`: no such post; left as text")
            return name
        self.body.count("{% post_url %} made a link")
        return self.base + target.url

    def page_link(self, origin: int, name: str) -> str:
        if Path(name).stem in self.by_name and "_posts" in name:
            self.body.count("{% link %} made a link")
            return self.base + self.by_name[Path(name).stem].url
        if not (self.source / name).exists():
            self.body.note(origin, f"{{% link {name} %}}: no such file; left as text")
            return name
        self.body.count("{% link %} made a link")
        url = "/" + re.sub(r"(^|/)index\.(md|markdown|html)$", r"\1", name)
        return self.base + re.sub(r"\.(md|markdown)$", ".html", url)


IAL_LINE = re.compile(r"^[ \t]*\{:(?!:)[^}]*\}[ \t]*$")
OPTIONS = re.compile(r"\{::options\b[^}]*/\}")
FOOTNOTE_LINK = re.compile(r"(#fn(?:ref)?):([\w-]+)(?=[)\"'])")
IAL_SPAN = re.compile(r"\{:(?!:)[^}\n]*\}")
TOC_ITEM = re.compile(r"^[ \t]*(?:[*+-]|1\.)[ \t]+.*$")
EXTENSION = re.compile(r"\{::(\w+)[^}]*/?\}")


def _kramdown(body: Body) -> None:
    prose = set(body.prose())
    toc_items = set()
    lines = body.lines
    for index in prose:
        line = lines[index][1]
        if IAL_LINE.match(line) and "toc" in line and index and TOC_ITEM.match(lines[index - 1][1]):
            toc_items.add(index - 1)

    def clean(index: int) -> None:
        origin, line = lines[index]
        if index in toc_items:
            lines[index] = (origin, "\0")
            return
        heading = common.ATX.match(line)
        if heading and (ial := re.search(r"\{:?\s*#([\w:.-]+)[^}]*\}\s*$", line)):
            lines[index] = (origin, line[: ial.start()].rstrip() + f" {{#{ial.group(1)}}}")
            if ial.group(0).strip() != f"{{#{ial.group(1)}}}":
                body.count("kramdown heading id {: #id} made {#id}")
            return
        if IAL_LINE.match(line):
            if "toc" in line:
                body.count("{:toc} removed (blogkeeper has no table of contents)")
                body.note(origin, "{:toc} removed: blogkeeper makes no table of contents")
            else:
                body.count("kramdown attribute list {: ...} removed")
                body.note(origin, f"kramdown attributes `{line.strip()}` removed")
            lines[index] = (origin, "\0")
            return
        if option := OPTIONS.search(line):
            body.count("kramdown {::options /} removed")
            body.note(
                origin,
                f"kramdown `{option.group(0)}` removed; Markdown inside the HTML blocks "
                "after it is shown as written in blogkeeper: check them",
            )
            line = OPTIONS.sub("", line)
            if not line.strip():
                lines[index] = (origin, "\0")
                return
        line = line.replace("{::comment}", "<!--").replace("{:/comment}", "-->")
        line, n = FOOTNOTE_LINK.subn(r"\1-\2", line)  # kramdown's #fn:x is markdown2's #fn-x
        body.count("footnote link #fn:x made #fn-x", n)
        new, n = IAL_SPAN.subn("", line)
        if n:
            body.count("kramdown attribute list {: ...} removed", n)
            body.note(origin, "kramdown attributes removed: " + ", ".join(IAL_SPAN.findall(line)))
        for ext in EXTENSION.findall(new):
            body.note(origin, f"kramdown extension {{::{ext}}} not converted")
        lines[index] = (origin, new)

    for index in sorted(prose):
        clean(index)
    body.edit(lambda _, line: None if line == "\0" else line)


def _fold(body: Body, separator: str) -> None:
    for index in body.prose():
        origin, line = body.lines[index]
        if separator.strip() in line:
            before, _, after = line.partition(separator.strip())
            parts = (before.rstrip(), "", "<!--more-->", "", after.lstrip())
            text = "\n".join(parts).strip("\n")
            if separator.strip() != "<!--more-->" or text != line:
                body.count("excerpt_separator made <!--more-->")
            body.lines[index] = (origin, text)
            return


def _old_site(source: Path, base: str) -> OldSite:
    pages: set[str] = set()
    files: dict[str, Path] = {}
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        if not path.is_file() or any(p.startswith(("_", ".")) or p in SKIP_DIRS for p in rel.parts):
            continue
        name = rel.as_posix()
        if path.suffix in (".md", ".markdown", ".html"):
            pages.add(_page_url(path, name))
        files[name] = path
    _ = base
    return OldSite(frozenset(pages), files)


def _page_url(path: Path, name: str) -> str:
    try:
        parts = split(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        parts = None
    if parts and isinstance(parts[0].get("permalink"), str):
        return str(parts[0]["permalink"]).lstrip("/")
    name = re.sub(r"(^|/)index\.(md|markdown|html)$", r"\1", name)
    return re.sub(r"\.(md|markdown)$", ".html", name)
