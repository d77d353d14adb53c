"""`blogkeeper deploy-files HOST` (and `init`): the files that publish a blog in one step
from a push: a GitHub Pages workflow, a `netlify.toml`, and the `requirements.txt` both
install from. Cloudflare Pages keeps its build settings in its dashboard: `SETTINGS` says
what to enter there.

Never overwrites: an existing `requirements.txt` is kept as the blog's own, any other
existing file is an error and then nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from blogkeeper import __version__
from blogkeeper.errors import BuildError, ContentError, did_you_mean

# blogkeeper is not on PyPI yet: the first line is where the workflow installs it from,
# and the one thing an author may have to change. PyTorch's CPU wheels are smaller and
# faster to install than the default CUDA build, and the posts' code runs on the CPU.
REQUIREMENTS = f"""\
# What CI installs to check and build this blog (pip install -r requirements.txt).
# blogkeeper is not on PyPI yet: if pip cannot find it, replace the next line with where
# you install it from, e.g. blogkeeper[check] @ git+https://github.com/OWNER/blogkeeper
blogkeeper[check]=={__version__}
# PyTorch's CPU build, for the code in posts (check-code); add the posts' other packages.
--extra-index-url https://download.pytorch.org/whl/cpu
torch
"""

GITHUB_WORKFLOW = """\
# Checks and builds the blog on every push and pull request, and publishes it to GitHub
# Pages from the default branch. Settings > Pages > Source must be "GitHub Actions", and
# blog.toml's url the Pages address (https://OWNER.github.io/REPO/).
name: blog

on:
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

concurrency:
  group: blog-${{ github.ref }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}

jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
          cache: pip
          cache-dependency-path: requirements.txt
      # Renderings and the record of passing posts: a warm cache makes both steps fast.
      - uses: actions/cache@v4
        with:
          path: .blogkeeper-cache
          key: blogkeeper-${{ runner.os }}-${{ github.sha }}
          restore-keys: blogkeeper-${{ runner.os }}-
      - run: pip install -r requirements.txt
      # blogkeeper annotates failing lines itself when GITHUB_ACTIONS is true.
      - run: blogkeeper check-code
      - run: blogkeeper build
      - if: github.event_name != 'pull_request'
        uses: actions/configure-pages@v5
      - if: github.event_name != 'pull_request'
        uses: actions/upload-pages-artifact@v3
        with:
          path: public

  deploy:
    if: >-
      github.event_name != 'pull_request'
      && github.ref_name == github.event.repository.default_branch
    needs: build
    runs-on: ubuntu-latest
    permissions:
      pages: write
      id-token: write
    environment:
      name: github-pages
      url: ${{ steps.deployment.outputs.page_url }}
    steps:
      - id: deployment
        uses: actions/deploy-pages@v4
"""

NETLIFY_TOML = """\
# Netlify installs requirements.txt itself, then runs the command and publishes `public`.
[build]
  command = "blogkeeper check-code && blogkeeper build"
  publish = "public"

[build.environment]
  PYTHON_VERSION = "3.12"
"""

WORKFLOW_PATH = ".github/workflows/blog.yml"
HOSTS: dict[str, dict[str, str]] = {
    "github": {WORKFLOW_PATH: GITHUB_WORKFLOW, "requirements.txt": REQUIREMENTS},
    "netlify": {"netlify.toml": NETLIFY_TOML, "requirements.txt": REQUIREMENTS},
    "cloudflare": {"requirements.txt": REQUIREMENTS},
}
# What each host needs set by hand, printed after the files are written.
SETTINGS = {
    "github": "in the repository's Settings > Pages, set Source to GitHub Actions",
    "netlify": "connect the repository in Netlify: netlify.toml gives the build settings",
    "cloudflare": (
        "in Cloudflare Pages, connect the repository and set: build command "
        "`pip install -r requirements.txt && blogkeeper check-code && blogkeeper build`, "
        "build output directory `public`, environment variable PYTHON_VERSION = 3.12"
    ),
}


def deploy_files(host: str) -> dict[str, str]:
    """{path in the blog: text} of what publishing to `host` needs."""
    if host not in HOSTS:
        hint = did_you_mean(host, HOSTS) or "one of: " + ", ".join(HOSTS)
        raise BuildError([ContentError(host, None, "no such host", hint)])
    return HOSTS[host]


def write_deploy_files(root: Path, host: str) -> list[tuple[str, bool]]:
    """Write what `host` needs into the blog at `root`: (path, written) for each file, an
    existing requirements.txt kept, and a file that holds already what would be written
    (`init` wrote GitHub's workflow); `BuildError` naming every other file already there."""
    files = deploy_files(host)
    taken = [
        name
        for name, text in files.items()
        if (root / name).exists() and name != "requirements.txt" and not _holds(root / name, text)
    ]
    if taken:
        message = "exists already: blogkeeper never overwrites a file"
        raise BuildError([ContentError(name, None, message) for name in taken])
    done = []
    for name, text in files.items():
        path = root / name
        if path.exists():
            done.append((name, False))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        done.append((name, True))
    return done


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
