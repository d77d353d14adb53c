"""Read a Hugo site into a `NewSite`: blog.toml values, the posts section's pages (single
files and page bundles) converted with their old URLs, and the old site's files.

It reads the source folder and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
import tomllib
import unicodedata
import zoneinfo
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from blogkeeper.content import slugify
from blogkeeper.fences import fence_marker
from blogkeeper.importer import common
from blogkeeper.importer.common import Body, NewPost, NewSite, Note, Report
from blogkeeper.importer.links import OldSite

CONFIGS = (
    "hugo.toml",
    "hugo.yaml",
    "hugo.yml",
    "hugo.json",
    "config.toml",
    "config.yaml",
    "config.yml",
    "config.json",
)
SUFFIXES = (".md", ".markdown")


def detect(source: Path) -> bool:
    return (source / "content").is_dir() and bool(_config_files(source))


# Hugo's config folder: `_default`, then the environment `hugo` builds with by default.
CONFIG_FOLDERS = ("config/_default", "config/production")


def _config_files(source: Path) -> list[Path]:
    """The files Hugo reads its config from, in the order it merges them: each file of
    the config folders (`hugo.toml` holds keys at the top, `params.toml` the key
    `params`, and so on), then the project's own config file, which wins."""
    found = []
    for folder in CONFIG_FOLDERS:
        if (source / folder).is_dir():
            found += sorted(
                p
                for p in (source / folder).iterdir()
                if p.suffix in (".toml", ".yaml", ".yml", ".json") and p.is_file()
            )
    own = next((source / name for name in CONFIGS if (source / name).is_file()), None)
    return found + ([own] if own else [])


def _config(source: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in _config_files(source):
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix == ".toml":
                data: Any = tomllib.loads(text)
            elif path.suffix == ".json":
                data = json.loads(text)
            else:
                data = yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read: {exc}") from None
        if not isinstance(data, dict):
            continue
        key = path.stem.lower()
        if path.parent != source and key not in ("hugo", "config"):
            if "." in key:
                continue  # `menus.en.toml`: one language's, which blogkeeper has no use for
            data = {key: data}
        _merge(merged, {k.lower(): v for k, v in data.items()})
    return merged


def _merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    """`data` merged into `into`, as Hugo merges its config files: tables key by key."""
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key]}
            _merge(into[key], value)
        else:
            into[key] = value


def _section(source: Path, config: dict[str, Any]) -> str:
    params = {k.lower(): v for k, v in (config.get("params") or {}).items()}
    main = params.get("mainsections")
    if isinstance(main, list) and main and (source / "content" / str(main[0])).is_dir():
        return str(main[0])
    counts = {
        d.name: sum(1 for p in d.rglob("*") if p.suffix in SUFFIXES)
        for d in (source / "content").iterdir()
        if d.is_dir()
    }
    for name in ("posts", "post", "blog"):
        if counts.get(name):
            return name
    return max(counts, key=lambda n: counts[n]) if counts else "posts"


