"""`blogkeeper init`, `new` and `templates`: create a blog folder, a draft post, or a
copy of a built-in template to start an override.

Never overwrites: an existing post file or template is an error, and so is a folder
that holds more than a fresh clone of a new repository does (`CLONE_FILES`).
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path

from blogkeeper.config import load_config
from blogkeeper.content import POSTS_DIR, file_slug, slugify
from blogkeeper.deploy import deploy_files
from blogkeeper.errors import BuildError, ContentError, did_you_mean

BLOG_TOML = """\
title = "My technical blog"
url = "https://example.org/"
description = "Notes on code, written down so they can be checked."
author = "A. Writer"
language = "en"
timezone = "UTC"
posts_per_page = 10
# The social card (og:image) of every page without its own `image`: a file in static/.
# image = "/assets/card.png"

[feed]
full_text = true
items = 20
"""

FIRST_POST = """\
---
title: "Hello, world"
date: {date}
tags: [Meta]
summary: "The first post on this blog."
check_code: true
---
This is the first post. Everything above the fold line below is the intro that the
front page and the feed description show.

<!--more-->

Everything below the fold appears on the post's own page and in the full-text feed.
`check_code: true` above opts this post in to `blogkeeper check-code`, which runs the
block below and checks that it prints what the output block after it shows.

```python
print(2 + 2)
```

```output
4
```
"""


# What a fresh clone of a new repository may hold already: `init` writes none of them
# but `.gitignore`, to which it adds its lines.
CLONE_FILES = re.compile(
    r"\.git|\.gitattributes|\.gitignore|(README|LICENSE|COPYING)(\.\w+)?", re.IGNORECASE
)


def create_site(folder: Path) -> None:
    """A new blog in `folder`: new, empty, or a fresh clone (`CLONE_FILES` only)."""
    if folder.exists() and not folder.is_dir():
        raise BuildError([ContentError(str(folder), None, "is a file, not a folder")])
    if folder.exists() and any(not CLONE_FILES.fullmatch(p.name) for p in folder.iterdir()):
        hint = "init writes into a new folder, an empty one, or a fresh clone of a repository"
        raise BuildError([ContentError(str(folder), None, "folder exists and is not empty", hint)])
    # Today in the new blog's timezone (UTC), not the machine's: never a "future" post.
    today = dt.datetime.now(dt.UTC).date().isoformat()
    files = {
        "blog.toml": BLOG_TOML,
        f"{POSTS_DIR}/hello-world.md": FIRST_POST.format(date=today),
        "templates/README.md": "A template here overrides the built-in one of the same name.\n",
        # A dotfile, so that it keeps the folder without being published.
        "static/.about": "Files in static/ are copied as they are to the site root.\n",
        # A build keeps the site it replaced beside the output, as `.public.old-*`, for
        # the next build to update; a killed build can leave `.public.new-*`, a stopped
        # sweep `.public.gone-*`: never commit them.
        ".gitignore": "/public/\n/.public.*-*/\n.blogkeeper-cache/\n",
        # Publishing to GitHub Pages from a push: `blogkeeper deploy-files` for other hosts.
        **deploy_files("github"),
    }
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == ".gitignore" and path.is_file():  # a clone's: its lines, then the missing
            kept = path.read_text(encoding="utf-8")
            have = set(kept.splitlines())
            missing = [line for line in text.splitlines() if line not in have]
            text = (
                kept
                + ("" if not kept or kept.endswith("\n") else "\n")
                + "".join(line + "\n" for line in missing)
            )
        path.write_text(text, encoding="utf-8")


def new_post_file(root: Path, now: dt.datetime, slug: str) -> Path:
    """Where a post made `now` goes, `posts/DATE-SLUG.md`; `BuildError` if a file is
    there already (blogkeeper never overwrites)."""
    path = root / POSTS_DIR / f"{now.date().isoformat()}-{slug}.md"
    if path.exists():
        message = "exists already (blogkeeper never overwrites)"
        raise BuildError([ContentError(str(path.relative_to(root)), None, message)])
    return path


# A slug of a long title is cut at a dash below this many characters: a file name has
# at most 255 bytes, and people read URLs too.
SLUG_CHARS = 60


def create_post(root: Path, title: str) -> Path:
    """A draft dated now, titled `title`, in `posts/DATE-SLUG.md`: the slug of the title
    (cut to `SLUG_CHARS`), with `-2`, `-3` added while another post file's name gives
    it (the sample post of `init`, a post of the same title from another day), so that
    the two do not share a URL; `BuildError` if today's file of one of those names
    exists (the same `new` run again)."""
    config = load_config(root)
    now = dt.datetime.now(tz=config.tz)
    slug = slugify(title) or "post"
    if len(slug) > SLUG_CHARS:
        cut = slug.rfind("-", 0, SLUG_CHARS + 1)
        slug = slug[: cut if cut > 0 else SLUG_CHARS]
    taken = {file_slug(p) for p in (root / POSTS_DIR).rglob("*.md")}
    unused, n = slug, 1
    while True:
        path = new_post_file(root, now, unused)  # today's of this name: `new` run twice
        if unused not in taken:
            break
        n += 1
        unused = f"{slug}-{n}"
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    text = (
        f'---\ntitle: "{quoted}"\ndate: {now.strftime("%Y-%m-%d %H:%M")}\n'
        f"draft: true\ntags: []\n---\nThe intro.\n\n<!--more-->\n\nThe rest.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# What each built-in template makes: `blogkeeper templates` lists them.
TEMPLATES = {
    "base.html": "the frame of every page: <head>, site header, footer",
    "index.html": "the front page and its later pages: intros, newest first",
    "post.html": "a post's page",
    "topic.html": "a topic's pages: intros of its posts",
    "topics.html": "the list of every topic",
    "series.html": "a series' page: its parts in order",
    "archive.html": "every post by year",
    "404.html": "the page for a missing address",
    "_macros.html": "pieces the others import (post dates, tag lists, intro lists, pager)",
    "head_extra.html": "empty: added at the end of every page's <head> (analytics, fonts)",
    "footer_extra.html": "empty: added at the end of every page's footer",
    "body_end.html": "empty: added just before every page's </body> (scripts)",
    "post_end.html": "empty: added at the end of each post (a comment widget)",
}
TEMPLATES_DIR = "templates"


def builtin_template(name: str) -> str:
    """The text of a built-in template; `BuildError` naming the known ones if none."""
    if name not in TEMPLATES:
        hint = did_you_mean(name, TEMPLATES) or "`blogkeeper templates` lists them"
        raise BuildError([ContentError(name, None, "no built-in template of that name", hint)])
    return resources.files("blogkeeper").joinpath("templates", name).read_text("utf-8")


def copy_template(root: Path, name: str) -> Path:
    """Copy the built-in template `name` into the site's templates/, where it overrides
    the built-in one; never over a file that is there."""
    text = builtin_template(name)
    target = root / TEMPLATES_DIR / name
    if target.exists():
        message = "exists already: it overrides the built-in template"
        raise BuildError([ContentError(f"{TEMPLATES_DIR}/{name}", None, message)])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
