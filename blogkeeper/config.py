"""Read `blog.toml` into a typed, frozen `SiteConfig`.

The schema is closed: an unknown key is an error with a "did you mean" hint. This module
reads one file and never writes anything.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from blogkeeper import urls
from blogkeeper.errors import BuildError, ContentError, did_you_mean
from blogkeeper.files import read_regular

CONFIG_NAME = "blog.toml"
MAX_CONFIG_BYTES = 1_000_000
MAX_TIMEOUT = 24 * 3600.0  # seconds: the longest check-code timeout (fences.MAX_TIMEOUT)
# C0 controls but TAB, LF and CR; DEL; C1 controls. HTML forbids them all and XML 1.0 the
# C0 ones; in a post or blog.toml they are paste accidents, invisible in most editors.
# One rule for every text that reaches an output: each is an error at its line.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_HINT = "delete it: HTML forbids it, and most editors do not show it"


FEED_KINDS = ("full", "intro", "none")  # what a topic's or a series' feed carries


@dataclass(frozen=True)
class FeedConfig:
    full_text: bool = True  # the site's feed carries whole posts (else intros and a link)
    items: int = 20  # posts in the site's feed
    atom: bool = False  # an Atom feed beside every RSS feed
    json: bool = True  # a JSON Feed 1.1 (feed.json) beside every RSS feed
    topics: str = "intro"  # each topic's feed: "full" posts, "intro"s, or "none"
    series: str = "intro"  # each series' feed, the same way
    group_items: int = 10  # posts in each topic's and series' feed


@dataclass(frozen=True)
class HighlightConfig:
    """The Pygments styles of code: light, and dark on screens that prefer dark. The
    defaults have at least 4.5:1 contrast for every token (tests/test_theme.py)."""

    light: str = "xcode"
    dark: str = "github-dark"


LLMS_SECTIONS = ("series", "posts", "optional")  # the sections llms.txt can have


@dataclass(frozen=True)
class LlmsConfig:
    enabled: bool = True
    full: bool = True
    twins: bool = True
    optional_tags: tuple[str, ...] = ()
    sections: tuple[str, ...] = LLMS_SECTIONS


@dataclass(frozen=True)
class CheckCodeConfig:
    series: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timeout: float = 60.0


BROKEN_LINKS = ("error", "warn")  # what a link that does not resolve does to a build


@dataclass(frozen=True)
class BuildConfig:
    broken_links: str = "error"  # "warn": such a link is a warning, and the build succeeds


@dataclass(frozen=True)
class SiteConfig:
    root: Path
    title: str
    url: str
    description: str = ""
    author: str = ""
    language: str = "en"
    timezone: str = "UTC"
    posts_per_page: int = 10
    max_post_bytes: int = 2_000_000
    permalink: str = urls.DEFAULT_PERMALINK  # where posts live (urls.permalink_path)
    image: str = ""  # the social card of pages without their own: a site path or https URL
    feed: FeedConfig = field(default_factory=FeedConfig)
    highlight: HighlightConfig = field(default_factory=HighlightConfig)
    llms: LlmsConfig = field(default_factory=LlmsConfig)
    check_code: CheckCodeConfig = field(default_factory=CheckCodeConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    # `[extra]`: free-form values for the templates (`site.extra`); blogkeeper reads none
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    # Where blog.toml sets `image`, for the error when no file is there (links.py).
    image_line: int | None = field(default=None, compare=False)
    permalink_line: int | None = field(default=None, compare=False)  # for warnings

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def base_path(self) -> str:
        """The path part of `url`, always ending in "/": "/" or "/blog/"."""
        return urlsplit(self.url).path

    def absolute(self, path: str) -> str:
        """The absolute URL of a site path given relative to the site root.

        Non-ASCII slugs are percent-encoded (`café` -> `caf%C3%A9`): sitemaps and feeds
        need URIs, not IRIs.
        """
        return self.url + quote(path.lstrip("/"), safe="/#")


_SECTIONS: dict[str, type] = {
    "feed": FeedConfig,
    "highlight": HighlightConfig,
    "llms": LlmsConfig,
    "check_code": CheckCodeConfig,
    "build": BuildConfig,
}


def load_config(root: Path) -> SiteConfig:
    """Load `root/blog.toml`, raising `BuildError` with every problem found."""
    path = root / CONFIG_NAME
    if not root.is_dir():  # `--site` names the site's folder
        what = "is a file, not a folder" if root.exists() else "no such folder"
        hint = "--site names the blog's folder; `blogkeeper init DIR` makes a new one"
        raise BuildError([ContentError(str(root), None, what, hint)])
    if not path.exists():
        raise BuildError(
            [ContentError(CONFIG_NAME, None, "no blog.toml here", "run `blogkeeper init DIR`")]
        )
    data = read_regular(path, CONFIG_NAME, MAX_CONFIG_BYTES, "blog.toml must be a regular file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BuildError([ContentError(CONFIG_NAME, None, f"not UTF-8 ({exc.reason})")]) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise BuildError([ContentError(CONFIG_NAME, line, f"invalid TOML: {exc}")]) from None
    errors: list[ContentError] = []
    values = _check_table(table, SiteConfig, text, errors, section=None)
    config = None
    if not errors:
        config = _finish(root, values, text, errors)
    if errors or config is None:
        raise BuildError(errors)
    return config


def _finish(
    root: Path, values: dict[str, Any], text: str, errors: list[ContentError]
) -> SiteConfig | None:
    for key in ("title", "url"):
        if key not in values:
            errors.append(ContentError(CONFIG_NAME, None, f"`{key}` is required"))
    if errors:
        return None
    if not values["title"].strip():  # the name every page, feed and llms.txt shows
        errors.append(ContentError(CONFIG_NAME, _line_of(text, "title"), "`title` is empty"))
    language = values.get("language", "en")
    if not LANGUAGE_TAG.fullmatch(language):  # <html lang>, the feeds' <language>
        errors.append(
            ContentError(
                CONFIG_NAME,
                _line_of(text, "language"),
                f"`language` must be a language tag, not {language!r}",
                'for example language = "en" or "pt-BR"',
            )
        )
    url = values["url"]
    problem = _url_problem(url)
    if problem:
        errors.append(
            ContentError(
                CONFIG_NAME,
                _line_of(text, "url"),
                f"`url` {problem}, not {url!r}",
                'for example url = "https://example.org/blog/"',
            )
        )
        return None
    values["url"] = url if url.endswith("/") else url + "/"
    try:
        zoneinfo.ZoneInfo(values.get("timezone", "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(
            ContentError(
                CONFIG_NAME,
                _line_of(text, "timezone"),
                f"unknown timezone {values['timezone']!r}",
                'use an IANA name such as "Europe/London"',
            )
        )
        return None
    for name, cls in _SECTIONS.items():
        if name in values:
            values[name] = cls(**values[name])
    if "llms" in values:
        errors.extend(_check_llms_sections(values["llms"].sections, text))
    if "feed" in values:
        errors.extend(_check_feed_kinds(values["feed"], text))
    if "highlight" in values:
        errors.extend(_check_styles(values["highlight"], text))
    if "build" in values and values["build"].broken_links not in BROKEN_LINKS:
        value = values["build"].broken_links
        errors.append(
            ContentError(
                CONFIG_NAME,
                _line_of(text, "broken_links", "build"),
                f'`build.broken_links` must be "error" or "warn", not {value!r}',
                did_you_mean(value, BROKEN_LINKS),
            )
        )
    if "permalink" in values and (wrong := urls.permalink_problem(values["permalink"])):
        errors.append(ContentError(CONFIG_NAME, _line_of(text, "permalink"), *wrong))
    if problem := image_problem(values.get("image", "")):
        errors.append(ContentError(CONFIG_NAME, _line_of(text, "image"), f"`image` {problem}"))
    values["image_line"] = _line_of(text, "image")
    values["permalink_line"] = _line_of(text, "permalink")
    if "check_code" in values and values["check_code"].timeout > MAX_TIMEOUT:
        line = _line_of(text, "timeout", "check_code")
        message = f"`check_code.timeout` must be at most {MAX_TIMEOUT:g} seconds"
        errors.append(ContentError(CONFIG_NAME, line, message))
    # Resolved: memo keys hash the settings, and `--site .` and `--site /abs/path` are
    # the same site.
    return None if errors else SiteConfig(root=root.resolve(), **values)


def _check_styles(highlight: HighlightConfig, text: str) -> list[ContentError]:
    from pygments.styles import get_all_styles  # here: only a blog.toml that names one

    styles = set(get_all_styles())
    return [
        ContentError(
            CONFIG_NAME,
            _line_of(text, name, "highlight"),
            f"`highlight.{name}`: no Pygments style `{style}`",
            did_you_mean(style, styles) or "see https://pygments.org/styles/",
        )
        for name, style in (("light", highlight.light), ("dark", highlight.dark))
        if style not in styles
    ]


def _check_feed_kinds(feed: FeedConfig, text: str) -> list[ContentError]:
    return [
        ContentError(
            CONFIG_NAME,
            _line_of(text, name, "feed"),
            f"`feed.{name}` must be one of {', '.join(repr(k) for k in FEED_KINDS)}",
            did_you_mean(value, FEED_KINDS),
        )
        for name, value in (("topics", feed.topics), ("series", feed.series))
        if value not in FEED_KINDS
    ]


def _url_problem(url: str) -> str | None:
    """What is wrong with the site's base URL, which every absolute link starts with."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an absolute http(s) URL"
    if re.search(r"\s", url) or CONTROL.search(url):
        return "must not contain spaces (write one as %20)"
    if ".." in parts.netloc or {".", ".."} & set(parts.path.split("/")):
        return "must not contain `..` or `.` segments"
    if parts.query or parts.fragment:
        return "must not have a `?query` or `#fragment`"
    if parts.username is not None:
        return "must not hold a user name or password"
    try:
        parts.port  # noqa: B018 (urlsplit checks the port where it is read)
    except ValueError:
        return "must have a port from 0 to 65535, if any"
    return None