def read_site(source: Path, report: Report) -> tuple[NewSite, OldSite, Callable[[str], str]]:
    config = _config(source)
    section = _section(source, config)
    base_url = str(config.get("baseurl") or "")
    parts = urlsplit(base_url)
    base = parts.path.strip("/")
    base_path = f"/{base}/" if base else "/"
    tz = str(config.get("timezone") or "UTC")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = "UTC"
    lower = not config.get("disablepathtolower", False)
    permalinks = {k.lower(): v for k, v in (config.get("permalinks") or {}).items()}
    page_links = permalinks.get("page") if isinstance(permalinks.get("page"), dict) else None
    hugo_pattern = str((page_links or permalinks).get(section) or "/:sectionpath/:slugorfilename/")
    pattern = _pattern(hugo_pattern, section)
    site = NewSite(_blog_toml(config, parts, base, tz, pattern, report))
    markup = config.get("markup") or {}
    goldmark = (markup.get("goldmark") or {}) if isinstance(markup, dict) else {}
    passthrough = bool(((goldmark.get("extensions") or {}).get("passthrough") or {}).get("enable"))
    old_files = _static(source)
    pages: dict[str, NewPost] = {}
    translations: Counter[str] = Counter()
    translated: set[str] = set()
    default, languages = _languages(config)
    others = set(languages) - {default}
    for path, bundle in _pages(source / "content" / section):
        if (language := path.stem.rpartition(".")[2].lower()) in others and "." in path.stem:
            translations[language] += 1  # `hello.fr.md`: Hugo's French `hello.md`
            read = _read_post(source, path, bundle, section, hugo_pattern, tz, lower, Report())
            if read is not None:  # its URL: the old site's, which links may name
                url = re.sub(rf"\.{language}(?=/$|\.html$)", "", read.url)  # from `hello`
                translated.add(f"{language}/" + url.lstrip("/"))
            continue
        post = _read_post(source, path, bundle, section, hugo_pattern, tz, lower, report)
        if post is None:
            continue
        pages[path.relative_to(source / "content").as_posix()] = post
        site.posts.append(post)
        if bundle:
            for asset in path.parent.rglob("*"):
                if asset.is_file() and asset.suffix not in SUFFIXES:
                    rel = asset.relative_to(path.parent).as_posix()
                    old_files[post.url.strip("/") + "/" + rel] = asset
    if translations:
        listed = ", ".join(f"{n} in `{language}`" for language, n in sorted(translations.items()))
        what = f"translations not imported ({listed}): a blogkeeper blog has one language"
        report.notes.append(Note("posts/", None, what))
    bodies = [post.body.text() for post in site.posts]
    dollar_math = common.dollar_is_math(_math_config_files(source), bodies, report)
    for post in site.posts:
        _convert_body(post, pages, base_path, passthrough, dollar_math)
        common.keep_heading_ids(post.body, common.goldmark_id)
        if "permalink" not in post.front:
            common.keep_url(post, pattern, lambda p: _predict(pattern, p, tz))
    return (
        site,
        OldSite(frozenset(_page_urls(source, section, lower)) | translated, old_files),
        (common.goldmark_id),
    )


