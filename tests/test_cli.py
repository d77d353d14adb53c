"""The command line as a user runs it: init, new, build, exit codes and messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, build, post, run_cli, snapshot
from lxml import html


@pytest.mark.parametrize("machine_tz", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_init_makes_a_blog_that_builds_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine_tz: str
) -> None:
    monkeypatch.setenv("TZ", machine_tz)  # the first post must not be "future" anywhere
    blog = tmp_path / "blog"
    created = run_cli("init", blog)
    assert created.code == 0, created.err
    built = run_cli("build", "--site", blog)
    assert built.code == 0, built.err
    files = snapshot(blog / "public")
    assert "index.html" in files
    # Only the blog itself is published, not the notes init leaves in static/ and templates/.
    assert not [p for p in files if p.startswith(("static", ".about", "templates", "README"))]
    assert {p for p in files if p.endswith(".txt")} <= {"robots.txt", "llms.txt", "llms-full.txt"}
    [post_page] = [p for p in files if p.endswith("hello-world/index.html")]
    doc = html.fromstring(files[post_page])
    assert doc.xpath("//h1")[0].text == "Hello, world"
    assert doc.xpath("//div[@data-lang='python']")
    front = html.fromstring(files["index.html"])
    assert "Everything below the fold" not in front.text_content()


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("init", tmp_path)
    assert result.code == 1
    assert "not empty" in result.err and "Traceback" not in result.err
    assert result.err.endswith("init failed: 1 error\n")
    assert snapshot(tmp_path) == {"notes.txt": b"mine"}


def test_init_writes_into_a_fresh_clone(tmp_path: Path) -> None:
    """A new repository cloned: `.git/`, a README, a licence, a `.gitignore` (to which
    init adds its lines). The command it suggests can be pasted: the path is quoted."""
    blog = tmp_path / "my blog"
    (blog / ".git").mkdir(parents=True)
    (blog / "README.md").write_text("# mine\n")
    (blog / "LICENSE").write_text("MIT\n")
    (blog / ".gitignore").write_text("*.pyc\n/public/")
    result = run_cli("init", blog)
    assert result.code == 0, result.err
    assert f"blogkeeper build --site '{blog}'" in result.out
    assert (blog / "README.md").read_text() == "# mine\n"
    assert (
        blog / ".gitignore"
    ).read_text() == "*.pyc\n/public/\n/.public.*-*/\n.blogkeeper-cache/\n"
    assert build(blog).code == 0


def test_new_makes_a_draft_that_builds_with_drafts(tmp_path: Path) -> None:
    blog = tmp_path / "blog"
    assert run_cli("init", blog).code == 0
    created = run_cli("new", 'Café: a "quoted" title', "--site", blog)
    assert created.code == 0, created.err
    [path] = [p for p in (blog / "posts").iterdir() if "caf" in p.name]
    assert "draft: true" in path.read_text()
    without = run_cli("build", "--site", blog)
    assert without.code == 0, without.err
    assert "1 draft not published (`blogkeeper serve` shows them; `build --drafts`" in without.out
    assert not any("café" in p for p in snapshot(blog / "public"))
    drafts = run_cli("build", "--site", blog, "--drafts")
    assert drafts.code == 0, drafts.err
    assert "not published" not in drafts.out
    [page] = [p for p in snapshot(blog / "public") if "café" in p and p.endswith(".html")]
    doc = html.parse(str(blog / "public" / page)).getroot()
    assert doc.xpath("//h1")[0].text == 'Café: a "quoted" title'
    assert "a draft" in created.out and "draft: true" in created.out
    again = run_cli("new", 'Café: a "quoted" title', "--site", blog)
    assert again.code == 1 and "exists already" in again.err
    assert again.err.endswith("new failed: 1 error\n")


def test_new_gives_a_post_a_url_no_other_post_has_and_a_short_file_name(tmp_path: Path) -> None:
    """`init`'s sample post is "Hello, world" (posts/hello-world.md): a new post of that
    title would share its URL; a 480-character title would be too long a file name."""
    blog = tmp_path / "blog"
    assert run_cli("init", blog).code == 0
    assert run_cli("new", "Hello, world", "--site", blog).code == 0
    again = run_cli("new", "Hello, world", "--site", blog)  # the same, run twice
    assert again.code == 1 and "hello-world-2.md: exists already" in again.err
    assert run_cli("new", " ".join(["word"] * 96), "--site", blog).code == 0
    dated = sorted(p.name[len("2026-01-01-") :] for p in (blog / "posts").glob("20*.md"))
    assert dated == ["hello-world-2.md", "word-" * 11 + "word.md"]  # 59 characters
    drafts = run_cli("build", "--site", blog, "--drafts")
    assert drafts.code == 0, drafts.err
    blank = run_cli("new", "   ", "--site", blog)
    assert blank.code == 2 and "give a TITLE" in blank.err


def test_site_can_come_before_the_command(tmp_path: Path) -> None:
    blog = tmp_path / "blog"
    assert run_cli("init", blog).code == 0
    before = run_cli("--site", blog, "build", "--out", tmp_path / "a")
    assert before.code == 0, before.err
    assert run_cli("build", "--site", blog, "--out", tmp_path / "b").code == 0
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    # After the command wins, as the later option would.
    both = run_cli("--site", tmp_path / "nowhere", "build", "--site", blog, "--out", tmp_path / "c")
    assert both.code == 0, both.err


def test_help_is_written_for_users() -> None:
    top = run_cli("--help")
    assert top.code == 0
    assert "the only place" not in top.out  # no internal docstring
    assert "examples:" in top.out and "blogkeeper init myblog" in top.out
    for command in ("build", "serve", "init", "new", "check-code"):
        shown = run_cli(command, "--help")
        assert shown.code == 0 and "example" in shown.out, command
    assert "a new or empty folder" in run_cli("init", "--help").out
    assert "the post's title" in run_cli("new", "--help").out


def test_the_starter_post_is_checked_by_check_code(tmp_path: Path) -> None:
    blog = tmp_path / "blog"
    assert run_cli("init", blog).code == 0
    checked = run_cli("check-code", "--site", blog)
    assert checked.code == 0, checked.out + checked.err
    assert "1 passed, 0 failed" in checked.out


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("build", "--no-such-option"),
        ("build", "--now", "not-a-date"),
        ("no-such-command",),
        ("new",),
        ("init",),
        ("serve", "--port", "99999"),
        ("serve", "--port", "-1"),
        ("serve", "--host", ""),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.code == 2, (result.out, result.err)
    assert "usage:" in (result.err + result.out)
    assert "Traceback" not in result.err


def test_build_without_a_blog_is_exit_1_with_a_hint(tmp_path: Path) -> None:
    result = run_cli("build", "--site", tmp_path / "nowhere")
    assert result.code == 1
    assert "nowhere: no such folder" in result.err and "blogkeeper init" in result.err
    (tmp_path / "empty").mkdir()
    result = run_cli("build", "--site", tmp_path / "empty")
    assert result.code == 1
    assert "blog.toml: no blog.toml here" in result.err and "blogkeeper init" in result.err
    assert "Traceback" not in result.err


def test_version_and_help() -> None:
    assert run_cli("--version").out.startswith("blogkeeper ")
    assert "build" in run_cli("--help").out


def test_console_script_works(tmp_path: Path) -> None:
    script = shutil.which("blogkeeper", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail("the `blogkeeper` console script is not installed next to this Python")
    blog = tmp_path / "blog"
    proc = subprocess.run(
        [script, "init", str(blog)], capture_output=True, text=True, env=os.environ, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert (blog / "blog.toml").is_file()


def test_an_output_path_through_a_file_is_exit_1_without_traceback(tmp_path: Path) -> None:
    blog = tmp_path / "blog"
    assert run_cli("init", blog).code == 0
    (tmp_path / "afile").write_text("x")
    result = run_cli("build", "--site", blog, "--out", tmp_path / "afile" / "sub")
    assert result.code == 1
    assert str(tmp_path / "afile") in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("files", "where"),
    [
        ({"posts/bad.md": "---\ntitle: [unclosed\ndate: 2026-01-01\n---\n"}, "posts/bad.md:3:"),
        ({"templates/post.html": "Post:\n{{ nope }}\n"}, "templates/post.html:2:"),
    ],
)
def test_errors_through_the_real_command_line(
    make_site: Callable[..., Path], files: dict[str, str], where: str
) -> None:
    root = make_site({"posts/good.md": post("Good", "2026-01-01"), **files})
    result = build(root)
    assert result.code == 1
    assert result.err.startswith(where), result.err
    assert result.err.endswith("build failed: 1 error\n")
    assert "Traceback" not in result.err
    assert not (root / "public").exists()


def test_templates_lists_every_built_in_template_and_copies_one(tmp_path: Path) -> None:
    blog = tmp_path / "blog"
    assert run_cli("init", blog).code == 0
    listed = run_cli("templates", "--site", blog)
    assert listed.code == 0, listed.err
    names = {line.split()[0] for line in listed.out.splitlines() if line.strip()}
    builtin = REPO / "blogkeeper" / "templates"
    assert {p.name for p in builtin.iterdir() if p.suffix == ".html"} <= names
    copied = run_cli("templates", "--site", blog, "--copy", "post.html")
    assert copied.code == 0, copied.err
    assert (blog / "templates/post.html").read_bytes() == (builtin / "post.html").read_bytes()
    assert "overridden by templates/post.html" in run_cli("templates", "--site", blog).out
    again = run_cli("templates", "--site", blog, "--copy", "post.html")
    assert again.code == 1 and "exists already" in again.err
    assert again.err.endswith("templates failed: 1 error\n")
    wrong = run_cli("templates", "--site", blog, "--copy", "pst.html")
    assert wrong.code == 1 and "did you mean `post.html`?" in wrong.err


def test_init_ignores_what_a_killed_build_can_leave_beside_the_output(tmp_path: Path) -> None:
    import subprocess

    blog = tmp_path / "blog"
    assert run_cli("init", blog).code == 0
    subprocess.run(["git", "init", "-q", str(blog)], check=True)
    (blog / ".public.old-abc123" / "site").mkdir(parents=True)
    (blog / ".public.old-abc123" / "site" / "index.html").write_text("old")
    (blog / ".public.new-def456").mkdir()
    (blog / ".public.new-def456" / "x.html").write_text("new")
    (blog / ".public.gone-0a1b2c" / "site").mkdir(parents=True)
    (blog / ".public.gone-0a1b2c" / "site" / "index.html").write_text("old")
    shown = subprocess.run(
        ["git", "-C", str(blog), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".public." not in shown and "posts/hello-world.md" in shown


def test_output_cut_short_by_its_reader_is_no_failure(tmp_path: Path) -> None:
    """`blogkeeper templates | head -1`: the reader closes the pipe after one line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "blogkeeper", "templates", "--site", tmp_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"base.html")
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    with proc.stderr:
        assert proc.stderr.read() == b""


def test_a_site_that_is_no_folder_is_an_error_and_nothing_is_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a blog")
    for site, what in [("file", "is a file, not a folder"), ("typo/blog", "no such folder")]:
        result = run_cli("build", "--site", tmp_path / site)
        assert result.code == 1 and f"{tmp_path / site}: {what}" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no typo/blog/public/


def test_a_posts_file_is_an_error(tmp_path: Path) -> None:
    assert run_cli("init", tmp_path / "blog").code == 0
    shutil.rmtree(tmp_path / "blog/posts")
    (tmp_path / "blog/posts").write_text("all my posts")
    result = build(tmp_path / "blog")
    assert result.code == 1 and "posts: is a file, not a folder of posts" in result.err
