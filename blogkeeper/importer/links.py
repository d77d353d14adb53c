"""The links of imported posts: which files of the old site the posts use (copied to
static/), and which links answer neither on the new site nor on the old one.

It compares paths only: nothing is fetched, and nothing is written.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from blogkeeper.config import image_problem
from blogkeeper.importer.common import (
    ATX,
    EXPLICIT_ID,
    Body,
    NewPost,
    NewSite,
    Report,
    paragraph_runs,
)
from blogkeeper.urls import image_path

INLINE = re.compile(r"\]\(\s*<?((?:[^()\s>]|\([^()\s]*\))+)>?(?:\s+[\"'(][^)]*)?\)")
SPACED = re.compile(r"\]\(([^()\"'<>\n]*?[^\s()\"'<>]\s+[^()\"'<>\n]+?)\)")  # `](a b)`: one URL
ESCAPED = re.compile(r"\\\[[^\]]*\]\([^)]*\)")  # `\[text](x)`: no link
COMMENT = re.compile(r"<!--.*?(?:-->|$)")
# A link reference definition; `[^1]: text` is a footnote's, not one.
REFERENCE = re.compile(r"^\s{0,3}\[(?!\^)[^\]]+\]:\s*<?(\S+?)>?(?:\s+[\"'(].*)?$")
HTML = re.compile(r"\b(?:src|href|poster)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
FOOTNOTE = re.compile(r"\[\^([^\]\s]+)\]:")
ANCHOR = re.compile(r"\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


@dataclass(frozen=True)
class OldSite:
    """What the old site served: its pages' URLs and a file for each asset URL."""

    pages: frozenset[str]
    files: dict[str, Path]  # site path (no leading "/") -> file


def targets(body: Body) -> list[tuple[int, int, str]]:
    """(index, origin line, target) of every link and image in the prose of `body`."""
    found = []
    in_comment = False
    for index in body.prose():
        origin, line = body.lines[index]
        if in_comment:
            if "-->" not in line:
                continue
            line, in_comment = line.split("-->", 1)[1], False
        line = COMMENT.sub("", ESCAPED.sub("", line))
        if "<!--" in body.lines[index][1] and body.lines[index][1].rstrip().rfind(
            "<!--"
        ) > body.lines[index][1].rfind("-->"):
            in_comment = True
        for pattern in (INLINE, SPACED, REFERENCE, HTML):
            for match in pattern.finditer(line):
                found.append((index, origin, match.group(1).strip()))
    for run in paragraph_runs(body):  # an HTML attribute value broken over lines
        text = "\n".join(body.lines[i][1] for i in run)
        for match in HTML.finditer(text):
            if "\n" in match.group(1):
                index = run[text.count("\n", 0, match.start())]
                found.append((index, body.lines[index][0], match.group(1).strip()))
    return found


def site_path(target: str, page_url: str, base: str, host: str = "") -> str | None:
    """The site path (from the site root, no leading "/") a link on the page at
    `page_url` points at, or None for other sites, mailto: and the like. A full URL on
    the site's own host (`host`, http or https) is a site path too."""
    parts = urlsplit(target)
    own = parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host
    if own:
        target = parts.path or "/"
    elif parts.scheme or parts.netloc or target.startswith(("#", "{", "//")):
        return None
    path = unquote(parts.path)
    if not path:
        return None
    if path.startswith("/"):
        if not path.startswith(base):
            return None
        path = "/" + path[len(base) :]
    else:
        folder = page_url if page_url.endswith("/") else posixpath.dirname(page_url) + "/"
        path = posixpath.normpath(folder + path) + ("/" if path.endswith("/") else "")
    return path.lstrip("/")


def page_ids(body: Body, old_id: Callable[[str], str]) -> set[str]:
    """The ids a page had on the old site: its headings' and its HTML anchors'."""
    ids: set[str] = set()
    for index in body.prose():
        line = body.lines[index][1]
        heading = ATX.match(line)
        if heading:
            explicit = EXPLICIT_ID.search(heading.group(2))
            ids.add(explicit.group(1) if explicit else old_id(heading.group(2)))
        ids.update(ANCHOR.findall(line))
        for name in FOOTNOTE.findall(line):
            ids.update((f"fn-{name}", f"fnref-{name}"))
    return ids


