"""`blogkeeper import`: a Jekyll or Hugo site's source folder made a blogkeeper site.

`import_site` reads the old site (`jekyll.py`, `hugo.py`), checks the posts' links
against the old and new sites (`links.py`), and writes blog.toml, posts/ and static/
into a new or empty folder (`common.py`). It never deletes or overwrites a file, and it
does not build: the command line builds the result afterwards with blogkeeper's own build.
"""

from __future__ import annotations

from pathlib import Path

from blogkeeper.importer import common, hugo, jekyll
from blogkeeper.importer.common import Note, Report
from blogkeeper.importer.links import check_links

KINDS = ("jekyll", "hugo")


def detect(source: Path) -> str:
    """`jekyll` or `hugo`, from the files in `source`; ValueError if neither."""
    if jekyll.detect(source):
        return "jekyll"
    if hugo.detect(source):
        return "hugo"
    raise ValueError(
        f"{source}: neither a Jekyll site (_posts/) nor a Hugo site "
        "(content/, and hugo.toml, config.toml, config.yaml or config/_default/); use --from "
        "to say which"
    )


def import_site(source: Path, target: Path, kind: str | None = None) -> Report:
    """Write a blogkeeper site into `target` (created, or empty) from `source`."""
    if not source.is_dir():
        raise ValueError(f"{source}: no such folder")
    kind = kind or detect(source)
    if kind == "jekyll" and not (source / "_posts").is_dir():
        raise ValueError(f"{source}: not a Jekyll site: no _posts/ folder")
    if kind == "hugo" and not (source / "content").is_dir():
        raise ValueError(f"{source}: not a Hugo site: no content/ folder")
    common.prepare_dir(target)
    report = Report()
    reader = jekyll.read_site if kind == "jekyll" else hugo.read_site
    site, old, old_id = reader(source, report)
    common.keep_aliases(site.posts)
    common.keep_updated(site.posts)
    common.unify_names(site.posts, report)
    check_links(site, old, site.config["url"], report, old_id)
    broken = sum(1 for p in site.posts for n in p.body.notes if n[2])
    if broken or report.unresolved:
        site.config["build"] = {"broken_links": "warn"}
        report.notes.append(
            Note(
                "blog.toml",
                None,
                f'[build] broken_links = "warn" written: {broken + report.unresolved} links '
                "(listed here) lead nowhere in the new site; the build warns about them "
                'instead of failing. Fix them, then delete the setting (the default is "error")',
            )
        )
    published = [p for p in site.posts if not p.front.get("draft")]
    report.urls = sum(1 + len(p.front.get("aliases", [])) for p in published) - report.moved
    common.write_site(site, target, report)
    return report


def warn_on_broken_links(target: Path) -> bool:
    """Write `[build] broken_links = "warn"` into the blog.toml `import_site` wrote into
    `target`, for links that its own look missed and the build found broken; False if
    it has a `[build]` table already (holding that setting)."""
    path = target / "blog.toml"
    text = path.read_text(encoding="utf-8")
    if "\n[build]\n" in text:
        return False
    path.write_text(text + '\n[build]\nbroken_links = "warn"\n', encoding="utf-8")
    return True


__all__ = ["KINDS", "Report", "detect", "import_site", "warn_on_broken_links"]
