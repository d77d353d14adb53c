"""The Caddyfile in docs/hosting.md, run by a real Caddy against the sample blog.

The block is read from the docs page, so what the page shows is what is tested. Its
answers are compared with `blogkeeper serve`'s (the `hosting` module applying the build's
`_headers` as Cloudflare Pages does): the same `Content-Type` and `Link:` for every page,
twin, llms file and JSON Feed, `Accept: text/markdown` answered with the twin, and the
site's 404 page. `.ci/run` installs Debian's caddy; without it the tests skip locally and
fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPO, build, copy_sample, emulated, free_port, header, snapshot

CADDY_BLOCK = re.compile(r"```caddyfile\n(.*?)```", re.S)
SITE_ADDRESS = "blog.example.org {"
SITE_ROOT = "/srv/blog/public"
POST = "2026/03/trainable-self-attention/"


def caddyfile(root: Path, port: int) -> str:
    """docs/hosting.md's Caddyfile for `root` on a local port, without admin API or TLS."""
    (block,) = CADDY_BLOCK.findall((REPO / "docs/hosting.md").read_text())
    assert block.startswith(SITE_ADDRESS) and SITE_ROOT in block
    block = block.replace(SITE_ADDRESS, f"http://127.0.0.1:{port} {{", 1)
    return "{\n\tadmin off\n\tauto_https off\n}\n" + block.replace(SITE_ROOT, str(root))


@pytest.fixture(scope="module")
def caddy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    executable = shutil.which("caddy")
    if executable is None:
        reason = "the Caddy test needs Debian's caddy (.ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("caddy")
    public = folder / "public"
    result = build(copy_sample(folder / "site"), "--out", str(public))
    assert result.code == 0, result.err
    port = free_port()
    config = folder / "Caddyfile"
    config.write_text(caddyfile(public, port))
    home = {"HOME": str(folder), "XDG_DATA_HOME": str(folder), "XDG_CONFIG_HOME": str(folder)}
    log = (folder / "caddy.log").open("wb")
    process = subprocess.Popen(
        [executable, "run", "--config", str(config), "--adapter", "caddyfile"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **home},
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.get("/")
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("caddy did not start:\n" + (folder / "caddy.log").read_text())
                time.sleep(0.1)
        yield client, public
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
        log.close()


def served_urls(files: dict[str, bytes]) -> list[str]:
    """Every page (as its folder URL), twin, llms file and JSON Feed of the build."""
    urls = []
    for path in sorted(files):
        if path.endswith("/index.html") or path == "index.html":
            urls.append("/" + path.removesuffix("index.html"))
        elif path.endswith((".md", "llms.txt", "llms-full.txt", "feed.json", ".html")):
            urls.append("/" + path)
    return urls


def test_caddy_sends_the_types_and_links_the_headers_rules_give(
    caddy: tuple[httpx.Client, Path],
) -> None:
    client, public = caddy
    files = snapshot(public)
    urls = served_urls(files)
    assert len(urls) > 40 and "/" + POST + "index.md" in urls and "/feed/feed.json" in urls
    for url in urls:
        got = client.get(url)
        want = emulated(files, url)
        assert got.status_code == want.status == 200, url
        assert got.headers["content-type"] == header(want, "Content-Type"), url
        assert got.headers.get("link") == header(want, "Link"), url
        assert ("vary" in got.headers) == (header(want, "Vary") is not None), url
        assert got.content == want.body, url


@pytest.mark.parametrize(
    ("accept", "twin"),
    [
        ("text/markdown", True),
        ("text/markdown, text/html;q=0.9", True),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("", False),
    ],
)
def test_caddy_answers_accept_markdown_with_the_twin(
    caddy: tuple[httpx.Client, Path], accept: str, twin: bool
) -> None:
    client, public = caddy
    files = snapshot(public)
    got = client.get("/" + POST, headers={"Accept": accept} if accept else {})
    want = emulated(files, "/" + POST, accept)
    assert got.content == files[POST + ("index.md" if twin else "index.html")] == want.body
    assert got.headers["content-type"] == header(want, "Content-Type")
    assert got.headers["vary"] == "Accept"
    # A list page has no twin: it stays HTML whatever the client asks for.
    listing = client.get("/archive/", headers={"Accept": "text/markdown"})
    assert listing.content == files["archive/index.html"]


def test_caddy_serves_the_404_page_and_redirects_folders(
    caddy: tuple[httpx.Client, Path],
) -> None:
    client, public = caddy
    files = snapshot(public)
    for url in ("/no/such/page/", "/2026/03/nothing.md", "/feed/none.json"):
        got = client.get(url)
        assert got.status_code == 404, url
        assert got.content == files["404.html"] == emulated(files, url).body
    folder = client.get("/" + POST.rstrip("/"))
    assert folder.status_code in (301, 308)  # serve sends 301, Caddy 308: both permanent
    assert folder.headers["location"] == "/" + POST
