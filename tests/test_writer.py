"""Writing the site: refused folders, the marker, stale files, mtimes, determinism."""

from __future__ import annotations

import datetime as dt
import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import NOW, Result, beside, post, quick_build, snapshot

from blogkeeper.errors import BuildError
from blogkeeper.writer import MARKER, check_output_dir, write_site

MakeSite = Callable[..., Path]


@pytest.fixture
def site(make_site: MakeSite) -> Path:
    return make_site(
        {
            "posts/a.md": post("A", "2026-01-01", tags="[AI]"),
            "posts/b.md": post("B", "2026-01-02"),
            "templates/README.md": "notes",
            "static/robots-notes.txt": "keep me",
        }
    )


def refused(result: Result, where: Path) -> None:
    assert result.code == 1, (result.out, result.err)
    assert "refusing to write the site here" in result.err
    assert str(where.resolve()) in result.err
    assert "Traceback" not in result.err


# --- folders that must never be written ------------------------------------------------


def test_refuses_a_mount_point(site: Path) -> None:
    """A build swaps the whole output folder for the new site's, which a mount point (a
    Docker volume, say) cannot be: it said only "Device or resource busy"."""
    proc = Path("/proc")  # a mount point on every Linux
    result = quick_build(site, "--out", proc, "--force")
    refused(result, proc)
    assert "is a mount point, which cannot be replaced; use a folder inside it" in result.err


@pytest.mark.parametrize(
    "where",
    [".", "..", "posts", "posts/public", "templates/out", "static", "static/x"],
)
def test_refuses_folders_that_hold_the_site(site: Path, where: str) -> None:
    assert quick_build(site, "--out", site.parent / "public").code == 0  # a previous output
    before = snapshot(site.parent)
    out = site / where
    refused(quick_build(site, "--out", out, "--force"), out)
    assert snapshot(site.parent) == before
    assert not (site / "posts" / "public").exists()


