"""check-code: posts' Python blocks run in contained processes and their output is judged."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BLOG_TOML, REPO, build, post, run_cli
from lxml import etree, html

from blogkeeper.checkcode import NOT_UPDATED, UNWRITABLE
from blogkeeper.compare import compare
from blogkeeper.fences import scan

MakeSite = Callable[..., Path]


def checked(title: str, *chunks: str, **meta: str) -> str:
    """A post opted in to check-code whose body is the given Markdown chunks."""
    body = "Intro.\n\n<!--more-->\n\n" + "\n\n".join(chunks) + "\n"
    return post(title, "2026-03-01", body, check_code="true", **meta)


def fence(code: str, info: str = "python") -> str:
    return f"```{info}\n{code.strip(chr(10))}\n```"


def line_of(root: Path, name: str, needle: str) -> int:
    """The 1-based line of the first line of posts/`name` containing `needle`."""
    lines = (root / "posts" / name).read_text().split("\n")
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def check(root: Path, *args: str | Path) -> tuple[int, str, str]:
    result = run_cli("check-code", "--site", root, *args)
    return result.code, result.out, result.err


def last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


# --- running blocks ------------------------------------------------------------------


def test_blocks_share_one_namespace_in_order(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence("x = 20\ndef double(n):\n    return 2 * n"),
                fence("print(double(x) + 2)"),
                fence("42", "output"),
            )
        }
    )
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "2 passed, 0 failed, 0 skipped"


def test_each_post_gets_a_fresh_namespace(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked("A", fence("secret = 1\nimport sys\nsys.marker = 1")),
            "posts/b.md": checked("B", fence("import sys\nprint(hasattr(sys, 'marker'))\nsecret")),
        }
    )
    code, out, _ = check(root, "--jobs", "1")
    assert code == 1
    raising = line_of(root, "b.md", "secret")
    assert f"posts/b.md:{raising}: NameError: name 'secret' is not defined" in out
    assert last_line(out) == "1 passed, 1 failed, 0 skipped"


def test_exception_reported_at_the_raising_statement(make_site: MakeSite) -> None:
    helper = "def ratio(a, b):\n    scale = 1\n    return scale * a / b"
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence(helper),
                "Some prose between blocks.",
                fence("total = 3\nprint('before')\nvalue = ratio(total, 0)\nprint('after')"),
                fence("print('never')"),
            )
        }
    )
    code, out, _ = check(root)
    assert code == 1
    raising = line_of(root, "a.md", "return scale * a / b")
    assert f"posts/a.md:{raising}: ZeroDivisionError: division by zero" in out
    # The traceback names post lines, and quotes them.
    caller = line_of(root, "a.md", "value = ratio(total, 0)")
    assert f'File "posts/a.md", line {caller}' in out
    assert "value = ratio(total, 0)" in out
    never = line_of(root, "a.md", "print('never')")
    assert f"posts/a.md:{never}: 1 later block not run" in out
    assert last_line(out) == "1 passed, 1 failed, 1 skipped"


def test_py_python3_and_py3_blocks_run_as_python_blocks(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence("x = 2", "py"),
                fence("print(x + 1)", "python3"),
                fence("3", "output"),
                fence("print(x * 10)", "Py3"),
                fence("21", "output"),  # wrong: the block prints 20
                fence("print(x)", "py skp"),
            )
        }
    )
    where = line_of(root, "a.md", "```py skp")
    typo = f"posts/a.md:{where}: unknown code block option `skp` (did you mean `skip`?)"
    code, out, err = check(root)
    assert code == 1 and typo in err, out + err
    built = build(root)
    assert built.code == 1 and typo in built.err, built.err
    text = (root / "posts/a.md").read_text()
    (root / "posts/a.md").write_text(text.replace("py skp", "py skip"))
    code, out, err = check(root)
    assert code == 1
    assert f"posts/a.md:{line_of(root, 'a.md', '21')}: output differs from the post" in out
    assert last_line(out) == "2 passed, 1 failed, 1 skipped"


def test_a_traceback_shows_the_posts_frames_and_none_of_blogkeepers(
    make_site: MakeSite,
) -> None:
    write_bytes = "import sys\ntry:\n    sys.stdout.write(b'x')\nexcept TypeError as exc:\n"
    root = make_site(
        {
            "posts/a.md": checked("A", fence("def f():\n    raise ValueError('boom')\nf()")),
            # a shown value's repr and a captured stream's write run in the runner
            "posts/b.md": checked(
                "B",
                fence("class C:\n    def __repr__(self):\n        1 / 0\nC()", "python show-last"),
            ),
            "posts/c.md": checked("C", fence(write_bytes + "    raise ValueError('bad') from exc")),
        }
    )
    code, out, _ = check(root)
    assert code == 1
    raising = line_of(root, "a.md", "raise ValueError")
    call = raising + 1  # f()
    assert (
        f"posts/a.md:{raising}: ValueError: boom\n"
        "    Traceback (most recent call last):\n"
        f'      File "posts/a.md", line {call}, in <module>\n'
        "        f()\n"
        f'      File "posts/a.md", line {raising}, in f\n'
        "        raise ValueError('boom')\n"
        "    ValueError: boom\n"
    ) in out
    assert f'File "posts/b.md", line {line_of(root, "b.md", "1 / 0")}, in __repr__' in out
    assert f'File "posts/c.md", line {line_of(root, "c.md", "write(b")}, in <module>' in out
    assert "TypeError: write() argument must be str, not bytes" in out
    assert "runner.py" not in out and 'File "/' not in out
    assert last_line(out) == "0 passed, 3 failed, 0 skipped"


def test_syntax_error_points_at_its_post_line(make_site: MakeSite) -> None:
    root = make_site({"posts/a.md": checked("A", fence("x = 1\nif x\n    pass"))})
    code, out, _ = check(root)
    assert code == 1
    assert f"posts/a.md:{line_of(root, 'a.md', 'if x')}: SyntaxError" in out


def test_raises_option(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence("print('dividing')\n1 / 0", "python raises=ZeroDivisionError"),
                fence("dividing", "output"),
                # A base class in the exception's MRO matches too.
                fence("{}['missing']", "python raises=LookupError"),
                fence("x = 1", "python raises=ValueError"),
                fence("print('still running')"),
                fence("still running", "output"),
                fence("int('seven')", "python raises=TypeError"),
            )
        }
    )
    code, out, _ = check(root)
    assert code == 1
    assert f"posts/a.md:{line_of(root, 'a.md', 'x = 1')}: expected ValueError to be raised" in out
    wrong = line_of(root, "a.md", "int('seven')")
    assert f"posts/a.md:{wrong}: expected TypeError, got ValueError: invalid literal" in out
    assert last_line(out) == "3 passed, 2 failed, 0 skipped"


def test_skip_blocks_are_shown_not_run(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence("raise SystemExit('must not run')", "python skip"),
                fence("print('ok')"),
                fence("ok", "output"),
            )
        }
    )
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "1 passed, 0 failed, 1 skipped"


def test_unknown_option_is_an_error_with_a_hint(make_site: MakeSite) -> None:
    root = make_site({"posts/a.md": checked("A", fence("pass", "python skp"))})
    code, _, err = check(root)
    assert code == 1
    where = line_of(root, "a.md", "```python skp")
    assert f"posts/a.md:{where}: unknown code block option `skp` (did you mean `skip`?)" in err


@pytest.mark.parametrize("value", ["inf", "nan", "-3", "1e300"])
def test_a_bad_timeout_is_an_error_at_its_line(make_site: MakeSite, value: str) -> None:
    root = make_site({"posts/a.md": checked("A", fence("pass", f"python timeout={value}"))})
    code, _, err = check(root)
    assert code == 1
    where = line_of(root, "a.md", "```python timeout")
    assert f"posts/a.md:{where}: `timeout={value}` needs seconds, more than 0 and at most" in err
    assert "Traceback" not in err


def test_environment_is_scrubbed_and_cwd_is_temporary(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    code_text = (
        "import os, sys\n"
        "print(os.environ.get('SECRET_TOKEN'))\n"
        "print(os.getcwd() != SITE)\n"
        "print(sys.stdin.read())\n"
        "print(os.getpgid(0) == os.getpid())"
    )
    site = make_site({})
    block = fence(f"SITE = {str(site)!r}\n" + code_text)
    root = make_site({"posts/a.md": checked("A", block, fence("None\nTrue\n\nTrue", "output"))})
    code, out, err = check(root)
    assert code == 0, out + err


# --- comparing output ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("a  \r\nb\n\n", "a\nb"),  # line ends and trailing whitespace
        ("tensor([0.3245, 1.0000])", "tensor([0.3244, 1.0000])"),  # one unit, last digit
        ("tensor(1.)", "tensor(1.0000)"),  # torch's integral form
        ("tensor(1.0000)", "tensor(1.0000e+00)"),
        ("tensor([2., 0.])", "tensor([2.0000e+00, 1.0000e-05])"),
        ("tensor([ 0.5000, -0.2500])", "tensor([-0.0000, -0.2500])".replace("-0.0000", "0.5000")),
        ("[[ 0.1, -0.2],\n [ 0.3,  0.4]]", "[[0.1, -0.2], [0.3, 0.4]]"),  # spacing and wrapping
        ("0.30000000000000004", "0.3"),
        ("loss 1.2346e-03", "loss 1.2345e-03"),
        ("nan inf -inf", "nan inf -inf"),
    ],
)
def test_numbers_match_at_printed_precision(expected: str, actual: str) -> None:
    assert compare(expected, actual).matches


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("tensor([0.3245])", "tensor([0.3247])"),  # two units off
        ("torch.Size([5, 4])", "torch.Size([5, 3])"),  # whole numbers are exact
        ("tensor([2., 0.])", "tensor([3., 0.])"),  # integral floats are exact
        ("tensor([0.1, 0.2])", "tensor([0.1, 0.2, 0.3])"),
        ("tensor([1.], grad_fn=<AddBackward0>)", "tensor([1.], requires_grad=True)"),
        ("W_q2 0.1", "W_q3 0.1"),  # digits inside names are text
        ("nan", "0.0"),
        ("1.5", ""),
    ],
)
def test_real_differences_do_not_match(expected: str, actual: str) -> None:
    verdict = compare(expected, actual)
    assert not verdict.matches
    assert verdict.diff.startswith("--- expected\n+++ actual\n")


def test_exact_and_tolerant_matches_in_a_post(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence("print('hello   ')\nprint('world')"),
                fence("hello\nworld", "output"),
                fence("print(f'{2/3:.4f}', 1/3)"),
                fence("0.6666 0.333333", "output"),
            )
        }
    )
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "2 passed, 0 failed, 0 skipped"


def test_drifted_number_fails_at_its_line_with_a_diff(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence(
                    "print('weights:')\nprint([round(v / 7, 4) for v in (1, 2, 3)])\nprint('done')"
                ),
                fence("weights:\n[0.1429, 0.2875, 0.4286]\ndone", "output"),
            )
        }
    )
    code, out, _ = check(root)
    assert code == 1
    drifted = line_of(root, "a.md", "[0.1429, 0.2875")
    assert f"posts/a.md:{drifted}: output differs from the post" in out
    assert "    -[0.1429, 0.2875, 0.4286]\n    +[0.1429, 0.2857, 0.4286]" in out
    assert last_line(out) == "0 passed, 1 failed, 0 skipped"


def test_output_is_capped(make_site: MakeSite) -> None:
    root = make_site(
        {"posts/a.md": checked("A", fence("print('x' * 3_000_000)"), fence("x", "output"))}
    )
    code, out, _ = check(root)
    assert code == 1
    assert "[output truncated at 1 MiB]" in out
    assert len(out) < 3_000_000


# --- containment ---------------------------------------------------------------------


def _running(pid: int) -> bool:
    """Whether `pid` is alive and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_timeout_kills_the_block_and_leaves_nothing_behind(
    make_site: MakeSite, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    record = f"import os\nopen({str(pids)!r}, 'w').write(str(os.getpid()))"
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence(record),
                fence("count = 0\nwhile True:\n    count += 1", "python timeout=2"),
                fence("print('after')"),
            )
        }
    )
    started = time.monotonic()
    code, out, _ = check(root)
    elapsed = time.monotonic() - started
    assert code == 1
    assert 2 <= elapsed < 6, elapsed
    # Reported at the statement that was running, not just the block.
    loop = line_of(root, "a.md", "while True:")
    assert re.search(rf"posts/a.md:({loop}|{loop + 1}): timed out after 2 s", out), out
    assert f"posts/a.md:{line_of(root, 'a.md', 'after')}: 1 later block not run" in out
    assert last_line(out) == "1 passed, 1 failed, 1 skipped"
    assert not _running(int(pids.read_text()))