def _languages(config: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The default language's code, and each language's own settings (`[languages.en]`,
    keys lower-cased) by its code."""
    default = str(config.get("defaultcontentlanguage") or "en").lower()
    languages = config.get("languages") if isinstance(config.get("languages"), dict) else {}
    settings = {
        str(code).lower(): {str(k).lower(): v for k, v in value.items()}
        for code, value in (languages or {}).items()
        if isinstance(value, dict)
    }
    return default, settings


def _pattern(hugo: str, section: str) -> str:
    pattern = hugo.replace(":sectionpath", section).replace(":section", section)
    pattern = re.sub(
        r":(slugorfilename|slugorcontentbasename|filename|contentbasename)", ":slug", pattern
    )
    pattern = pattern.replace(":title", ":slug")
    if re.search(r":(?!year|month|day|slug)\w+", pattern) or ":slug" not in pattern:
        pattern = f"/{section}/:slug/"
    if not pattern.endswith(("/", ".html")):
        pattern += "/"
    return pattern if pattern.startswith("/") else "/" + pattern


def _blog_toml(
    config: dict[str, Any], parts: Any, base: str, tz: str, pattern: str, report: Report
) -> dict[str, Any]:
    params = {k.lower(): v for k, v in (config.get("params") or {}).items()}
    author = config.get("author") or params.get("author") or ""
    if isinstance(author, dict):
        author = author.get("name") or ""
    if isinstance(author, list):
        author = ", ".join(map(str, author))
    if parts.scheme in ("http", "https") and parts.netloc:
        url = f"{parts.scheme}://{parts.netloc}/" + (f"{base}/" if base else "")
    else:
        report.notes.append(
            Note(
                "blog.toml",
                None,
                "no `baseURL` in the Hugo config: https://example.org/ written; set the real one",
            )
        )
        url = "https://example.org/"
    paginate = config.get("paginate") or (config.get("pagination") or {}).get("pagersize")
    default, languages = _languages(config)
    language = languages.get(default, {})
    values: dict[str, Any] = {
        "title": str(config.get("title") or language.get("title") or "My blog"),
        "url": url,
        "description": str(params.get("description") or config.get("description") or ""),
        "author": str(author),
        "timezone": tz,
        "permalink": pattern,
    }
    if isinstance(paginate, int) and paginate > 0:
        values["posts_per_page"] = paginate
    return {k: v for k, v in values.items() if v != ""}


def _pages(folder: Path) -> list[tuple[Path, bool]]:
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in SUFFIXES or path.stem == "_index":
            continue
        found.append((path, path.stem == "index"))
    return found


def split(text: str) -> tuple[dict[str, Any], str] | None:
    """Front matter (YAML, TOML or JSON; indented YAML too) and the body, or None."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    for fence, load in (("---", _yaml), ("+++", tomllib.loads)):
        match = re.match(
            rf"{re.escape(fence)}[ \t]*\n(.*?\n)?{re.escape(fence)}[ \t]*(?:\n|$)", text, re.DOTALL
        )
        if match:
            data = load(match.group(1) or "")
            return (data if isinstance(data, dict) else {}), text[match.end() :]
    if text.startswith("{"):
        decoder = json.JSONDecoder()
        data, end = decoder.raw_decode(text)
        return (data if isinstance(data, dict) else {}), text[end:].lstrip("\n")
    return None


def _yaml(text: str) -> Any:
    return yaml.safe_load(textwrap.dedent(text))


def urlize(text: str, lower: bool) -> str:
    """Hugo's path sanitising (`UnicodeSanitize`): letters, marks, digits and `./\\_#+~-@`
    kept, `%` before two hex digits kept, a space a dash, anything else dropped;
    lower-cased unless `disablePathToLower`."""
    kept = []
    text = text.strip()
    for index, char in enumerate(text):
        escape = char == "%" and re.fullmatch(r"[0-9a-fA-F]{2}", text[index + 1 : index + 3])
        if char in "./\\_#+~-@" or unicodedata.category(char)[0] in "LMN" or escape:
            kept.append(char)
        elif char.isspace() and (not kept or kept[-1] != "-"):
            kept.append("-")
    out = "".join(kept)
    return out.lower() if lower else out


def _read_post(
    source: Path,
    path: Path,
    bundle: bool,
    section: str,
    pattern: str,
    tz: str,
    lower: bool,
    report: Report,
) -> NewPost | None:
    where = path.relative_to(source).as_posix()
    try:
        parts = split(path.read_text(encoding="utf-8"))
    except (
        yaml.YAMLError,
        tomllib.TOMLDecodeError,
        json.JSONDecodeError,
        UnicodeDecodeError,
    ) as exc:
        report.notes.append(Note(where, None, f"not imported: {exc}".replace("\n", " ")))
        return None
    if parts is None:
        report.notes.append(Note(where, None, "not imported: no front matter"))
        return None
    data, text = parts
    data = {str(k): v for k, v in data.items()}
    keys = {k.lower(): k for k in data}
    name = path.parent.name if bundle else path.stem
    body = Body(text)
    front = _front(data, keys, body)
    if "date" not in front:
        front["date"] = dt.date(1970, 1, 1)
        front["draft"] = True
        body.note_key("date", "no date on the old site: 1970-01-01 written and made a draft")
    slug = data.get(keys.get("slug", ""))
    url_field = data.get(keys.get("url", ""))
    folders = path.relative_to(source / "content").parent.parts[: -1 if bundle else None]
    if url_field:
        url = "/" + str(url_field).strip("/")
        url = (url + ("" if url.endswith(".html") else "/")).replace("//", "/")
        body.count("`url` made permalink")
    else:  # Hugo's default URL keeps the folders under the section
        url = hugo_url(pattern, "/".join(folders), front, name, str(slug or ""), tz, lower)
    post = NewPost("/".join([*folders[1:], f"{name}.md"]), where, front, body, url)
    if url_field:
        front["permalink"] = url
    aliases = data.get(keys.get("aliases", ""))
    if isinstance(aliases, list | str):
        folder = url if url.endswith("/") else url.rsplit("/", 1)[0] + "/"
        front["aliases"] = [
            _alias(str(a), folder) for a in ([aliases] if isinstance(aliases, str) else aliases)
        ]
    if slug:
        front["slug"] = str(slug)
    report.posts += 1
    report.drafts += bool(front.get("draft"))
    return post


def _alias(alias: str, folder: str) -> str:
    if alias.startswith(("http://", "https://")):
        return alias
    path = alias if alias.startswith("/") else "/" + alias
    if not alias.startswith("/"):
        path = folder.rsplit("/", 2)[0] + path  # Hugo reads a relative alias from the section
    if not path.endswith(("/", ".html")):
        path += "/"
    return path


def _front(data: dict[str, Any], keys: dict[str, str], body: Body) -> dict[str, Any]:
    front: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    def get(name: str) -> Any:
        return data.get(keys.get(name, ""))

    front["title"] = str(get("title") or "")
    if not front["title"]:
        front["title"] = "Untitled"
        body.note_key("title", "no title on the old site: `Untitled` written")
    date = common.date_value(get("date") or get("publishdate") or get("pubdate"))
    if date:
        front["date"] = date
    tags = []
    for key in ("tags", "categories"):
        value = get(key)
        if isinstance(value, str):
            value = [value]
        tags += [str(v) for v in (value or [])]
    if get("categories"):
        body.count("categories made tags")
    if tags:
        front["tags"] = list(dict.fromkeys(tags))
    for key, value in data.items():
        low = key.lower()
        if low in (
            "title",
            "date",
            "publishdate",
            "pubdate",
            "tags",
            "categories",
            "slug",
            "url",
            "aliases",
        ):
            continue
        if low in common.DROPPED:
            body.count(f"front matter `{key}` dropped (theme setting)")
        elif low == "draft":
            if value is True:
                front["draft"] = True
        elif low in ("lastmod", "updated") and common.date_value(value):
            front["updated"] = common.date_value(value)
            body.count("lastmod made updated")
        elif low == "description" and value and not get("summary"):
            front["summary"] = str(value)
            body.count("`description` made summary")
        elif low == "summary" and value:
            front["summary"] = str(value)
        elif low == "series" and value:
            names = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            front["series"] = names[0]
            if len(names) > 1:  # a blogkeeper post is in one series
                body.note_key("series", f"series {names[1:]} left out: a post has one series")
        elif low in ("images", "image", "featured_image") and value:
            front["image"] = str(value[0] if isinstance(value, list) else value)
        else:
            extra[key] = common.plain(value)
            body.note_key(key, f"front matter `{key}` kept in `extra` (templates read post.extra)")
            body.count("front matter kept in extra")
    if extra:
        front["extra"] = extra
    return front


def hugo_url(
    pattern: str,
    section: str,
    front: dict[str, Any],
    name: str,
    slug: str,
    tz: str,
    lower: bool,
) -> str:
    date = front["date"]
    if isinstance(date, dt.datetime) and date.tzinfo is not None:
        date = date.astimezone(zoneinfo.ZoneInfo(tz))
    title = urlize(front["title"], lower)
    values = {
        "year": f"{date.year:04}",
        "month": f"{date.month:02}",
        "monthname": date.strftime("%B").lower(),
        "day": f"{date.day:02}",
        "weekday": str(date.isoweekday() % 7),
        "weekdayname": date.strftime("%A").lower(),
        "yearday": str(date.timetuple().tm_yday),
        "sectionpath": section,
        "section": section.split("/")[0],
        "sections": section,
        "title": title,
        "slug": urlize(slug, lower) if slug else title,
        "slugorfilename": urlize(slug or name, lower),
        "slugorcontentbasename": urlize(slug or name, lower),
        "filename": urlize(name, lower),
        "contentbasename": urlize(name, lower),
    }
    url = re.sub(r":(\w+)", lambda m: values.get(m.group(1), m.group(0)), pattern)
    url = "/" + url.strip("/") + "/" if not url.endswith(".html") else url
    return re.sub(r"/+", "/", url.lower() if lower else url)


def _predict(pattern: str, post: NewPost, tz: str) -> str:
    date = post.front["date"]
    if isinstance(date, dt.datetime) and date.tzinfo is not None:
        date = date.astimezone(zoneinfo.ZoneInfo(tz))
    slug = post.front.get("slug") or re.sub(
        r"^(\d{4}-\d\d-\d\d|\d{1,3})[-_](?=.)", "", Path(post.name).stem
    )
    values = {
        "year": f"{date.year:04}",
        "month": f"{date.month:02}",
        "day": f"{date.day:02}",
        "slug": slugify(str(slug)),
        "title": str(slug),
    }
    return re.sub(r":(year|month|day|slug|title)", lambda m: values[m.group(1)], pattern)


def _static(source: Path) -> dict[str, Path]:
    """Files Hugo publishes as they are: static/, and files in content/ that are not
    pages (a page bundle's files are added with the post, at its new URL)."""
    files = {}
    for folder in (source / "content", source / "static"):
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and path.suffix not in (*SUFFIXES, ".html"):
                    files[path.relative_to(folder).as_posix()] = path
    return files


def _page_urls(source: Path, section: str, lower: bool) -> set[str]:
    urls = set()
    for path in (source / "content").rglob("*"):
        if path.suffix in SUFFIXES:
            rel = path.relative_to(source / "content").with_suffix("")
            parts = list(rel.parts)
            if parts[-1] in ("index", "_index"):
                parts = parts[:-1]
            url = "/".join(parts) + "/" if parts else ""
            urls.add(url.lower() if lower else url)
    _ = section
    return urls


# ---- the body --------------------------------------------------------------------------

SHORTCODE = re.compile(
    r"\{\{([<%])\s*(/?)\s*([\w./-]+)((?:[^>%]|>(?!\}\})|%(?!\}\}))*?)\s*\1?[>%]\}\}"
)
COMMENTED = re.compile(r"\{\{([<%])/\*\s*(.*?)\s*\*/([>%])\}\}")
ARG = re.compile(r"(?:(\w+)\s*=\s*)?(?:\"((?:[^\"\\]|\\.)*)\"|`([^`]*)`|([^\s\"`]+))")


def _args(text: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    named: dict[str, str] = {}
    for match in ARG.finditer(text):
        value = next((g for g in match.group(2, 3, 4) if g is not None), "")
        if match.group(1):
            named[match.group(1).lower()] = value
        else:
            positional.append(value)
    return positional, named


def _math_config_files(source: Path) -> list[Path]:
    """Where a Hugo site configures MathJax or KaTeX: its config, and the templates and
    scripts of the site and its themes."""
    places = _config_files(source)
    for folder in ("layouts", "assets", "static/js", "themes"):
        places += [
            p
            for p in (source / folder).rglob("*")
            if p.is_file() and p.suffix in (".html", ".js", ".toml", ".yaml", ".yml")
        ]
    return places


def _convert_body(
    post: NewPost, pages: dict[str, NewPost], base: str, passthrough: bool, dollar_math: bool
) -> None:
    body = post.body
    common.drop_controls(body)
    common.drop_math_loaders(body)
    _highlights(body)
    common.fence_indented_code(body)
    _math_shortcodes(body)
    body.edit(lambda origin, line: _shortcodes(body, pages, base, origin, line))
    _heading_attributes(body)
    common.escaped_math(body)
    if not dollar_math:
        common.escape_text_dollars(body)
    if not passthrough:
        _unescape_dollar_math(body)


# A theme's math shortcode (hugo-book's `katex`, and the like): its inner text is TeX.
MATH_NAMES = r"(?:katex|math|mathjax|latex)"
MATH_PAIR = re.compile(
    r"\{\{([<%])\s*(" + MATH_NAMES + r")\b([^>%]*)[>%]\}\}(.*?)\{\{[<%]\s*/\s*\2\s*[>%]\}\}"
)
MATH_OPEN = re.compile(r"^\s*\{\{[<%]\s*(" + MATH_NAMES + r")\b([^>%]*)[>%]\}\}\s*$")


def _math_shortcodes(body: Body) -> None:
    """A math shortcode made blogkeeper math: `\\(...\\)` in a line, `\\[` ... `\\]`
    on lines of their own (or with `display`/`block`, as the themes name it)."""

    def display(args: str) -> bool:
        return bool(re.search(r"\b(display|block)\b", args))

    def pair(match: re.Match[str]) -> str:
        body.count("math shortcode made math")
        tex = match.group(4).strip()
        return f"\\[{tex}\\]" if display(match.group(3)) else f"\\({tex}\\)"

    prose = body.prose()
    closing: re.Pattern[str] | None = None
    for index in prose:
        origin, line = body.lines[index]
        if closing is not None:
            if closing.match(line):
                body.lines[index] = (origin, "\\]")
                closing = None
            continue
        if opening := MATH_OPEN.match(line):
            name = re.escape(opening.group(1))
            close = re.compile(r"^\s*\{\{[<%]\s*/\s*" + name + r"\s*[>%]\}\}\s*$")
            if any(close.match(body.lines[i][1]) for i in prose if i > index):
                body.lines[index] = (origin, "\\[")
                body.count("math shortcode made math")
                closing = close
                continue
        body.lines[index] = (origin, MATH_PAIR.sub(pair, line))


def _shortcodes(body: Body, pages: dict[str, NewPost], base: str, origin: int, line: str) -> str:
    # `{{</* x */>}}` is Hugo's way to show a shortcode as text: split it out first.
    parts = COMMENTED.split(line)  # text, open, inner, close, text, ...
    out = []
    for i in range(0, len(parts), 4):
        out.append(SHORTCODE.sub(lambda m: _shortcode(body, pages, base, origin, m), parts[i]))
        if i + 3 < len(parts):
            out.append("{{" + parts[i + 1] + " " + parts[i + 2] + " " + parts[i + 3] + "}}")
            body.count("{{</* */>}} made the shortcode's text")
    return "".join(out)


def _shortcode(
    body: Body, pages: dict[str, NewPost], base: str, origin: int, match: re.Match[str]
) -> str:
    closing, name, args = match.group(2), match.group(3), match.group(4)
    positional, named = _args(args)
    if closing:
        return ""  # the closing tag of a shortcode whose opening tag was handled
    if name in ("ref", "relref"):
        return _ref(body, pages, base, origin, (positional or [named.get("path", "")])[0])
    if name == "figure":
        return _figure(body, named)
    if _paired(body, name, origin):
        what = f"shortcode `{name}` not converted: its tags removed, the Markdown inside kept"
        body.note(origin, what)
        body.count("unknown shortcode: tags removed, Markdown inside kept (reported)")
        return ""
    body.note(origin, f"shortcode `{match.group(0)}` not converted; kept in an HTML comment")
    body.count("unknown shortcode kept in an HTML comment (reported)")
    return f"<!-- hugo: {match.group(0)} -->"


def _ref(body: Body, pages: dict[str, NewPost], base: str, origin: int, target: str) -> str:
    """`ref`/`relref`: a page named by its path under content/, or by the end of it."""
    path, _, fragment = target.partition("#")
    stem = re.sub(r"(/index)?\.(md|markdown)$", "", path.strip("/"))
    found = [
        post
        for key, post in pages.items()
        if re.sub(r"(/index)?\.(md|markdown)$", "", key) == stem
        or re.sub(r"(/index)?\.(md|markdown)$", "", key).endswith("/" + stem)
    ]
    if not found:
        body.note(origin, f"ref/relref `{target}`: no such post; left as text")
        return target
    body.count("ref / relref made a link")
    return base.rstrip("/") + found[0].url + (f"#{fragment}" if fragment else "")


def _figure(body: Body, named: dict[str, str]) -> str:
    body.count("figure shortcode made an image")
    alt = named.get("alt") or named.get("caption") or named.get("title") or ""
    title = f' "{named["title"]}"' if named.get("title") else ""
    image = f"![{alt}]({named.get('src', '')}{title})"
    if named.get("link"):
        image = f"[{image}]({named['link']})"
    caption = named.get("caption")
    return image + (f"\n\n*{caption}*" if caption else "")


def _paired(body: Body, name: str, origin: int) -> bool:
    closing = re.compile(r"\{\{[<%]\s*/\s*" + re.escape(name) + r"\s*[>%]\}\}")
    return any(closing.search(text) for o, text in body.lines if o >= origin)


HL_OPEN = re.compile(r"^([ \t]*)\{\{[<%]\s*highlight\s+([\w+#.-]+)([^>%]*)[>%]\}\}[ \t]*(.*)$")
HL_CLOSE = re.compile(r"^(.*?)\{\{[<%]\s*/\s*highlight\s*[>%]\}\}[ \t]*$")


def _highlights(body: Body) -> None:
    opened = False
    fence = "```"
    out = []
    texts = [text for _, text in body.lines]
    for index, (origin, line) in enumerate(body.lines):
        match = HL_OPEN.match(line) if not opened else None
        if match:
            opened = True
            body.count("highlight shortcode made a fence")
            if "linenos" in match.group(3):
                body.count("highlight linenos: line numbers dropped")
            first = match.group(4)
            closes = (HL_CLOSE.match(text) for text in texts[index + 1 :])
            end = next((k for k, c in enumerate(closes, index + 1) if c), len(texts))
            last = HL_CLOSE.sub(r"\1", texts[end]) if end < len(texts) else ""
            fence = fence_marker([first, *texts[index + 1 : end], last], "`")
            line = f"{match.group(1)}{fence}{match.group(2)}" + (f"\n{first}" if first else "")
        elif opened and (close := HL_CLOSE.match(line)):
            opened = False
            line = (close.group(1) + "\n" if close.group(1).strip() else "") + fence
        out.append((origin, line))
    body.lines = out


ATTRIBUTES = re.compile(r"[ \t]*\{([^{}]*)\}[ \t]*$")


def _heading_attributes(body: Body) -> None:
    """goldmark's `## Heading {#id .class}`: the id kept, the rest removed and reported."""
    for index in body.prose():
        origin, line = body.lines[index]
        if not common.ATX.match(line) or not (match := ATTRIBUTES.search(line)):
            continue
        ident = re.search(r"#([\w:.-]+)", match.group(1))
        rest = re.sub(r"#([\w:.-]+)", "", match.group(1)).strip()
        new = line[: match.start()] + (f" {{#{ident.group(1)}}}" if ident else "")
        if rest:
            body.note(origin, f"heading attributes `{rest}` removed")
            body.lines[index] = (origin, new)


DOLLARS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?=\S)([^$\n]+?)(?<=\S)\$(?!\d)", re.DOTALL)


def _unescape_dollar_math(body: Body) -> None:
    """Without goldmark's passthrough, Markdown read the TeX between dollars before
    KaTeX or MathJax did: give blogkeeper the TeX they read."""

    def change(part: str) -> str:
        def math(match: re.Match[str]) -> str:
            inner = match.group(1) if match.group(1) is not None else match.group(2)
            new = common.unescape_markdown(inner)
            if new != inner:
                body.count("Markdown escapes in $ math undone")
            return match.group(0).replace(inner, new, 1)

        return DOLLARS.sub(math, part)

    for run in common.paragraph_runs(body):
        joined = "\n".join(body.lines[i][1] for i in run)
        if "$" in joined:
            new = common.outside_code_spans(joined, change).split("\n")
            if len(new) == len(run):
                for i, text in zip(run, new, strict=True):
                    body.lines[i] = (body.lines[i][0], text)
