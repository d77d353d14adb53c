"""Load posts from `posts/` into frozen `Post` values, checking front matter strictly.

Front matter is a closed schema: unknown keys, duplicate keys, wrong types and impossible
dates are errors located at their line in the post file. This module reads files and
writes none: each post file's cache entry is read here (`load_cached`), and put by the
build once the post is rendered (build.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from blogkeeper import deadline, stored, urls
from blogkeeper.cache import Cache, code_digest, fingerprint
from blogkeeper.config import CONTROL, CONTROL_HINT, SiteConfig, image_problem, nested_strings
from blogkeeper.errors import BuildError, ContentError, did_you_mean
from blogkeeper.fences import find_fold
from blogkeeper.files import read_regular
from blogkeeper.model import RENDER_CODE, Post, Rendering, pack
from blogkeeper.urls import image_path

if TYPE_CHECKING:
    import yaml

POSTS_DIR = "posts"
POST_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True)
class LoadOptions:
    drafts: bool = False
    future: bool = False
    now: dt.datetime | None = None


FIELDS = {
    "title": "text",
    "date": "date",
    "updated": "date",
    "tags": "list",
    "series": "text",
    "part": "int",
    "summary": "text",
    "slug": "text",
    "draft": "bool",
    "check_code": "bool",
    "llms": "bool",
    "permalink": "text",
    "aliases": "list",
    "extra": "mapping",
    "image": "image",
}
REQUIRED = ("title", "date")
# Front-matter names other generators (Jekyll, Hugo, Pelican) use, and what to do instead.
OTHER_NAMES = {
    "categories": "did you mean `tags`? blogkeeper's topics are the post's `tags`",
    "category": "did you mean `tags`? blogkeeper's topics are the post's `tags`",
    "excerpt": "did you mean `summary`? (the intro shown on lists ends at a `<!--more-->` line)",
    "description": "did you mean `summary`?",
    "lastmod": "did you mean `updated`?",
    "modified": "did you mean `updated`?",
    "layout": (
        "remove it: templates decide the layout (templates/post.html for every post; "
        "see `blogkeeper templates`), or keep a value for your templates under `extra`"
    ),
    "url": "did you mean `permalink`? (a path such as /2015/05/old-name/)",
    "published": "did you mean `draft`? (`published: false` is `draft: true`)",
}


def load_posts(config: SiteConfig, options: LoadOptions) -> list[Post]:
    """Every publishable post under posts/, newest first; raises `BuildError`."""
    return select_posts(config, options)[0]


def select_posts(
    config: SiteConfig,
    options: LoadOptions,
    load: Callable[[SiteConfig, Path], Entry] | None = None,
    memo: dict[int, tuple[object, bytes]] | None = None,
    cache: Cache | None = None,
    found: dict[str, Entry] | None = None,
) -> tuple[list[Post], int, int]:
    """Every publishable post under posts/, newest first, and how many drafts and how
    many future-dated posts were left out; raises `BuildError` with every error. Each
    file is read by `load` (a preview's, which keeps unchanged posts), else as
    `load_cached` reads it, from `cache` (on every core for a big site: `_load_shared`).
    `found` gets each post's `Entry` (drafts' too) by source, and `memo` each post's
    fingerprint: its entry's key."""
    posts: list[Post] = []
    paths, errors = find_post_files(config.root)
    cache = cache or Cache(None)
    if load is None:
        loaded = _load_shared(config, paths, cache)
    else:
        loaded = [_loaded(load, config, path) for path in paths]
    for entry in loaded:
        if isinstance(entry, Entry):
            posts.append(entry.post)
            if found is not None:
                found[entry.post.source] = entry
            if memo is not None:
                memo[id(entry.post)] = (entry.post, bytes.fromhex(entry.key))
        else:
            errors.extend(entry)
    now = options.now or dt.datetime.now(tz=config.tz)
    published, drafts, scheduled = [], 0, 0
    for post in posts:
        if post.draft and not options.drafts:
            drafts += 1
        elif post.date > now and not options.future:
            scheduled += 1
        else:
            published.append(post)
    errors.extend(_collisions(published))
    if errors:
        raise BuildError(errors)
    newest_first = sorted(published, key=lambda p: (p.date, p.source), reverse=True)
    return newest_first, drafts, scheduled