def test_forked_sleeper_is_killed(make_site: MakeSite, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    spawn = (
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pids)!r}, 'w').write(str(child.pid))\n"
        "print('spawned')"
    )
    root = make_site({"posts/a.md": checked("A", fence(spawn), fence("spawned", "output"))})
    started = time.monotonic()
    code, out, err = check(root)
    assert code == 0, out + err
    assert time.monotonic() - started < 10
    assert not _running(int(pids.read_text()))


def test_blocks_have_no_network(make_site: MakeSite) -> None:
    from blogkeeper.sandbox import network_isolation

    if not network_isolation():
        pytest.skip("unshare -n does not work on this machine")
    probe = "import socket\nprint([name for _, name in socket.if_nameindex()])"
    root = make_site({"posts/a.md": checked("A", fence(probe), fence("['lo']", "output"))})
    code, out, err = check(root)
    assert code == 0, out + err


def test_memory_is_limited(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence("data = bytearray(5 << 30)", "python raises=MemoryError"),
                fence("print('still alive')"),
                fence("still alive", "output"),
            )
        }
    )
    code, out, err = check(root)
    assert code == 0, out + err


def test_crash_is_reported_at_the_block(make_site: MakeSite) -> None:
    root = make_site(
        {"posts/a.md": checked("A", fence("print('ok')"), fence("import os\nos._exit(3)"))}
    )
    code, out, _ = check(root)
    assert code == 1
    where = line_of(root, "a.md", "import os")
    assert f"posts/a.md:{where}: the block did not finish: the process exited with status 3" in out