def _card_image(site: NewSite, old: OldSite, post: NewPost) -> None:
    """Copy the post's `image` from the old site; an image blogkeeper cannot use (an
    http:// URL, a file the old site did not have) goes to `extra.image`, reported."""
    image = post.front.get("image")
    if not isinstance(image, str):
        return
    problem = image_problem(image)
    if problem is None and not image.startswith("https://"):
        folder = post.url.lstrip("/").rpartition("/")[0]
        # A page bundle's own file, else (as Hugo's `absURL` and jekyll-seo-tag read
        # `img/card.png`) a file from the site root.
        for path, written in (
            (image_path(image, folder + "/" if folder else ""), image),
            (image_path(image, ""), "/" + image.lstrip("/")),
        ):
            if path is not None and path in old.files:
                site.files.setdefault(path, old.files[path])
                post.front["image"] = written
                return
        problem = "no such file on the old site"
    if problem is not None:
        del post.front["image"]
        post.front.setdefault("extra", {})["image"] = image
        post.body.note_key("extra", f"`image` {image!r} kept in `extra`: {problem}")


def _absolute(body: Body, index: int, target: str, path: str) -> None:
    """A relative link made site-absolute: a post's intro is also shown on the front page,
    topic pages and in feeds, where a relative `img.png` would point elsewhere."""
    origin, line = body.lines[index]
    fragment = urlsplit(target).fragment
    new = path + (f"#{fragment}" if fragment else "")
    for before, after in (("(", ")"), ("(", " "), ("(<", ">"), ('"', '"'), ("'", "'"), (": ", "")):
        line = line.replace(before + target + after, before + new + after)
    body.lines[index] = (origin, line)
    body.count("relative link made site-absolute")


def _served(path: str, known: set[str]) -> bool:
    return path in known or path.rstrip("/") + "/" in known or path + "index.html" in known


def check_links(
    site: NewSite, old: OldSite, url: str, report: Report, old_id: Callable[[str], str]
) -> None:
    """Copy the old files the posts link to into `site.files`; note each link that
    answers on neither site, and each link to a page of the old site not imported.
    `url` is the site's address (`https://example.org/blog/`)."""
    parts = urlsplit(url)
    host, base = parts.netloc.lower(), parts.path or "/"
    new_pages = {""}
    for post in site.posts:
        if post.front.get("draft"):
            continue  # a draft was not on the old site and is not in a build
        new_pages.add(post.url.lstrip("/"))
        new_pages.update(a.lstrip("/") for a in post.front.get("aliases", []))
    ids = {post.url.lstrip("/"): page_ids(post.body, old_id) for post in site.posts}
    for post in site.posts:
        _card_image(site, old, post)
        own = ids[post.url.lstrip("/")]
        for index, origin, target in targets(post.body):
            where = f"link to `{target}`"
            if target.startswith("#") and len(target) > 1 and unquote(target[1:]) not in own:
                post.body.note(origin, f"{where}: no such id in this post", broken=True)
            path = site_path(target, post.url, base, host)
            if path is None:
                continue
            fragment = urlsplit(target).fragment
            page = path or post.url.lstrip("/")
            resolved = True
            if _served(page, new_pages):
                key = page if page in ids else page.rstrip("/") + "/"
                if fragment and key in ids and unquote(fragment) not in ids[key]:
                    post.body.note(origin, f"{where}: no such id on that page", broken=True)
            elif path in old.files:
                site.files.setdefault(path, old.files[path])
            elif _served(path, set(old.pages)):
                what = f"{where}: a page of the old site that is not a post, not imported"
                post.body.note(origin, f"{what} (copy it into static/ or change the link)")
                report.unresolved += 1
                resolved = False
            else:
                post.body.note(origin, f"{where}: broken on the old site too", broken=True)
                resolved = False
            if resolved and path and not target.startswith("/") and not urlsplit(target).scheme:
                _absolute(post.body, index, target, base + path)