# A BCP 47 language tag, as <html lang> and RSS's <language> take: "en", "pt-BR", "zh-Hant".
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def image_problem(value: str) -> str | None:
    """What is wrong with a social card image as written (front matter or blog.toml): it
    must be an https URL, a site path ("/assets/card.png") or a path relative to the page.
    Whether the file exists is checked once the site is built (links.check_images)."""
    if value.startswith("https://"):
        parts = urlsplit(value)
        if parts.netloc and not re.search(r"\s", value):
            return None
        return f"is not a valid https URL: {value!r}"
    if _SCHEME.match(value) or value.startswith("//"):
        return (
            f"must be an https:// URL, a site path like /assets/card.png, or a path "
            f"relative to the page, not {value!r}"
        )
    if any(c in value for c in "?#\\"):
        return f"is a file path and cannot hold `?`, `#` or a backslash: {value!r}"
    return None


def _check_llms_sections(sections: tuple[str, ...], text: str) -> list[ContentError]:
    line = _line_of(text, "sections")
    errors = [
        ContentError(
            CONFIG_NAME,
            line,
            f"unknown llms.txt section `{name}`",
            did_you_mean(name, LLMS_SECTIONS),
        )
        for name in sections
        if name not in LLMS_SECTIONS
    ]
    if len(set(sections)) != len(sections):
        errors.append(ContentError(CONFIG_NAME, line, "`llms.sections` names a section twice"))
    return errors