# --- selection -----------------------------------------------------------------------


SERIES_TOML = BLOG_TOML + '\n[check_code]\nseries = ["Deep"]\ntags = ["checked"]\n'


def test_selection_by_series_tag_front_matter_and_files(make_site: MakeSite) -> None:
    failing = "Intro.\n\n" + fence("raise RuntimeError('ran')") + "\n"
    passing = "Intro.\n\n" + fence("print(1)") + "\n"
    root = make_site(
        {
            "posts/series.md": post("S", "2026-03-01", passing, series="Deep"),
            "posts/tagged.md": post("T", "2026-03-01", passing, tags="[checked]"),
            "posts/draft.md": post("D", "2026-03-01", passing, draft="true", series="Deep"),
            "posts/out.md": post("O", "2026-03-01", failing, series="Deep", check_code="false"),
            "posts/plain.md": post("P", "2026-03-01", failing),
        },
        config=SERIES_TOML,
    )
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "3 passed, 0 failed, 0 skipped"
    assert "posts/draft.md" in err and "posts/out.md" not in err

    code, out, _ = check(root, root / "posts/series.md")
    assert (code, last_line(out)) == (0, "1 passed, 0 failed, 0 skipped")
    # A list of changed files names posts of every kind: those not selected are skipped.
    code, out, err = check(root, root / "posts/plain.md", root / "posts/series.md")
    assert (code, last_line(out)) == (0, "1 passed, 0 failed, 0 skipped"), out + err
    assert "posts/plain.md: skipped: not selected for check-code" in err
    assert "NOTHING WAS CHECKED" not in err
    code, _, err = check(root, root / "blog.toml")
    assert code == 1 and "blog.toml: not a post in posts/" in err