def test_refuses_a_symlink_to_the_site_folder(site: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(site)
    before = snapshot(site)
    refused(quick_build(site, "--out", link, "--force"), link)
    assert snapshot(site) == before


def test_refuses_the_real_posts_folder_behind_a_symlink(
    make_site: MakeSite, tmp_path: Path
) -> None:
    real_posts = tmp_path / "elsewhere" / "posts"
    real_posts.mkdir(parents=True)
    (real_posts / "a.md").write_text(post("A", "2026-01-01"))
    root = make_site({})
    (root / "posts").symlink_to(real_posts)
    for out in (real_posts, real_posts / "public", real_posts.parent):
        refused(quick_build(root, "--out", out, "--force"), out)
    assert snapshot(real_posts) == {"a.md": post("A", "2026-01-01").encode()}


def test_refuses_home_root_and_a_folder_containing_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    root = tmp_path / "site"
    root.mkdir()
    for out in (home, home.parent, Path("/")):
        with pytest.raises(BuildError):
            check_output_dir(out, root, force=True)
    assert check_output_dir(home / "public", root) == (home / "public").resolve()


def test_refuses_a_file(site: Path, tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("data")
    refused(quick_build(site, "--out", target), target)
    assert target.read_text() == "data"


def test_non_empty_folder_without_marker_needs_force(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    result = quick_build(site, "--out", out)
    refused(result, out)
    assert "--force" in result.err
    assert snapshot(out) == {"thesis.tex": b"years of work"}
    forced = quick_build(site, "--out", out, "--force")
    assert forced.code == 0, forced.err
    assert not (out / "thesis.tex").exists()
    assert (out / MARKER).exists()
    # Nothing lost: the folder is moved beside it, under a name no build deletes.
    [kept] = [p for p in tmp_path.iterdir() if p.name.startswith("mine.replaced-")]
    assert f"moved {out}, which blogkeeper did not make, to {kept}" in forced.out
    for _ in range(2):
        assert quick_build(site, "--out", out).code == 0
    assert snapshot(kept) == {"thesis.tex": b"years of work"}


def test_an_empty_folder_is_fine_without_force(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert quick_build(site, "--out", out).code == 0


def test_default_output_is_public_inside_the_site(site: Path) -> None:
    result = quick_build(site)
    assert result.code == 0, result.err
    assert (site / "public" / "index.html").is_file()
    assert quick_build(site).code == 0  # the marker lets it replace its own output


# --- rebuilding ------------------------------------------------------------------------


def test_stale_files_are_removed(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert quick_build(site, "--out", out).code == 0
    assert (out / "2026/01/b/index.html").exists()
    (site / "posts" / "b.md").unlink()
    assert quick_build(site, "--out", out).code == 0
    assert not (out / "2026/01/b").exists()
    # The old site is set aside for the next build to delete, and no staging is left.
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert aside.name.startswith(".out.old-") and (aside / "site/2026/01/b/index.html").exists()
    assert quick_build(site, "--out", out).code == 0
    [newer] = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert newer != aside and not aside.exists()


def test_a_build_deletes_only_what_a_swap_set_aside(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = tmp_path / ".out.old-killed1"  # a build killed while swapping left it
    (killed / "site").mkdir(parents=True)
    (killed / "site/index.html").write_text("old")
    mine = tmp_path / ".out.old-mine"  # not only an old site: not blogkeeper's to delete
    (mine / "site").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    elsewhere = tmp_path / ".other.old-x"  # beside another output folder
    (elsewhere / "site").mkdir(parents=True)
    assert quick_build(site, "--out", out).code == 0
    assert not killed.exists()
    assert (mine / "notes.txt").read_text() == "keep me" and (elsewhere / "site").is_dir()


def test_a_build_updates_the_site_set_aside_and_trusts_nothing_in_it(
    site: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert quick_build(site, "--out", out).code == 0
    (site / "posts" / "b.md").write_text(post("B changed", "2026-01-02"))
    assert quick_build(site, "--out", out).code == 0
    [aside] = [p / "site" for p in tmp_path.iterdir() if p.name.startswith(".out.old-")]
    # Whatever happened to it: a stray file and folder, a page replaced by another file
    # with other bytes, a folder where a file goes and a file where a folder goes.
    (aside / "junk.txt").write_text("junk")
    (aside / "deep/er").mkdir(parents=True)
    (aside / "deep/er/x.html").write_text("junk")
    (aside / "2026/01/a/index.md").unlink()
    (aside / "2026/01/a/index.md").write_text("not the twin")
    (aside / "index.html").unlink()
    (aside / "index.html/inner").mkdir(parents=True)
    shutil.rmtree(aside / "topics")
    (aside / "topics").write_text("a file where a folder goes")
    (site / "posts" / "b.md").write_text(post("B changed again", "2026-01-02"))
    assert quick_build(site, "--out", out).code == 0
    assert not aside.exists()  # it became the new site
    fresh = tmp_path / "fresh"
    assert quick_build(site, "--out", fresh).code == 0
    assert snapshot(out) == snapshot(fresh)
    folders = {p.relative_to(out) for p in out.rglob("*") if p.is_dir()}
    assert folders == {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_dir()}


@pytest.mark.parametrize("dies", [False, True])
def test_the_folders_are_walked_in_a_child_once_the_posts_are_rendered(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dies: bool
) -> None:
    """The walk of the old site and the set-aside one runs in a forked child the build
    starts when it recalls its record, once the posts are rendered; a child that dies
    (killed from outside) is walked for here. Either way the site is a fresh build's."""
    from conftest import forked_children

    from blogkeeper import build as build_module
    from blogkeeper import writer

    out, log = tmp_path / "out", tmp_path / "log"
    for _ in range(2):  # the second sets a site aside for the third to update
        assert quick_build(site, "--out", out).code == 0
    walk, render = writer._walk, build_module.render_posts

    def logged(line: str) -> None:
        with log.open("a") as file:
            file.write(line + "\n")

    def watched_walk(*args: object) -> object:
        logged(f"walked by {'this process' if os.getpid() == parent else 'a child'}")
        if dies and os.getpid() != parent:
            os._exit(1)
        return walk(*args)  # type: ignore[arg-type]

    def watched_render(*args: object, **kwargs: object) -> object:
        logged("rendering")
        return render(*args, **kwargs)  # type: ignore[arg-type]

    parent = os.getpid()
    monkeypatch.setattr(writer, "_walk", watched_walk)
    monkeypatch.setattr(build_module, "render_posts", watched_render)
    (site / "posts" / "b.md").write_text(post("B changed", "2026-01-02"))
    result = quick_build(site, "--out", out)
    assert result.code == 0, result.err
    walked = ["walked by a child", *(["walked by this process"] if dies else [])]
    assert log.read_text().splitlines() == ["rendering", *walked]
    assert forked_children() == []
    fresh = tmp_path / "fresh"
    assert quick_build(site, "--out", fresh, "--no-cache").code == 0
    assert snapshot(out) == snapshot(fresh)


def test_a_page_with_no_key_is_written_into_the_site_set_aside(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page whose inputs cannot be keyed is rendered by a forked child into the folder
    being updated: the commit must not take it for a file left from before."""
    from blogkeeper import build, pages
    from blogkeeper.model import BuildOptions
    from blogkeeper.writer import Staging

    out = tmp_path / "out"
    for _ in range(2):  # the second build sets the first one's site aside
        assert quick_build(site, "--out", out).code == 0
    real = pages.fingerprint_or_none

    def unkeyed(value: object, memo: dict[int, tuple[object, bytes]]) -> bytes | None:
        return None if isinstance(value, tuple) and "post.html" in value else real(value, memo)

    monkeypatch.setattr(pages, "fingerprint_or_none", unkeyed)
    staging = Staging(out)  # claims the site set aside
    build.build(site, staging, BuildOptions(now=dt.datetime.fromisoformat(NOW)))
    staging.commit()
    monkeypatch.undo()
    fresh = tmp_path / "fresh"
    assert quick_build(site, "--out", fresh).code == 0
    assert snapshot(out) == snapshot(fresh)
    assert (out / "2026/01/a/index.html").is_file()


def test_unchanged_files_keep_their_mtime(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert quick_build(site, "--out", out).code == 0
    old = {p: (out / p).stat().st_mtime_ns for p in snapshot(out)}
    past = 1_000_000_000_000_000_000
    for path in old:
        os.utime(out / path, ns=(past, past))
    (site / "posts" / "b.md").write_text(post("B changed", "2026-01-02"))
    assert quick_build(site, "--out", out).code == 0
    mtimes = {p: (out / p).stat().st_mtime_ns for p in snapshot(out)}
    changed = {p for p, m in mtimes.items() if m != past}
    assert "2026/01/a/index.html" not in changed
    assert "assets/style.css" not in changed
    assert "2026/01/b/index.html" in changed
    assert "index.html" in changed
    # llms-full.txt is written part by part (no process holds it whole): it changed with
    # b; a build that changes nothing keeps it, and every other file
    assert "llms-full.txt" in changed and "2026/01/a/index.md" not in changed
    for path in mtimes:
        os.utime(out / path, ns=(past, past))
    assert quick_build(site, "--out", out).code == 0
    changed = {p for p in snapshot(out) if (out / p).stat().st_mtime_ns != past}
    assert changed <= {MARKER}  # an empty file: the set-aside site's may be kept


def test_a_page_changed_by_hand_is_made_again(site: Path, tmp_path: Path) -> None:
    """A page whose inputs did not change is linked from the old site only if that file
    is still the one the last build wrote (size, mtime and inode as it recorded)."""
    out = tmp_path / "out"
    assert quick_build(site, "--out", out).code == 0
    built = snapshot(out)
    page = out / "2026/01/a/index.html"
    page.write_bytes(page.read_bytes().replace(b"<title>", b"<title>X"))  # same inode
    other = out / "2026/01/b/index.html"
    other.unlink()
    other.write_bytes(built["2026/01/b/index.html"])  # same bytes, a new file
    assert quick_build(site, "--out", out).code == 0
    assert snapshot(out) == built


def test_two_builds_are_byte_identical(site: Path, tmp_path: Path) -> None:
    assert quick_build(site, "--out", tmp_path / "one").code == 0
    assert quick_build(site, "--out", tmp_path / "two").code == 0
    first = snapshot(tmp_path / "one")
    assert first == snapshot(tmp_path / "two")
    assert quick_build(site, "--out", tmp_path / "one").code == 0
    assert snapshot(tmp_path / "one") == first


def test_symlinks_in_the_old_output_are_not_followed(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert quick_build(site, "--out", out).code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("robots.txt", "assets/style.css"):
        (outside / Path(name).name).write_bytes((out / name).read_bytes())
    (out / "robots.txt").unlink()
    (out / "robots.txt").symlink_to(outside / "robots.txt")
    for path in (out / "assets").iterdir():
        path.unlink()
    (out / "assets").rmdir()
    (out / "assets").symlink_to(outside)
    before = snapshot(outside)
    assert quick_build(site, "--out", out).code == 0
    assert snapshot(outside) == before
    for name in ("robots.txt", "assets/style.css"):
        built = out / name
        assert not built.is_symlink() and not built.parent.is_symlink()
        assert not built.samefile(outside / Path(name).name)


# --- the disk says no ------------------------------------------------------------------


def _limit_file_size() -> None:
    """In the child: files stop growing at 64 KiB, and going past it is an error (EFBIG)
    instead of the signal that would kill the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))


def test_a_file_the_disk_cuts_short_fails_the_build(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "public"
    assert quick_build(site, "--out", out).code == 0
    before = snapshot(out)
    (site / "static" / "big.bin").write_bytes(bytes(range(256)) * 390 + b"x" * 160)
    command = [sys.executable, "-m", "blogkeeper", "build", "--site", str(site), "--now", NOW]
    proc = subprocess.run(
        [*command, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    reason = os.strerror(errno.EFBIG)
    assert f"{out / 'big.bin'}: could not write this file: {reason}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(out) == before
    assert beside(out) == ["public", "set aside", "site"]


@dataclass(frozen=True)
class Output:
    path: str
    data: bytes


def test_short_writes_are_continued_until_every_byte_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[:1000]))
    data = bytes(range(256)) * 400
    write_site([Output("big.bin", data), Output("a/b.txt", b"small")], tmp_path / "out")
    monkeypatch.undo()
    assert snapshot(tmp_path / "out") == {"a/b.txt": b"small", "big.bin": data, MARKER: b""}


@pytest.mark.parametrize("failing_call", [1, 2])
def test_a_failed_swap_keeps_the_old_site_and_leaves_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    """The rename of the old site away (call 1) or of the new one in (call 2) fails."""
    out = tmp_path / "out"
    write_site([Output("index.html", b"old")], out)
    before = snapshot(out)
    real_rename, calls = os.rename, []

    def rename(source: str | Path, target: str | Path) -> None:
        calls.append(source)
        if len(calls) == failing_call:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(source))
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match=os.strerror(errno.EACCES)):
        write_site([Output("index.html", b"new")], out)
    monkeypatch.undo()
    assert snapshot(out) == before
    assert beside(out) in (["out"], ["out", "set aside"])  # a swap's first rename failed, or not
