"""A post as a cache entry, and back: data, never code (a site's cache folder comes with
the site, from whoever hands it over). An entry is one line of JSON with every field but
the body, then the body's UTF-8: reading the body back is a slice, where JSON would
scan and unescape every byte of it (a fifth of an unchanged build's load, measured).

A post's dates are stored as their wall time in the site's timezone, which the entry's
key holds (`content.parsing_key`), and read back in it. A post that JSON cannot
hold as it is (a YAML date inside `extra`, say) gets no entry: it is parsed every build.

This module only encodes and decodes; reading and writing entries is the cache's job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from blogkeeper.config import SiteConfig
from blogkeeper.model import Post

_FIELDS = tuple(field.name for field in dataclasses.fields(Post))
_HEAD = tuple(name for name in _FIELDS if name != "body")
_DATES = ("date", "updated")
_TUPLES = ("tags", "aliases")


def post_entry(post: Post, config: SiteConfig) -> bytes | None:
    """The entry `post_from` reads `post` back from; None for a post it could not."""
    values: dict[str, Any] = {name: getattr(post, name) for name in _HEAD}
    for name in _DATES:
        value = values[name]
        if value is not None:
            if value.tzinfo is not config.tz:
                return None
            values[name] = [value.replace(tzinfo=None).isoformat(), value.fold]
    try:
        head = json.dumps(values, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return head.encode() + b"\n" + post.body.encode()
    except (TypeError, ValueError):  # a date in `extra`; a lone surrogate
        return None


def post_from(data: bytes | None, config: SiteConfig) -> Post | None:
    """The post an entry holds; None for none, or for one this code did not write."""
    if data is None:
        return None
    try:
        head, _, body = data.partition(b"\n")  # JSON escapes every line break in the head
        values = json.loads(head)
        if not isinstance(values, dict) or tuple(values) != _HEAD:
            return None
        values["body"] = body.decode()
        for name in _DATES:
            if values[name] is not None:
                wall, fold = values[name]
                values[name] = dt.datetime.fromisoformat(wall).replace(tzinfo=config.tz, fold=fold)
        for name in _TUPLES:
            values[name] = tuple(values[name])
        return Post(**values)
    except (ValueError, TypeError):
        return None