def test_a_site_with_no_selected_post_says_so_loudly(make_site: MakeSite) -> None:
    root = make_site({"posts/plain.md": post("P", "2026-03-01", "```python\nprint(1)\n```\n")})
    code, out, err = check(root)
    assert (code, last_line(out)) == (0, "0 passed, 0 failed, 0 skipped")
    assert "NOTHING WAS CHECKED" in err and "check_code: true" in err


def test_a_missing_module_says_how_to_install_it(make_site: MakeSite) -> None:
    torch = fence("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')")
    root = make_site({"posts/m.md": checked("M", torch)})
    code, out, _ = check(root)
    assert code == 1
    assert "No module named 'torch' (install it with: pip install 'blogkeeper[check]')" in out
    (root / "posts/m.md").write_text(checked("M", fence("import no_such_module_here_xyz")))
    code, out, _ = check(root)
    assert code == 1 and "(install no_such_module_here_xyz where check-code runs:" in out


def test_build_errors_are_annotated_under_github_actions(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site({"posts/bad.md": "---\ntitle: [unclosed\ndate: 2026-01-01\n---\n"})
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root.parent))
    result = run_cli("build", "--site", ".", cwd=root)
    assert result.code == 1
    assert "::error file=site/posts/bad.md,line=3,title=blogkeeper build::" in result.out


# --- cache ---------------------------------------------------------------------------


def test_passes_are_cached_and_a_changed_post_runs_again(make_site: MakeSite) -> None:
    source = checked("A", fence("print(6 * 7)"), fence("42", "output"))
    root = make_site({"posts/a.md": source})
    assert check(root)[0] == 0
    cache = root / ".blogkeeper-cache"
    assert len(list(cache.glob("??/*"))) == 1  # one pass recorded, in the build's cache
    code, out, err = check(root)
    assert code == 0 and "cached" in err

    (root / "posts/a.md").write_text(source.replace("42", "43"))
    code, out, _ = check(root)
    assert code == 1 and "output differs" in out
    assert len(list(cache.glob("??/*"))) == 1  # failures are never cached

    (root / "posts/a.md").write_text(source.replace("6 * 7", "6 * 7 + 0"))
    code, _, err = check(root)
    assert code == 0 and "cached" not in err
    code, _, err = check(root, "--no-cache")
    assert code == 0 and "cached" not in err


