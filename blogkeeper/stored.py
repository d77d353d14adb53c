"""A post file's cache entry, and back: data, never code (a site's cache folder comes with
the site, from whoever hands it over).

An entry holds what the file gave: its `Post`, and the post's `Rendering` once a build has
rendered it (with the rendering's own key, `build._render_key`), so that an unchanged post
is one file read from the cache. It is one line of JSON with every field but the long
ones, then the packed body, the packed HTML, the intro and the packed twin, one after
another: reading them back is slicing, where JSON would scan and unescape every byte (a
fifth of an unchanged build's load, measured).

A post's dates are stored as their wall time in the site's timezone, which the entry's
key holds (`content.parsing_key`), and read back in it. A date or time inside `extra` (a
migrated post's `expiryDate`, say) is stored as a one-key object whose key starts with
NUL, which no key of a post can (`content` refuses control characters): only a head that
holds one is read back with a hook. A post whose entry would not give it back as it is
(an infinite number in `extra`, say) gets no entry: it is parsed and rendered every build.

This module only encodes and decodes; reading and writing entries is the cache's job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from blogkeeper.config import SiteConfig
from blogkeeper.errors import ContentError
from blogkeeper.model import Post, Rendering

_FIELDS = tuple(field.name for field in dataclasses.fields(Post))
_HEAD = tuple(name for name in _FIELDS if name != "packed_body")
_DATES = ("date", "updated")
_TUPLES = ("tags", "aliases")


def post_entry(
    post: Post, config: SiteConfig, rendering: tuple[str, Rendering] | None = None
) -> bytes | None:
    """The entry `entry_from` reads `post` (and `rendering`, its key and value) back
    from; None for a post it could not."""
    values: dict[str, Any] = {name: getattr(post, name) for name in _HEAD}
    for name in _DATES:
        value = values[name]
        if value is not None:
            if value.tzinfo is not config.tz:
                return None
            values[name] = [value.replace(tzinfo=None).isoformat(), value.fold]
    try:
        texts = [post.packed_body]
        made = None
        if rendering is not None:
            key, value = rendering
            intro = value.intro.encode("utf-8", "surrogatepass")
            texts += [value.packed_html, intro, value.packed_twin]
            made = {
                "key": key,
                "folded": value.folded,
                "intro_text": value.intro_text,
                "links": value.links,
                "ids": value.ids,
                "warnings": [[w.path, w.line, w.message, w.hint] for w in value.warnings],
            }
        head = {"post": values, "sizes": [len(text) for text in texts], "rendering": made}
        line = json.dumps(
            head, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_tagged
        )
        return line.encode() + b"\n" + b"".join(texts)
    except (TypeError, ValueError, UnicodeEncodeError):  # an infinity in `extra`; a lone surrogate
        return None


def entry_from(data: bytes | None, config: SiteConfig) -> tuple[Post, Rendering | None, str] | None:
    """The post an entry holds, its rendering (None: not rendered yet) and that
    rendering's key; None for no entry, or for one this code did not write."""
    if data is None:
        return None
    try:
        line, _, rest = data.partition(b"\n")  # JSON escapes every line break in the head
        head = json.loads(line, object_hook=_untagged if _TAG in line else None)
        values, made = head["post"], head["rendering"]
        if not isinstance(values, dict) or tuple(values) != _HEAD:
            return None
        texts, start = [], 0
        for size in head["sizes"]:
            texts.append(rest[start : start + size])
            start += size
        if start != len(rest) or len(texts) != (1 if made is None else 4):
            return None
        values["packed_body"] = texts[0]
        for name in _DATES:
            if values[name] is not None:
                wall, fold = values[name]
                values[name] = dt.datetime.fromisoformat(wall).replace(tzinfo=config.tz, fold=fold)
        for name in _TUPLES:
            values[name] = tuple(values[name])
        post = Post(**values)
        if made is None:
            return post, None, ""
        rendering = Rendering(
            packed_html=texts[1],
            intro=texts[2].decode("utf-8", "surrogatepass"),
            folded=made["folded"],
            links=tuple(made["links"]),
            ids=tuple(made["ids"]),
            packed_twin=texts[3],
            intro_text=made["intro_text"],
            warnings=tuple(ContentError(*warning) for warning in made["warnings"]),
        )
        return post, rendering, made["key"]
    except (ValueError, TypeError, KeyError):
        return None


# A date in `extra` becomes {"\0date": "2020-01-01"}, a datetime {"\0datetime": ...}.
_TAGS: dict[str, type[dt.date]] = {"\0date": dt.date, "\0datetime": dt.datetime}
_TAG = json.dumps("\0").encode()[1:-1]  # as JSON writes it: \u0000


def _tagged(value: object) -> dict[str, str]:
    """`value` as JSON holds it, for `json.dumps`; TypeError for a value it cannot."""
    for tag, kind in reversed(_TAGS.items()):  # a datetime is a date too
        if isinstance(value, kind):
            return {tag: value.isoformat()}
    raise TypeError(f"{type(value).__name__} in a post entry")


def _untagged(values: dict[str, Any]) -> Any:
    """What `_tagged` wrote `values` for, for `json.loads`: each mapping, inside out."""
    if len(values) == 1:
        ((tag, text),) = values.items()
        if (kind := _TAGS.get(tag)) is not None:
            return kind.fromisoformat(text)
    return values