def _check_table(
    data: dict[str, Any],
    cls: type,
    text: str,
    errors: list[ContentError],
    section: str | None,
) -> dict[str, Any]:
    lines = ("root", "image_line", "permalink_line")  # set by blogkeeper, not in blog.toml
    known = {f.name: f for f in fields(cls) if f.name not in lines}
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{section}.{key}" if section else key
        if key not in known:
            errors.append(
                ContentError(
                    CONFIG_NAME,
                    _line_of(text, key, section),
                    f"unknown key `{where}`",
                    did_you_mean(key, known),
                )
            )
            continue
        if section is None and key == "extra":
            values[key] = _extra_table(value, text, errors)
            continue
        if section is None and key in _SECTIONS:
            if not isinstance(value, dict):
                errors.append(
                    ContentError(CONFIG_NAME, _line_of(text, key), f"`{key}` must be a table")
                )
                continue
            values[key] = _check_table(value, _SECTIONS[key], text, errors, key)
            continue
        checked = _check_type(value, known[key].type)
        if checked is None:
            errors.append(
                ContentError(
                    CONFIG_NAME,
                    _line_of(text, key, section),
                    f"`{where}` must be {_TYPE_WORDS[str(known[key].type)]}, not {_shown(value)}",
                )
            )
            continue
        found = [match for t in _strings(checked) if (match := CONTROL.search(t))]
        if found:
            message = f"`{where}` holds control character U+{ord(found[0][0]):04X}"
            line = _line_of(text, key, section)
            errors.append(ContentError(CONFIG_NAME, line, message, CONTROL_HINT))
            continue
        values[key] = checked
    return values


def _extra_table(value: Any, text: str, errors: list[ContentError]) -> dict[str, Any]:
    """`[extra]` as written: any TOML values, checked only for control characters (every
    string a template may put in a page)."""
    line = _line_of(text, "extra")
    if not isinstance(value, dict):
        errors.append(ContentError(CONFIG_NAME, line, "`extra` must be a table"))
        return {}
    for found in nested_strings(value):
        if match := CONTROL.search(found):
            message = f"`extra` holds control character U+{ord(match[0]):04X}"
            errors.append(ContentError(CONFIG_NAME, line, message, CONTROL_HINT))
            break
    return value


def nested_strings(value: Any) -> list[str]:
    """Every string in a value of nested lists and mappings, keys included."""
    found: list[str] = []
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            todo += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple):
            todo += list(item)
    return found


def _strings(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value if isinstance(value, tuple) else ()


_TYPE_WORDS = {
    "str": "a string",
    "bool": "true or false",
    "int": "a whole number, 1 or more",
    "float": "a number above 0",
    "tuple[str, ...]": "a list of strings",
}


def _check_type(value: Any, type_name: Any) -> Any:
    """The value converted to the field's type, or None when it does not fit."""
    name = str(type_name)
    if name == "str" and isinstance(value, str):
        return value
    if name == "bool" and isinstance(value, bool):
        return value
    if name == "int" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if name == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    if (
        name == "tuple[str, ...]"
        and isinstance(value, list)
        and all(isinstance(v, str) for v in value)
    ):
        return tuple(value)
    return None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return repr(value)
    return "a table" if isinstance(value, dict) else f"a {type(value).__name__}"


def _line_of(text: str, key: str, section: str | None = None) -> int | None:
    """The first line that assigns `key` (inside `[section]` if given) or opens `[key]`."""
    pattern = re.compile(rf"^\s*(\[{re.escape(key)}\]|{re.escape(key)}\s*=)")
    inside = section is None
    for number, line in enumerate(text.splitlines(), start=1):
        if section is not None and line.strip().startswith("["):
            inside = line.strip() == f"[{section}]"
        if inside and pattern.match(line):
            return number
    return None