def test_cache_key_follows_imported_package_versions(make_site: MakeSite) -> None:
    from blogkeeper.checkcode import imported_modules, package_version

    code = "import os, torch.nn as nn\nfrom jinja2 import Template\nfrom . import x\n"
    assert imported_modules(code) == {"torch", "jinja2"}
    import jinja2

    assert package_version("jinja2") == f"Jinja2=={jinja2.__version__}"
    assert package_version("no_such_module_here") == "no_such_module_here not installed"


# --- --update ------------------------------------------------------------------------


def test_update_writes_outputs_and_round_trips(make_site: MakeSite) -> None:
    body = (
        "Intro.\r\n\r\n"
        "```python\r\nprint('a')\r\nprint(  2 )\r\n```\r\n"
        "\r\nText   with trailing spaces   \r\n\r\n"
        "```python\r\nprint(1 + 1)\r\n```\r\n\r\n```output\r\n3\r\n```\r\n"
        "\r\n```python\r\nx = 1\r\n```\r\n"
        "\r\n  ```python\r\n  print('indented')\r\n  ```\r\n"
        "\r\n```python\r\nprint(0.3334)\r\n```\r\n\r\n```output\r\n0.3333\r\n```\r\n"
    )
    front = "---\r\ntitle: U\r\ndate: 2026-03-01\r\ncheck_code: true\r\n---\r\n"
    root = make_site({"posts/u.md": (front + body).encode()})
    code, out, err = check(root, "--update")
    assert code == 0, out + err
    assert "updated output blocks in posts/u.md" in err
    expected = (
        "Intro.\r\n\r\n"
        "```python\r\nprint('a')\r\nprint(  2 )\r\n```\r\n\r\n```output\r\na\r\n2\r\n```\r\n"
        "\r\nText   with trailing spaces   \r\n\r\n"
        "```python\r\nprint(1 + 1)\r\n```\r\n\r\n```output\r\n2\r\n```\r\n"
        "\r\n```python\r\nx = 1\r\n```\r\n"
        "\r\n  ```python\r\n  print('indented')\r\n  ```\r\n"
        "\r\n  ```output\r\n  indented\r\n  ```\r\n"
        "\r\n```python\r\nprint(0.3334)\r\n```\r\n\r\n```output\r\n0.3333\r\n```\r\n"
    )
    assert (root / "posts/u.md").read_bytes() == (front + expected).encode()
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "5 passed, 0 failed, 0 skipped"
    check(root, "--update")
    assert (root / "posts/u.md").read_bytes() == (front + expected).encode()


def test_update_fences_printed_fence_lines_so_the_block_reads_back_whole(
    make_site: MakeSite,
) -> None:
    fenced = "print('line1')\nprint('```')\nprint('after fence')"
    tilde = "print('~~~~')\nprint('  ````` x')"
    root = make_site(
        {
            "posts/f.md": checked(
                "F",
                fence(fenced),
                fence("old", "output"),
                fence(tilde),
                "~~~output\nold\n~~~",
                fence("print('plain')"),
                "> " + fence(fenced).replace("\n", "\n> "),
            )
        }
    )
    path = root / "posts/f.md"
    code, out, err = check(root, "--update")
    assert code == 0, out + err
    text = path.read_text()
    assert "````output\nline1\n```\nafter fence\n````\n" in text
    assert "~~~~~output\n~~~~\n  ````` x\n~~~~~\n" in text
    assert "```output\nplain\n```\n" in text
    assert "> ````output\n> line1\n> ```\n> after fence\n> ````\n" in text
    outputs = [f.code for f in scan(text.split("\n")) if f.lang == "output"]
    printed = "line1\n```\nafter fence\n"
    assert outputs == [printed, "~~~~\n  ````` x\n", "plain\n", printed]
    code, out, err = check(root)
    assert code == 0, out + err
    written = path.read_bytes()
    code, out, err = check(root, "--update")
    assert code == 0, out + err
    assert path.read_bytes() == written


