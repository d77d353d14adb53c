"""`blogkeeper deploy-files` and the publishing files `init` writes (blogkeeper.deploy).

Judges: actionlint for every workflow blogkeeper writes (a binary on the PATH, else its
WebAssembly build from npm, which `.ci/run` installs into .ci/tools/); tomllib for
netlify.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import run_here

from blogkeeper.deploy import HOSTS, WORKFLOW_PATH

HERE = Path(__file__).parent
NODE_TOOLS = HERE.parent / ".ci" / "tools" / "node_modules"


def actionlint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """actionlint's verdict on `paths`; skipped where it is missing, except in CI."""
    binary = shutil.which("actionlint")
    if binary:
        command = [binary, "-no-color", *map(str, paths)]
    elif shutil.which("node") and (NODE_TOOLS / "actionlint").is_dir():
        command = ["node", str(HERE / "actionlint.cjs"), *map(str, paths)]
    else:
        reason = "no actionlint: `npm install --prefix .ci/tools actionlint@2.0.6` gives one"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    env = {**os.environ, "NODE_PATH": str(NODE_TOOLS)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_init_writes_a_workflow_that_actionlint_accepts(tmp_path: Path) -> None:
    assert run_here("init", tmp_path / "blog").code == 0
    workflow = tmp_path / "blog" / WORKFLOW_PATH
    checked = actionlint([workflow])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = workflow.read_text()
    for action in ("checkout@v4", "setup-python@v5", "cache@v4", "configure-pages@v5"):
        assert f"uses: actions/{action}" in text
    assert "uses: actions/upload-pages-artifact@v3" in text
    assert "uses: actions/deploy-pages@v4" in text
    assert (tmp_path / "blog" / "requirements.txt").read_text().startswith("# What CI")


def test_actionlint_judges(tmp_path: Path) -> None:
    """The judge fails a broken workflow, so its pass above means something."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.evnt }}\n"
    )
    assert actionlint([broken]).returncode == 1


def test_deploy_files_adds_and_never_overwrites(tmp_path: Path) -> None:
    root = tmp_path / "blog"
    assert run_here("init", root).code == 0
    (root / "requirements.txt").write_text("mine\n")
    added = run_here("deploy-files", "netlify", "--site", root)
    assert added.code == 0, added.err
    assert "wrote netlify.toml" in added.out and "kept requirements.txt" in added.out
    assert (root / "requirements.txt").read_text() == "mine\n"
    netlify = tomllib.loads((root / "netlify.toml").read_text())
    assert netlify["build"]["publish"] == "public"
    assert netlify["build"]["command"] == "blogkeeper check-code && blogkeeper build"
    same = run_here("deploy-files", "netlify", "--site", root)  # nothing to do
    assert same.code == 0 and "kept netlify.toml: it is there already" in same.out
    (root / "netlify.toml").write_text("# mine\n")
    again = run_here("deploy-files", "netlify", "--site", root)
    assert again.code == 1 and "netlify.toml: exists already" in again.err
    assert (root / "netlify.toml").read_text() == "# mine\n"
    github = run_here("deploy-files", "github", "--site", root)  # the workflow init wrote
    assert github.code == 0 and f"kept {WORKFLOW_PATH}: it is there already" in github.out
    (root / WORKFLOW_PATH).write_text("# mine\n")
    github = run_here("deploy-files", "github", "--site", root)
    assert github.code == 1 and WORKFLOW_PATH in github.err


def test_deploy_files_to_an_existing_blog(tmp_path: Path) -> None:
    for host in HOSTS:
        root = tmp_path / host
        root.mkdir()
        result = run_here("deploy-files", host, "--site", root)
        assert result.code == 0, result.err
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == (
            sorted(HOSTS[host])
        )
    assert run_here("deploy-files", "gitlab", "--site", tmp_path).code == 2