class Entry(NamedTuple):
    """A post as loaded: the cache key of its file's entry, the size of the entry the
    cache holds under it (0: none), and the rendering that entry holds, under the
    rendering's own key (None: it holds none yet, or there is no entry)."""

    post: Post
    key: str
    size: int = 0
    rendering: tuple[str, Rendering] | None = None


# A child process is worth forking to load this many posts (about 40 ms of work).
POSTS_PER_CHILD = 500
# The code a post file's entry comes from: its rendering (`RENDER_CODE`), and its parse
# (here). A change to any of them parses and renders every post again.
ENTRY_CODE = (*RENDER_CODE, "yaml", "frontmatter")


def _load_shared(
    config: SiteConfig, paths: list[Path], cache: Cache
) -> list[Entry | list[ContentError]]:
    """Each post loaded as `load_cached` loads it, shared out among forked children, one
    run of paths each, when there are enough posts: reading 10,000 posts takes seconds on
    one core, from the cache too. A child sends each entry's bytes as it reads them (or
    the post it parsed, if there was none), which this process decodes meanwhile."""
    site = parsing_key(config)
    code_digest(*ENTRY_CODE)  # once, before the children start
    shares = min(deadline.pool_size(), len(paths) // POSTS_PER_CHILD)
    if shares < 2 or not deadline.child_inherits():
        return [load_cached(config, path, cache, site) for path in paths]
    size = -(-len(paths) // shares)
    calls = [
        (config, paths[i : i + size], cache.folder, cache.reading, site)
        for i in range(0, len(paths), size)
    ]

    def arrived(read: Read) -> Entry | list[ContentError]:
        return _entry(config, read, cache, site)

    try:
        made = deadline.call_in_children(LOAD_SECONDS, LOAD_MEMORY, _load_in_child, calls, arrived)
    except (deadline.ChildDied, deadline.Overrun):  # killed from outside, say: load here
        return [load_cached(config, path, cache, site) for path in paths]
    return [entry for share in made for entry in share]


# How long, and with how much memory more than its parent, a child may load posts.
LOAD_SECONDS = 600.0
LOAD_MEMORY = 8 << 30

# What reading a post file gives (`_read`): its path, then the bytes of its entry, or
# else the post parsed from it, or else its errors; then the entry's key and size.
Read = tuple[str, bytes | Post | list[ContentError], str, int]


def _load_in_child(
    config: SiteConfig, paths: list[Path], folder: Path | None, reading: bool, site: str
) -> Iterator[Read]:
    """`_read` of each path with a cache of its own on the same folder, each given as it
    is read."""
    cache = Cache(folder, reading)
    for path in paths:
        yield _read(config, path, cache, site)


def parsing_key(config: SiteConfig) -> str:
    """The fingerprint of what a post file's entry is made with of `config` (`_parsing`)."""
    return fingerprint(_parsing(config), {}).hex()


def _parsing(config: SiteConfig) -> SiteConfig:
    """`config` as `load_cached` parses a post with: its folder, timezone and permalink
    pattern, and the site's URL (which the post's rendering reads), every other setting
    left at its default. A post's key holds these, so that a new title does not parse
    and render every post again; and since the parse sees nothing else, a post cannot
    depend on a setting its key does not hold."""
    return SiteConfig(
        root=config.root,
        title="",
        url=config.url,
        timezone=config.timezone,
        permalink=config.permalink,
    )


def load_cached(
    config: SiteConfig, path: Path, cache: Cache, site: str
) -> Entry | list[ContentError]:
    """The post in the file at `path` (or its errors) as an `Entry`: its key in `cache`
    is a digest of the file's bytes and name, of `site` (`parsing_key(config)`) and of
    the code. Taken, with its rendering, from the entry `cache` holds under it, else
    parsed (a build puts the entry once the post is rendered)."""
    return _entry(config, _read(config, path, cache, site), cache, site)


def _read(config: SiteConfig, path: Path, cache: Cache, site: str) -> Read:
    """The file at `path` read: its entry's bytes if `cache` holds one, else parsed."""
    source = source_of(config.root, path)
    name = os.fspath(path)
    try:
        data = read_bytes(path, source, config.max_post_bytes)
    except BuildError as exc:
        return name, list(exc.errors), "", 0
    key = Cache.key("post file", ENTRY_CODE, site, source, data)
    if (held := cache.get(key)) is not None:
        return name, held, key, len(held)
    try:
        return name, parse_post(_parsing(config), path, source, decode_source(data, source)), key, 0
    except BuildError as exc:
        return name, list(exc.errors), key, 0


def _entry(config: SiteConfig, read: Read, cache: Cache, site: str) -> Entry | list[ContentError]:
    """What `_read` gave, as an `Entry` (or the errors); an entry that does not decode is
    parsed from the file again."""
    name, got, key, size = read
    if isinstance(got, bytes):
        taken = stored.entry_from(got, config)
        if taken is None:  # not one this code wrote
            return _entry(config, _read(config, Path(name), Cache(None), site), cache, site)
        cache.keep(key, size)  # read by a child, say
        post, rendering, rendering_key = taken
        return Entry(post, key, size, None if rendering is None else (rendering_key, rendering))
    return Entry(got, key) if isinstance(got, Post) else got


def _loaded(
    load: Callable[[SiteConfig, Path], Entry], config: SiteConfig, path: Path
) -> Entry | list[ContentError]:
    """The post `load` gives, or its errors."""
    try:
        return load(config, path)
    except BuildError as exc:
        return list(exc.errors)


def find_post_files(root: Path) -> tuple[list[Path], list[ContentError]]:
    """Markdown files under posts/, sorted, and errors for folders that cannot be walked.

    Dotfiles and AppleDouble `._*` files are skipped. A link to a folder is followed like
    the folder itself (posts kept elsewhere are posts too); one that leads back to a
    folder it is inside would make the walk endless, and is an error.
    """
    base = root / POSTS_DIR
    if not base.is_dir():
        if base.exists():  # a blog whose posts are all in one file, it seems
            return [], [ContentError(POSTS_DIR, None, "is a file, not a folder of posts")]
        return [], []
    found: list[Path] = []
    errors: list[ContentError] = []

    def walk(folder: Path, above: frozenset[str]) -> None:
        """Each folder's entries in name order, a folder's files where its name is: the
        files come out sorted as paths are (name by name), with no sort of them all."""
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            errors.append(_unreadable(root, folder, f"cannot read folder: {exc.strerror}"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = folder / entry.name
            # A dangling link or a FIFO is kept, so that it fails loudly when read. The
            # folder listing already says what each entry is; only a link needs a stat.
            if not (entry.is_dir(follow_symlinks=False) or (entry.is_symlink() and path.is_dir())):
                if path.suffix.lower() in POST_SUFFIXES:
                    found.append(path)
            elif (real := os.path.realpath(path)) in above:
                message = "folder link leads back to a folder it is inside"
                errors.append(_unreadable(root, path, message, "remove the link"))
            else:
                walk(path, above | {real})

    walk(base, frozenset([os.path.realpath(base)]))
    return found, errors


def source_of(root: Path, path: Path) -> str:
    """`path` as the author knows it, relative to the site's `root` (`posts/a.md`): by
    slicing its text where that is the same (10,000 `Path.relative_to` take 0.2 s)."""
    text, base = str(path), str(root)
    if os.sep == "/" and text.startswith(base) and text[len(base) : len(base) + 1] == "/":
        return text[len(base) + 1 :]
    return path.relative_to(root).as_posix()


def _unreadable(root: Path, path: Path, message: str, hint: str | None = None) -> ContentError:
    return ContentError(path.relative_to(root).as_posix(), None, message, hint)


def load_post(config: SiteConfig, path: Path) -> Post:
    """The post in the file at `path`."""
    source = path.relative_to(config.root).as_posix()
    data = read_bytes(path, source, config.max_post_bytes)
    return parse_post(config, path, source, decode_source(data, source))


def parse_post(config: SiteConfig, path: Path, source: str, text: str) -> Post:
    meta, body, body_line = split_front_matter(text, source)
    values = _check_fields(meta, source, config)
    lines = body.split("\n")
    slug = _slug_for(values, meta, path, source)
    permalink = values.get("permalink")
    if permalink:
        site_path = permalink.removeprefix("/")
    else:
        # Only a pattern with `:title` needs the file-name title worked out.
        title = (_title_for(values, path) or slug) if ":title" in config.permalink else slug
        site_path = urls.permalink_path(config.permalink, values["date"], slug, title)
    folder = site_path if site_path.endswith("/") else site_path.rpartition("/")[0] + "/"
    image = _image(values.get("image"), folder.removeprefix("/"), meta, source)
    return Post(
        source=source,
        title=values["title"],
        date=values["date"],
        updated=values.get("updated"),
        tags=tuple(values.get("tags", ())),
        series=values.get("series"),
        part=values.get("part"),
        summary=values.get("summary", ""),
        slug=slug,
        draft=values.get("draft", False),
        check_code=values.get("check_code"),
        llms=values.get("llms", True),
        packed_body=pack(body),
        body_line=body_line,
        fold=find_fold(lines),
        path=site_path,
        aliases=tuple(values.get("aliases", ())),
        extra=values.get("extra", {}),
        lines={key: line for key, (_, line) in meta.items()},
        image=image,
        image_line=meta["image"][1] if image else None,
    )


def _image(
    value: str | None, folder: str, meta: dict[str, tuple[Any, int]], source: str
) -> str | None:
    """The post's card image: its https URL as written, or the site path it names."""
    if not value or value.startswith("https://"):
        return value or None
    found = image_path(value, folder)
    if found is None:
        message = f"`image` {value!r} climbs above the site root from /{folder}"
        hint = "write it as a site path, like /assets/card.png"
        raise BuildError([ContentError(source, meta["image"][1], message, hint)])
    return found


def read_bytes(path: Path, source: str, limit: int) -> bytes:
    """The post file's bytes (see `files.read_regular`)."""
    kind = "a post must be a regular file, or a link to one"
    return read_regular(path, source, limit, kind, "raise `max_post_bytes` in blog.toml")


def decode_source(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BuildError(
            [
                ContentError(
                    source, line, f"invalid UTF-8 at byte {exc.start}", "save the file as UTF-8"
                )
            ]
        ) from None
    text = normalise_text(text)
    # Checked here, where every reader of a post (the build, check-code) gets its text;
    # searched for only in a file that has a byte one could be (a tenth of the time).
    maybe = data.translate(None, _NOT_CONTROL) or b"\xc2" in data
    if maybe and (errors := control_errors(text, source)):
        raise BuildError(errors)
    return text


# Every byte but the ASCII control characters `CONTROL` matches; its U+0080 to U+009F
# are \xc2 and a second byte in UTF-8.
_NOT_CONTROL = bytes(b for b in range(256) if not CONTROL.match(chr(b)) or b > 0x7F)


_MAX_CONTROL_ERRORS = 5


def control_errors(text: str, source: str) -> list[ContentError]:
    """An error for each of the first lines of `text` that hold a control character."""
    errors: list[ContentError] = []
    pos, line = 0, 1
    while len(errors) < _MAX_CONTROL_ERRORS and (found := CONTROL.search(text, pos)):
        line += text.count("\n", pos, found.start())
        message = f"control character U+{ord(found[0]):04X} is not allowed"
        errors.append(ContentError(source, line, message, CONTROL_HINT))
        pos = text.find("\n", found.start())
        if pos == -1:
            break
    return errors


def normalise_text(text: str) -> str:
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def split_front_matter(text: str, source: str) -> tuple[dict[str, tuple[Any, int]], str, int]:
    """(front matter with each key's line, body, 1-based line where the body starts)."""
    # python-frontmatter finds the `---` delimiters; blogkeeper parses the YAML itself.
    from frontmatter.default_handlers import YAMLHandler

    handler = YAMLHandler()
    if not handler.detect(text):
        hint = "did you forget to start the file with a `---` line?"
        if text.startswith("+++"):
            hint = (
                "`+++` opens Hugo's TOML front matter; blogkeeper reads YAML between `---` "
                "lines (`blogkeeper import` converts a Hugo site's posts)"
            )
        raise BuildError([ContentError(source, 1, "no front matter", hint)])
    # Only as far as the closing `---`: the body below it may be long.
    opening = handler.FM_BOUNDARY.match(text)
    closing = handler.FM_BOUNDARY.search(text, opening.end()) if opening else None
    if opening is None or closing is None:
        hint = "add a `---` line after the last front-matter key"
        if dots := re.search(r"^\.\.\.[ \t]*$", text, re.MULTILINE):
            line = text.count("\n", 0, dots.start()) + 1
            hint = f"line {line}'s `...` ends a YAML document, as Jekyll reads it; write `---`"
        raise BuildError([ContentError(source, 1, "front matter is never closed", hint)])
    yaml_text = text[text.index("\n", opening.start()) + 1 : closing.start()]
    close_line = text.count("\n", 0, closing.start()) + 1
    newline = text.find("\n", closing.start())
    body = "" if newline == -1 else text[newline + 1 :]
    return _front_matter_yaml(yaml_text, source), body, close_line + 1


def _front_matter_yaml(text: str, source: str) -> dict[str, tuple[Any, int]]:
    import yaml

    # libyaml's safe loader builds the same nodes with the same marks, ten times faster.
    fast_loader = getattr(yaml, "CSafeLoader", None)
    try:
        if fast_loader is None:
            return parse_yaml(text, source, 2)
        try:
            return parse_yaml(text, source, 2, fast_loader)
        except BuildError as fast_error:
            # libyaml words and places some syntax errors differently (a control character
            # on line 4 is reported on line 2); errors are rare, so report them as PyYAML
            # does, unless PyYAML, which recurses once per level, cannot read them at all.
            try:
                return parse_yaml(text, source, 2)
            except RecursionError:
                raise fast_error from None
    except RecursionError:
        message = "front matter nested too deeply to read"
        raise BuildError([ContentError(source, _deepest_line(text, 2), message)]) from None


def _deepest_line(text: str, first_line: int) -> int:
    """The line where `text` first nests deeper than any front matter needs to.

    Read from parser events, which PyYAML makes without recursing, unlike its nodes.
    """
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > 20:
                    return int(event.start_mark.line) + first_line
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return first_line


def parse_yaml(
    text: str, source: str, first_line: int, loader_class: type[yaml.SafeLoader] | None = None
) -> dict[str, tuple[Any, int]]:
    """A YAML mapping as {key: (value, line)}, with duplicate keys as errors."""
    import yaml

    loader_class = loader_class or yaml.SafeLoader
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:  # a control character, found before parsing
        line = text.count("\n", 0, exc.position) + first_line
        message = f"invalid YAML: character U+{exc.character:04X} is not allowed"
        raise BuildError([ContentError(source, line, message)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise BuildError([ContentError(source, first_line, "front matter is empty")])
        if not isinstance(node, yaml.MappingNode):
            raise BuildError(
                [
                    ContentError(
                        source,
                        node.start_mark.line + first_line,
                        "front matter must be a mapping of `key: value` lines",
                    )
                ]
            )
        return _read_mapping(loader, node, source, first_line)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark else first_line
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark:
            # "expected ',' or ']'" is found lines after the `[` that was never closed.
            problem += f" ({exc.context} on line {exc.context_mark.line + first_line})"
        raise BuildError([ContentError(source, line, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise BuildError([ContentError(source, first_line, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def _read_mapping(
    loader: yaml.SafeLoader, node: yaml.MappingNode, source: str, first_line: int
) -> dict[str, tuple[Any, int]]:
    import yaml

    values: dict[str, tuple[Any, int]] = {}
    errors = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + first_line
        if not isinstance(key_node, yaml.ScalarNode):
            errors.append(ContentError(source, line, "a front-matter key must be a name"))
            continue
        key = str(key_node.value)
        if key in values:
            errors.append(
                ContentError(
                    source, line, f"duplicate key `{key}`", f"first set on line {values[key][1]}"
                )
            )
            continue
        try:
            values[key] = (_construct(loader, value_node, FIELDS.get(key)), line)
        except _TagError as exc:
            error = ContentError(source, exc.line + first_line, str(exc), _TAG_HINT)
            values[key] = (_Invalid(error), line)
        except ValueError as exc:
            written = f" {value_node.value}" if isinstance(value_node, yaml.ScalarNode) else ""
            message = f"invalid value for `{key}`{written}: {exc}"
            values[key] = (_Invalid(ContentError(source, line, message)), line)
    if errors:
        raise BuildError(errors)
    return values


@dataclass(frozen=True)
class _Invalid:
    """A value YAML could not give (a bad date, a tag): reported with the post's other
    errors by `_check_fields`, so every error of a post comes at once."""

    error: ContentError


class _TagError(Exception):
    """A node carries an explicit YAML tag (`!!binary`, `!custom`) that no field takes."""

    def __init__(self, node: yaml.Node) -> None:
        tag = node.tag.replace(_YAML, "!!")
        super().__init__(f"YAML tag `{tag}` is not allowed in front matter")
        self.line = node.start_mark.line


_TAG_HINT = "remove the tag and write the value plainly"
# Stands for any value nested deeper than a field can be: no field takes it, so it is
# never built (building a value nested 300 levels deep overflows Python's stack).
_NESTED = ("a nested value",)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, kind: str | None) -> Any:
    """The value of a field of `kind`; None for an unknown key, which is an error anyway."""
    import yaml

    if kind is None:
        return None
    _refuse_tag(loader, node)
    if kind == "mapping":
        if not isinstance(node, yaml.MappingNode):
            return _NOT_MAPPING
        return _plain(loader, node, 0, [_EXTRA_VALUES])
    if kind == "list" and isinstance(node, yaml.SequenceNode):
        if not all(isinstance(item, yaml.ScalarNode) for item in node.value):
            return _NESTED
        for item in node.value:
            _refuse_tag(loader, item)
        return [item.value for item in node.value]
    if not isinstance(node, yaml.ScalarNode):
        return _NESTED
    # Text fields take the scalar as written, so `title: no` is "no", not False.
    if kind in ("text", "image"):
        return node.value
    if kind == "list":
        # `tags:` left empty is no tags; `tags: AI` is one.
        return [] if node.tag == "tag:yaml.org,2002:null" else [node.value]
    return loader.construct_object(node)


_NOT_MAPPING = ("not a mapping",)
_EXTRA_DEPTH = 10  # how deep `extra` may nest: deep enough for any template's settings
# How many values `extra` may hold: YAML's `&anchor`/`*alias` can repeat a list inside
# itself ten levels deep (a billion values from a few lines), and building it would never end.
_EXTRA_VALUES = 10_000


def _plain(loader: yaml.SafeLoader, node: yaml.Node, depth: int, budget: list[int]) -> Any:
    """A free-form value (`extra`) built from its node: mappings with text keys, lists and
    scalars, no tags, at most `_EXTRA_DEPTH` levels deep and `_EXTRA_VALUES` values
    (`_NESTED` stands for what is past either)."""
    import yaml

    _refuse_tag(loader, node)
    budget[0] -= 1
    if budget[0] < 0 or (depth >= _EXTRA_DEPTH and not isinstance(node, yaml.ScalarNode)):
        return _NESTED
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node)
    if isinstance(node, yaml.SequenceNode):
        return [_plain(loader, item, depth + 1, budget) for item in node.value]
    mapping = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            return _NESTED
        mapping[str(key.value)] = _plain(loader, value, depth + 1, budget)
    return mapping


def _refuse_tag(loader: yaml.SafeLoader, node: yaml.Node) -> None:
    """Raise `_TagError` if `node` has a tag other than the one YAML gives it unasked.

    `!!str` on a scalar is allowed: it only says what a text field takes anyway.
    """
    import yaml

    if isinstance(node, yaml.ScalarNode):
        if node.tag == _YAML + "str":  # most values: no need to resolve the implicit tag
            return
        plain = not node.style  # libyaml gives "" for a plain scalar, PyYAML None
        allowed = loader.resolve(yaml.ScalarNode, node.value, (plain, not plain))
    else:
        allowed = _YAML + ("seq" if isinstance(node, yaml.SequenceNode) else "map")
    if node.tag != allowed:
        raise _TagError(node)


_YAML = "tag:yaml.org,2002:"


def _check_fields(
    meta: dict[str, tuple[Any, int]], source: str, config: SiteConfig
) -> dict[str, Any]:
    errors: list[ContentError] = []
    values: dict[str, Any] = {}
    for key, (value, line) in meta.items():
        kind = FIELDS.get(key)
        if isinstance(value, _Invalid):
            errors.append(value.error)
            continue
        if kind is None:
            hint = OTHER_NAMES.get(key.lower()) or did_you_mean(key, FIELDS)
            errors.append(ContentError(source, line, f"unknown front-matter key `{key}`", hint))
            continue
        # Controls first, in the value as written: `strip` would hide a tag's U+0085.
        texts = _texts(value)
        problem, hint = _control_problem(texts)
        checked = None
        if not problem:
            checked, problem = _check_value(kind, value, config)
        # Checking makes no text, so only a value written with a surrogate can hold one.
        if not problem and any(_SURROGATE.search(text) for text in texts):
            checked = _join_surrogate_pairs(checked)
            if any(_SURROGATE.search(text) for text in _texts(checked)):
                problem = (
                    "contains a lone surrogate (a \\uD800-\\uDFFF escape) that no file can store"
                )
        if not problem:
            problem, hint = _url_problem(key, checked)
        if problem:
            errors.append(ContentError(source, line, f"`{key}` {problem}", hint))
        else:
            values[key] = checked
    for key in REQUIRED:
        if key not in meta:
            errors.append(ContentError(source, 1, f"`{key}` is required in the front matter"))
    if "title" in values and not values["title"].strip():
        errors.append(ContentError(source, meta["title"][1], "`title` is empty"))
    if values.get("part") is not None and not values.get("series"):
        message, hint = "`part` without a `series`", "name the series, or leave `part` out"
        errors.append(ContentError(source, meta["part"][1], message, hint))
    updated, date = values.get("updated"), values.get("date")
    if updated is not None and date is not None and updated < date:
        shown = "%Y-%m-%d %H:%M" if updated.date() == date.date() else "%Y-%m-%d"
        message = f"`updated` ({updated:{shown}}) is before `date` ({date:{shown}})"
        hint = "a post is updated after it is published: swap them, or fix the typo"
        errors.append(ContentError(source, meta["updated"][1], message, hint))
    if errors:
        raise BuildError(errors)
    return values


_SURROGATE = re.compile("[\ud800-\udfff]")


def _control_problem(texts: list[str]) -> tuple[str | None, str | None]:
    """(problem, hint) for a control character a YAML escape put in a value's `texts`."""
    for text in texts:
        if found := CONTROL.search(text):
            problem = f"holds control character U+{ord(found[0]):04X}, written as an escape"
            return problem, CONTROL_HINT
    return None, None


def _texts(value: Any) -> list[str]:
    return nested_strings(value)


def _url_problem(key: str, value: Any) -> tuple[str | None, str | None]:
    """(problem, hint) for a `permalink` or an alias that is no usable site path."""
    if key == "permalink" and value:
        if problem := urls.path_problem(value, page=True):
            return problem, 'for example permalink: "/2015/05/21/old-name/"'
        return None, None
    if key == "aliases":
        for alias in value:
            if problem := urls.path_problem(alias, page=False):
                return f"{alias!r} {problem}", "write each old URL as a path: /2015/05/old-name/"
    return None, None


def _join_surrogate_pairs(value: Any) -> Any:
    """YAML reads `"\\ud83d\\ude00"` (JSON's escape for one emoji) as two halves: join them."""
    if isinstance(value, list):
        return [_join_surrogate_pairs(v) for v in value]
    if isinstance(value, dict):
        return {_join_surrogate_pairs(k): _join_surrogate_pairs(v) for k, v in value.items()}
    if not isinstance(value, str) or not _SURROGATE.search(value):
        return value
    try:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return value  # a lone half: reported by the caller


def _check_value(kind: str, value: Any, config: SiteConfig) -> tuple[Any, str | None]:
    if kind == "text":
        return (value, None) if isinstance(value, str) else (None, "must be text")
    if kind == "bool":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value, None
        return None, "must be a whole number, 1 or more"
    if kind == "image":
        if not isinstance(value, str):
            return None, "must be text: a site path, a path relative to the post or an https URL"
        return value.strip(), image_problem(value.strip())
    if kind == "list":
        if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
            return _unique(v.strip() for v in value), None
        return None, "must be a list of names, like [AI, Musings]"
    if kind == "mapping":
        if value is _NOT_MAPPING:
            return None, "must be a mapping of `key: value` lines, indented under it"
        if _NESTED in nested_values(value):
            problem = f"nests deeper than {_EXTRA_DEPTH} levels, holds more than "
            return None, f"{problem}{_EXTRA_VALUES:,} values, or has a key that is no name"
        return value, None
    return _check_date(value, config)


def nested_values(value: Any) -> list[Any]:
    """Every value inside a value of nested lists and mappings."""
    found, todo = [], [value]
    while todo:
        item = todo.pop()
        found.append(item)
        if isinstance(item, dict):
            todo += item.values()
        elif isinstance(item, list):
            todo += item
    return found


def _check_date(value: Any, config: SiteConfig) -> tuple[Any, str | None]:
    tz = config.tz
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None, f"is not a date: {value!r} (use YYYY-MM-DD or YYYY-MM-DD HH:MM)"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        return None, "must be a date like 2026-03-14"
    try:
        value = value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
        value.astimezone(dt.UTC)  # feeds and sitemaps give every date in UTC
    except OverflowError:
        edge = "before year 1" if value.year == 1 else "after year 9999"
        return (
            None,
            f"is out of range: {value.isoformat(' ')} is {edge} in UTC or the site timezone",
        )
    return value, None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,3})[-_](?=.)")


def slugify(text: str) -> str:
    """A readable URL segment: Unicode letters, marks and digits kept, runs of the rest '-'.

    Marks matter: `\\w` drops the vowel signs of Devanagari and other scripts, which
    would turn "हिन्दी" into "ह-न-द".
    """
    text = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else "-" for c in text)
    return re.sub(r"-+", "-", kept).strip("-")


def _slug_for(
    values: dict[str, Any], meta: dict[str, tuple[Any, int]], path: Path, source: str
) -> str:
    """The post's slug; an explicit `slug:` that slugifies to nothing is an error."""
    explicit = values.get("slug") or None  # `slug:` left empty means no slug
    if explicit is not None and not slugify(explicit):
        message = f"`slug` {explicit!r} has no letters or digits"
        hint = "use letters, digits and dashes, or leave `slug` out"
        raise BuildError([ContentError(source, meta["slug"][1], message, hint)])
    return _choose_slug(explicit, _file_name(path), values["title"], source)


def _title_for(values: dict[str, Any], path: Path) -> str:
    """The `:title` of a permalink: `slug:` or else the file name without its leading
    date, with its case kept (`2015-05-21-Javascript-Tips.md` -> `Javascript-Tips`)."""
    explicit = values.get("slug") or None
    if explicit is not None:
        return urls.title_segment(explicit)
    return urls.title_segment(_DATE_PREFIX.sub("", _file_name(path)))


def file_slug(path: Path) -> str:
    """The slug a post file's name gives it (without `slug:` in its front matter)."""
    return slugify(_DATE_PREFIX.sub("", _file_name(path)))


def _file_name(path: Path) -> str:
    """What names a post file: its name, or its folder's for posts/my-post/index.md, as
    page bundles are named elsewhere."""
    bundle = path.stem.lower() == "index" and path.parent.name != POSTS_DIR
    return path.parent.name if bundle else path.stem


def _choose_slug(explicit: str | None, stem: str, title: str, source: str) -> str:
    candidates = [explicit] if explicit is not None else [_DATE_PREFIX.sub("", stem), title]
    for candidate in candidates:
        slug = slugify(candidate)
        if slug:
            return slug
    return "post-" + hashlib.sha256(source.encode()).hexdigest()[:8]


def _collisions(posts: list[Post]) -> list[ContentError]:
    """Two posts on one page file; case does not count, as some hosts ignore it."""
    seen: dict[str, Post] = {}
    errors = []
    for post in sorted(posts, key=lambda p: p.source):
        key = urls.page_file(post.path).casefold()
        if key in seen:
            other = seen[key]
            same = other.path == post.path
            message = f"this post has the same URL /{post.path} as {other.source}"
            if not same:
                message += f" (/{other.path}) on hosts that ignore case"
            hint = "give one of them a different `slug`"
            if "permalink" in post.lines or "permalink" in other.lines:
                hint = "change one's `permalink`, or give it a different `slug`"
            errors.append(ContentError(post.source, url_line(post), message, hint))
        else:
            seen[key] = post
    return errors


def url_line(post: Post) -> int:
    """The front-matter line that decides a post's URL: `permalink`, else `slug`, else 1."""
    return post.lines.get("permalink") or post.lines.get("slug") or 1