def test_update_leaves_a_post_edited_while_it_ran_as_the_author_left_it(
    make_site: MakeSite, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    slow = f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(2)"
    root = make_site({"posts/e.md": checked("E", fence(slow), fence("print('done')"))})
    path = root / "posts" / "e.md"
    command = [sys.executable, "-m", "blogkeeper", "check-code", "--site", str(root), "--update"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 60
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), proc.communicate()
        edited = path.read_bytes().replace(b"Intro.\n", b"Intro.\nTwo new lines\nabove.\n")
        path.write_bytes(edited)
        out, err = (stream.decode() for stream in proc.communicate(timeout=60))
    assert proc.returncode == 1, out + err
    assert path.read_bytes() == edited
    assert f"posts/e.md:1: {NOT_UPDATED}" in out
    assert "updated output blocks" not in err
    assert "Traceback" not in out + err
    assert list(path.parent.iterdir()) == [path]


# --- reports -------------------------------------------------------------------------


def test_junit_and_github_annotations(
    make_site: MakeSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A", fence("print(1)"), fence("2", "output"), fence("pass", "python skip")
            )
        }
    )
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    # The blog lives in site/ of the repository, and the step runs in it
    # (`working-directory: site`): annotations name files from the repository's root.
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root.parent))
    junit = tmp_path / "junit.xml"
    result = run_cli("check-code", "--site", ".", "--junit", junit, cwd=root)
    assert result.code == 1
    where = line_of(root, "a.md", "```output") + 1
    title = "title=check-code%3A output differs from the post"
    expected = f"::error file=site/posts/a.md,line={where},{title}::output differs from the post%0A"
    assert expected in result.out
    tree = etree.parse(str(junit))
    assert tree.getroot().get("failures") == "1" and tree.getroot().get("skipped") == "1"
    failure = tree.find(".//failure")
    assert failure is not None
    assert failure.get("message") == f"posts/a.md:{where}: output differs from the post"


def test_post_page_says_its_code_is_checked(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked("Checked", fence("print(1)")),
            "posts/b.md": post("Plain", "2026-03-01", "Intro.\n\n" + fence("print(1)") + "\n"),
        }
    )
    result = build(root)
    assert result.code == 0, result.err
    for slug, expected in (("a", 1), ("b", 0)):
        page = html.parse(str(root / "public/2026/03" / slug / "index.html")).getroot()
        assert len(page.xpath("//*[@class='code-checked']")) == expected


# --- torch ---------------------------------------------------------------------------

TORCH_POST = checked(
    "T",
    fence("import torch\ntorch.manual_seed(0)\nprint(torch.ones(2) / 3)"),
    fence("tensor([0.3333, 0.3333])", "output"),
)


