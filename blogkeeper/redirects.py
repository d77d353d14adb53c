"""Aliases: a redirect page at each old URL of a post, and the `_redirects` file.

A post's `aliases` are the site paths it had before (on another generator, or before a
rename). Each gets a small HTML page that sends browsers and crawlers on (a meta refresh
to the post's absolute URL, `rel=canonical`, `noindex`, and a visible link), because
every host serves a page; and a line of `_redirects` (`/old /new 301`), the file Netlify
and Cloudflare Pages read to answer with a real 301 (`serve` emulates it: hosting.py).
Where each lives is urls.py's business. Pure: a `Site` in, `Output` values and warnings
out; nothing is read or written.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from blogkeeper import urls
from blogkeeper.errors import ContentError
from blogkeeper.model import Output, Post, Site

# Cloudflare Pages reads at most this many `_redirects` rules: static ones (exact paths)
# and dynamic ones (with `*` or `:name`); every rule after the first dynamic one counts
# as dynamic. Past the dynamic limit it refuses the deployment.
STATIC_LIMIT = 2000
DYNAMIC_LIMIT = 100
_DYNAMIC = re.compile(r"\*|(^|/):[A-Za-z]")


def render_redirects(
    site: Site, static: list[Output]
) -> tuple[list[Output], list[Output], tuple[ContentError, ...]]:
    """(the redirect pages and `_redirects`, `static` without a `static/_redirects` merged
    into ours, warnings). With no alias, nothing: a `static/_redirects` stays in `static`
    and is copied as it is."""
    own = next((o for o in static if o.path == urls.REDIRECTS), None)
    rest = [o for o in static if o is not own]
    aliases = sorted(_aliases(entry.post for entry in site.posts), key=lambda pair: pair[0])
    pages = [Output(urls.alias_page(alias), redirect_page(site, post)) for alias, post in aliases]
    if not aliases:
        return [], static, ()
    theirs = own.data.decode("utf-8", "replace") if own else ""
    text, warnings = redirects_text(site, aliases, theirs)
    return [*pages, Output(urls.REDIRECTS, text.encode())], rest, warnings


def _aliases(posts: Iterable[Post]) -> list[tuple[str, Post]]:
    return [(alias, post) for post in posts for alias in post.aliases]


def redirect_page(site: Site, post: Post) -> bytes:
    """A page that sends its visitor to `post`: valid HTML, kept out of search indexes."""
    config = site.config
    target = html.escape(config.absolute(post.path))
    title = html.escape(post.title)
    return (
        "<!doctype html>\n"
        f'<html lang="{html.escape(config.language)}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>Moved: {title}</title>\n"
        '<meta name="robots" content="noindex">\n'
        f'<link rel="canonical" href="{target}">\n'
        f'<meta http-equiv="refresh" content="0; url={target}">\n'
        "</head>\n"
        "<body>\n"
        f'<p>This page has moved to <a href="{target}">{title}</a>.</p>\n'
        "</body>\n"
        "</html>\n"
    ).encode()


def redirects_text(
    site: Site, aliases: list[tuple[str, Post]], theirs: str
) -> tuple[str, tuple[ContentError, ...]]:
    """`_redirects`: a line per alias (and per form of it, `urls.alias_sources`), first,
    then the site's own `static/_redirects` as written. Lines that would pass Cloudflare's
    static limit are left out, with a warning: those aliases still have their pages."""
    base = site.config.base_path
    own_static, own_dynamic = rule_counts(theirs)
    room = max(0, STATIC_LIMIT - own_static)
    lines: list[str] = []
    warnings: list[ContentError] = []
    for alias, post in aliases:
        sources = urls.alias_sources(alias)
        if len(lines) + len(sources) > room:
            warnings.append(_past_limit(post, alias, len(aliases), room))
            break
        target = urls.encoded(base, post.path)
        lines += [f"{urls.encoded(base, source)} {target} 301" for source in sources]
    if own_dynamic > DYNAMIC_LIMIT:
        message = (
            f"static/_redirects has {own_dynamic} dynamic rules (counted from the first with "
            f"`*` or `:name`); Cloudflare Pages refuses a deployment with more than "
            f"{DYNAMIC_LIMIT}"
        )
        warnings.append(ContentError("static/_redirects", None, message, "merge rules"))
    head = "# Written by blogkeeper: each alias (an old URL) of a post, sent to the post.\n"
    text = head + "".join(line + "\n" for line in lines)
    if theirs.strip():
        text += "\n# static/_redirects\n" + theirs.rstrip("\n") + "\n"
    return text, tuple(warnings)


def _past_limit(post: Post, alias: str, count: int, room: int) -> ContentError:
    line = post.lines.get("aliases")
    message = (
        f"alias {alias} and the aliases after it (of {count}, in path order) are left out "
        f"of _redirects: Cloudflare Pages reads at most {STATIC_LIMIT} static rules "
        f"({room} left for aliases)"
    )
    hint = (
        "their redirect pages still send visitors on, with a meta refresh instead of a 301; "
        "for more, use Cloudflare's Bulk Redirects"
    )
    return ContentError(post.source, line, message, hint)


def rule_counts(text: str) -> tuple[int, int]:
    """(static, dynamic) rules of a `_redirects` text, counted as Cloudflare Pages counts
    them: every rule from the first dynamic one on is dynamic."""
    static = dynamic = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith("#"):
            continue
        if dynamic or _DYNAMIC.search(fields[0]):
            dynamic += 1
        else:
            static += 1
    return static, dynamic


def clashes(site: Site, paths: Iterable[str]) -> list[ContentError]:
    """An error for each alias a host would answer with another output: its redirect
    page's file is checked with every output's (build.py); here, a form without `/`
    that is itself a file (`/llms.txt`), which a redirect rule would hide."""
    files = {path.casefold(): path for path in paths}
    errors = []
    for alias, post in _aliases(entry.post for entry in site.posts):
        for source in urls.alias_sources(alias):
            if source.endswith("/") or source == urls.alias_page(alias):
                continue  # the redirect page's own file
            found = files.get(source.casefold())
            if found is not None:
                message = f"alias {alias} is the URL of /{found}, which the site has"
                hint = "remove the alias, or change it"
                errors.append(ContentError(post.source, post.lines.get("aliases"), message, hint))
    return errors
