"""The writer's spare: the replaced site, reused as the next build's staging folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from conftest import build, post, snapshot

from blogkeeper.cache import CACHE_DIR

MakeSite = Callable[..., Path]


def fresh_build(root: Path, tmp_path: Path, name: str) -> dict[str, bytes]:
    """The site built from a copy of its sources, with no cache and no spare."""
    copy = tmp_path / name
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(CACHE_DIR, "public"))
    assert build(copy, "--no-cache").code == 0
    return snapshot(copy / "public")


def test_rebuilds_through_the_spare_equal_fresh_builds(make_site: MakeSite, tmp_path: Path) -> None:
    root = make_site(
        {
            "posts/a.md": post("A", "2026-01-01", tags="[X]"),
            "posts/b.md": post("B", "2026-01-02", tags="[Y]"),
        }
    )
    out, spare = root / "public", root / CACHE_DIR / "previous-site"
    outside = tmp_path / "outside.txt"
    outside.write_text("not the site's")
    steps: list[Callable[[], object]] = [
        lambda: None,
        lambda: None,
        lambda: (root / "posts" / "b.md").write_text(post("B2", "2026-01-02", tags="[Z]")),
        lambda: (root / "posts" / "a.md").unlink(),
    ]
    for number, step in enumerate(steps):
        step()
        if spare.is_dir():  # whatever the spare holds must never reach the site
            (spare / "junk.html").write_text("junk")
            (spare / "2026").mkdir(exist_ok=True)
            (spare / "2026" / "link").symlink_to(outside)
        assert build(root).code == 0
        assert snapshot(out) == fresh_build(root, tmp_path, f"fresh{number}")
    assert spare.is_dir()
    assert outside.read_text() == "not the site's"
    assert not any(p.name.startswith(".public.") for p in root.iterdir())


def test_unchanged_files_stay_the_same_file(make_site: MakeSite) -> None:
    root = make_site({"posts/a.md": post("A", "2026-01-01"), "posts/b.md": post("B", "2026-01-02")})
    page = root / "public" / "2026/01/a/index.html"
    inodes = []
    for _ in range(3):
        assert build(root).code == 0
        inodes.append(os.stat(page).st_ino)
    (root / "posts" / "b.md").write_text(post("B", "2026-01-02", "Changed.\n"))
    assert build(root).code == 0
    assert len({*inodes, os.stat(page).st_ino}) == 1
    assert "Changed." in (root / "public" / "2026/01/b/index.html").read_text()