@pytest.mark.torch
def test_fully_cached_run_starts_no_process_and_imports_no_torch(make_site: MakeSite) -> None:
    root = make_site({"posts/t.md": TORCH_POST})
    code, out, err = check(root)
    assert code == 0, out + err
    probe = (
        "import subprocess, sys\n"
        "def refuse(*a, **k): raise AssertionError('a process was started')\n"
        "subprocess.Popen.__init__ = refuse\n"
        "from blogkeeper.cli import main\n"
        f"code = main(['check-code', '--site', {str(root)!r}])\n"
        "assert code == 0, code\n"
        "assert 'torch' not in sys.modules\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "clean" in result.stdout
    assert not re.search(r"\|\s+torch\b", result.stderr)


@pytest.mark.torch
def test_sample_blog_series_passes(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(REPO / "blog.toml", root / "blog.toml")
    shutil.copytree(REPO / "posts", root / "posts")
    code, out, err = check(root, "--no-cache")
    assert code == 0, out + err
    match = re.fullmatch(r"(\d+) passed, 0 failed, (\d+) skipped", last_line(out))
    assert match and int(match[1]) >= 30, out


# --- blockquotes: one scanner for the page and check-code ------------------------------

QUOTED = (
    "> Try this:\n>\n> ```python\n> print(1 + 1)\n> ```\n>\n> ```output\n> 3\n> ```\n\n"
    "> > ```python\n> > print('deep')\n> > ```\n"
)


def test_a_python_block_in_a_blockquote_runs_and_is_shown_as_code(make_site: MakeSite) -> None:
    root = make_site({"posts/q.md": checked("Q", QUOTED)})
    code, out, _ = check(root)
    assert code == 1
    assert f"posts/q.md:{line_of(root, 'q.md', '> 3')}: output differs from the post" in out
    assert last_line(out) == "1 passed, 1 failed, 0 skipped"
    result = build(root)
    assert result.code == 0, result.err
    page = html.parse(str(root / "public/2026/03/q/index.html")).getroot()
    quoted = page.xpath("//blockquote//div[@data-lang='python']//pre")
    assert [pre.text_content() for pre in quoted] == ["print(1 + 1)\n", "print('deep')\n"]
    assert [pre.text_content() for pre in page.xpath("//blockquote//pre[@class='output']")] == [
        "3\n"
    ]


def test_update_writes_into_a_quoted_output_block(make_site: MakeSite) -> None:
    root = make_site({"posts/q.md": checked("Q", QUOTED)})
    code, out, err = check(root, "--update")
    assert code == 0, out + err
    text = (root / "posts/q.md").read_text()
    assert "> ```output\n> 2\n> ```\n\n> > ```python" in text
    assert "> > print('deep')\n> > ```\n> >\n> > ```output\n> > deep\n> > ```\n" in text
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "2 passed, 0 failed, 0 skipped"


# Layouts where a fence's status is easy to get wrong; for each, the python blocks the page
# highlights must be exactly the blocks check-code plans.
LAYOUTS = {
    "top": "```python\nprint(1)\n```\n\n```output\n1\n```",
    "quote": "> ```python\n> print(2)\n> ```",
    "quote-no-space": ">```python\n>print(3)\n>```",
    "nested-quotes": "> Outer.\n>\n> > ```python\n> > print(4)\n> > ```",
    "list-indented": "- item\n\n    ```python\n    print(5)\n    ```",
    "quote-in-list": "- item\n\n  > ```python\n  > print(6)\n  > ```",
    "indented-fence": "Para.\n\n    ```python\n    print(7)\n    ```",
    "lazy-line": "> ```python\nprint(8)\n> ```",
    "unclosed-in-quote": "> ```python\n> print(9)\n\nAfter.\n\n```python\nprint(10)\n```",
    "tilde-in-quote": "> ~~~python\n> print(11)\n> ~~~",
    "inside-a-longer-fence": "````md\n```python\nprint(12)\n```\n> ```python\n> x\n> ```\n````",
    "quote-in-quote-fence": "> ````\n> > ```python\n> > print(13)\n> > ```\n> ````",
    "math-around": "$$\n```python\nprint(14)\n```\n$$",
    "math-in-quote": "> $$\n> ```python\n> print(15)\n> ```\n> $$",
    "html-block": "<div>\n\n```python\nprint(16)\n```\n\n</div>",
}


def highlighted_python(body: str) -> list[str]:
    """The code of every python block the rendered page shows, in order."""
    from blogkeeper.render import render_markdown

    rendered = render_markdown(body, None, "posts/x.md", 1)
    page = html.fromstring(f"<div>{rendered.html}</div>")
    return [pre.text_content() for pre in page.xpath("//div[@data-lang='python']//pre")]


def test_the_page_highlights_exactly_the_blocks_check_code_runs(make_site: MakeSite) -> None:
    from blogkeeper.checkcode import plan_site

    root = make_site({f"posts/{name}.md": checked(name, text) for name, text in LAYOUTS.items()})
    _, plans, _ = plan_site(root)
    # Pygments ends every block with a newline, an empty one too.
    planned = {p.post.source: [b.code or "\n" for b in p.blocks] for p in plans}
    for plan in plans:
        assert highlighted_python(plan.post.body) == planned[plan.post.source], plan.post.source
    for name in LAYOUTS:
        if f"posts/{name}.md" not in planned:
            body = (root / "posts" / f"{name}.md").read_text().split("---\n", 2)[2]
            assert highlighted_python(body) == [], name
    assert planned["posts/quote.md"] == ["print(2)\n"]
    assert planned["posts/nested-quotes.md"] == ["print(4)\n"]


# --- what blocks print reaches the report safely ----------------------------------------


def test_update_fails_a_block_that_prints_a_lone_surrogate_and_still_reports(
    make_site: MakeSite, tmp_path: Path
) -> None:
    root = make_site(
        {"posts/s.md": checked("S", fence("print('bad \\udc80 text')"), fence("print('fine')"))}
    )
    before = (root / "posts/s.md").read_bytes()
    junit = tmp_path / "junit.xml"
    code, out, err = check(root, "--update", "--junit", junit)
    assert code == 1, out + err
    where = line_of(root, "s.md", "udc80")
    assert f"posts/s.md:{where}: {UNWRITABLE} (U+DC80); output block not updated" in out
    assert "Traceback" not in out + err
    assert last_line(out) == "1 passed, 1 failed, 0 skipped"
    assert etree.parse(str(junit)).getroot().get("failures") == "1"
    assert (root / "posts/s.md").read_bytes() != before  # the good block was written
    assert "```output\nfine\n```" in (root / "posts/s.md").read_text()


@pytest.mark.parametrize(
    ("printed", "number"), [("\\x1b[31mred", "001B"), ("bell\\x07", "0007"), ("a\\x85b", "0085")]
)
def test_update_fails_a_block_that_prints_a_control_character_and_leaves_the_post(
    make_site: MakeSite, printed: str, number: str
) -> None:
    root = make_site(
        {"posts/c.md": checked("C", fence(f"print('{printed}')"), fence("old", "output"))}
    )
    before = (root / "posts/c.md").read_bytes()
    code, out, err = check(root, "--update")
    assert code == 1, out + err
    where = line_of(root, "c.md", "old")
    message = f"it printed control character U+{number}, which a post cannot hold"
    assert f"posts/c.md:{where}: {message}; output block not updated" in out
    assert last_line(out) == "0 passed, 1 failed, 0 skipped"
    assert (root / "posts/c.md").read_bytes() == before
    assert build(root).code == 0


def test_update_progress_line_and_file_mode(make_site: MakeSite) -> None:
    root = make_site({"posts/u.md": checked("U", fence("print(2)"), fence("3", "output"))})
    path = root / "posts/u.md"
    path.chmod(0o644)
    code, out, err = check(root, "--update")
    assert code == 0, out + err
    assert "[1/1] posts/u.md updated (" in err
    assert "FAILED" not in err
    assert path.stat().st_mode & 0o777 == 0o644
    assert "```output\n2\n```" in path.read_text()


def test_update_writes_through_a_linked_post_to_the_file_it_leads_to(
    make_site: MakeSite, tmp_path: Path
) -> None:
    # A post kept outside the site and linked in is read through the link; --update
    # writes the file it read, and the link stays a link.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = elsewhere / "ext.md"
    real.write_text(checked("Ext", fence("print(2)"), fence("3", "output")))
    real.chmod(0o640)
    root = make_site({})
    (root / "posts").mkdir()
    link = root / "posts/ext.md"
    link.symlink_to(real)
    code, out, err = check(root, "--update")
    assert code == 0, out + err
    assert "updated output blocks in posts/ext.md" in err
    assert link.is_symlink() and link.readlink() == real
    assert "```output\n2\n```" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in elsewhere.iterdir()) == ["ext.md"]  # no temp file left
    assert sorted(p.name for p in (root / "posts").iterdir()) == ["ext.md"]
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "1 passed, 0 failed, 0 skipped"


def test_printed_escape_sequences_are_shown_escaped(make_site: MakeSite) -> None:
    code = "print('\\x1b[2J\\x1b]0;owned\\x07gone\\r!')\nraise ValueError('\\x1b[31mred')"
    root = make_site({"posts/e.md": checked("E", fence(code))})
    status, out, _ = check(root)
    assert status == 1
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "ValueError: \\x1b[31mred" in out


def test_sys_stdout_buffer_is_captured(make_site: MakeSite) -> None:
    code = (
        "import sys\nsys.stdout.write('a ')\nsys.stdout.buffer.write('é'.encode()[:1])\n"
        "sys.stdout.buffer.write('é b\\n'.encode()[1:])\nsys.stdout.buffer.flush()"
    )
    root = make_site({"posts/b.md": checked("B", fence(code), fence("a é b", "output"))})
    status, out, err = check(root)
    assert status == 0, out + err


# --- show-last and output fence options ----------------------------------------------


def test_show_last_prints_the_last_value_as_a_notebook_shows_it(make_site: MakeSite) -> None:
    root = make_site(
        {
            "posts/a.md": checked(
                "A",
                fence("print('first')\n{'a': 1}", "python show-last"),
                fence("first\n{'a': 1}", "output"),
                fence("int", "python show-last"),
                fence("int", "output"),
                fence("import collections\ncollections.OrderedDict", "python show-last"),
                fence("collections.OrderedDict", "output"),
                fence("print('only')\nNone", "python show-last"),
                fence("only", "output"),
                fence("x = 5", "python show-last"),
                fence("x + 1", "python"),  # without the option, a value is not shown
                fence("", "output"),
            )
        }
    )
    code, out, err = check(root)
    assert code == 0, out + err
    assert last_line(out) == "6 passed, 0 failed, 0 skipped"


def test_an_unknown_output_option_is_an_error_in_build_and_check_code(
    make_site: MakeSite,
) -> None:
    root = make_site({"posts/a.md": checked("A", fence("print(1)"), fence("1", "output elipsis"))})
    where = line_of(root, "a.md", "```output")
    expected = (
        f"posts/a.md:{where}: unknown output block option `elipsis` (did you mean `ellipsis`?)"
    )
    code, out, err = check(root)
    assert code == 1 and expected in err, out + err
    result = build(root)
    assert result.code == 1 and expected in result.err, result.err


def test_output_options_change_the_verdict_and_the_record(make_site: MakeSite) -> None:
    root = make_site(
        {"posts/a.md": checked("A", fence("print('v: 1.2.3')"), fence("v: ...", "output"))}
    )
    code, out, _ = check(root)
    assert code == 1
    before = json.loads((root / "check-record.json").read_text())["posts"]["posts/a.md"][0]
    text = (root / "posts/a.md").read_text()
    (root / "posts/a.md").write_text(text.replace("```output", "```output ellipsis"))
    code, out, err = check(root)
    assert code == 0, out + err
    after = json.loads((root / "check-record.json").read_text())["posts"]["posts/a.md"][0]
    # the option changes how the output is compared: its digest says so
    assert (before["verdict"], after["verdict"]) == ("failed", "passed")
    assert before["output"] != after["output"] and before["code"] == after["code"]
