"""A post as a cache entry, and back: JSON, so that the cache holds data, never code (a
site's cache folder comes with the site, from whoever hands it over).

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
_DATES = ("date", "updated")
_TUPLES = ("tags", "aliases")


def post_entry(post: Post, config: SiteConfig) -> bytes | None:
    """The entry `post_from` reads `post` back from; None for a post it could not."""
    values: dict[str, Any] = {name: getattr(post, name) for name in _FIELDS}
    for name in _DATES:
        value = values[name]
        if value is not None:
            if value.tzinfo is not config.tz:
                return None
            values[name] = [value.replace(tzinfo=None).isoformat(), value.fold]
    try:
        text = json.dumps(values, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode()
    except (TypeError, ValueError):  # a date in `extra`; a lone surrogate
        return None


def post_from(data: bytes | None, config: SiteConfig) -> Post | None:
    """The post an entry holds; None for none, or for one this code did not write."""
    if data is None:
        return None
    try:
        values = json.loads(data)
        if not isinstance(values, dict) or tuple(values) != _FIELDS:
            return None
        for name in _DATES:
            if values[name] is not None:
                wall, fold = values[name]
                values[name] = dt.datetime.fromisoformat(wall).replace(tzinfo=config.tz, fold=fold)
        for name in _TUPLES:
            values[name] = tuple(values[name])
        return Post(**values)
    except (ValueError, TypeError):
        return None
