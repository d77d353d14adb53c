"""The nginx configuration in docs/hosting.md, run by a real nginx against a built blog.

The block and the awk line for aliases are read from the docs page, so what the page shows
is what is tested. The blog is the sample blog plus a post at a `.html` permalink, an
`llms: false` post with aliases (one with non-ASCII letters) and a post with a `$` in its
URL. nginx's answers are compared with `blogkeeper serve`'s
(the `hosting` module applying the build's `_headers` and `_redirects` as Cloudflare Pages
does): the same status, `Content-Type`, `Link:`, `Vary` and body for every file and page
of the build, `Accept: text/markdown` answered with the twin, aliases with a 301 and the
site's 404 page. nginx runs unprivileged (as `nobody` when the tests run as root) with its
own prefix, pid, logs and temp folders on a free port. `.ci/run` installs Debian's nginx;
without it the tests skip locally and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import (
    REPO,
    build,
    copy_sample,
    emulated,
    free_port,
    header,
    post,
    snapshot,
    write_files,
)

from blogkeeper.hosting import HOST_FILES, Response

NGINX_BLOCK = re.compile(r"```nginx\n(.*?)```", re.S)
SITE_ROOT = "/srv/blog/public"
ROOT_LINE = f"    root {SITE_ROOT};\n"
INCLUDE = "include /srv/blog/redirects.nginx;"
POST = "2026/03/trainable-self-attention/"
HTML_POST = "2015/05/21/Tips.html"
HIDDEN_POST = "2015/06/secret/"
EXTRA_POSTS: dict[str, str | bytes] = {
    "posts/2015-05-21-Tips.md": post("Tips", "2015-05-21", permalink="/2015/05/21/Tips.html"),
    "posts/2015-06-01-secret.md": post(
        "Secret", "2015-06-01", llms="false", aliases="[/old/secret, /old/s.html, /old/café;'x/]"
    ),
    "static/notes/readme.md": "# Notes\n\nA Markdown file that is no twin.\n",
    "posts/2015-07-01-payday.md": post(
        "Pay", "2015-07-01", permalink="/2015/07/pay$day/", aliases="[/old/pay]"
    ),
}
# Types the block leaves to Debian's mime.types, where serve chooses another (as docs say).
DEBIAN_TYPES = {"application/xml": "text/xml"}
ALIASES = ("/old/secret", "/old/secret/", "/old/s.html", "/old/caf%C3%A9;'x/", "/old/café;'x/")


def documented(root: Path, port: int) -> tuple[str, str]:
    """(the awk line, the server block) of docs/hosting.md for `root`, on a local port,
    with the `include` line for aliases added after `root` as the page says."""
    page = (REPO / "docs/hosting.md").read_text()
    (block,) = NGINX_BLOCK.findall(page)
    (awk,) = [b for b in re.findall(r"```bash\n(.*?)```", page, re.S) if "redirects.nginx" in b]
    assert f"add `{INCLUDE}` to the\nserver block after its `root` line" in page
    assert "    listen 80;\n" in block and ROOT_LINE in block
    block = block.replace("    listen 80;\n", f"    listen 127.0.0.1:{port};\n", 1)
    block = block.replace(ROOT_LINE, ROOT_LINE + f"    {INCLUDE}\n", 1)
    block = block.replace("/srv/blog/redirects.nginx", str(root / "redirects.nginx"))
    return awk, block.replace(SITE_ROOT, str(root / "public"))


def nginx_conf(folder: Path, server: str) -> str:
    """A main configuration with Debian's types, as Debian's nginx.conf includes the
    files of conf.d/ in its http block; everything nginx writes stays in `folder`."""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        "worker_processes 1;\nevents {}\nhttp {\n"
        "    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    access_log off;\n{temp}\n{server}}}\n"
    )


@pytest.fixture(scope="module")
def nginx() -> Iterator[tuple[httpx.Client, Path]]:
    executable = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if executable is None:
        reason = "the nginx test needs Debian's nginx (.ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # Not in pytest's tmp folder: that is private to the user, and nginx runs as nobody
    # when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="blogkeeper-nginx-"))
    try:
        yield from _serve(executable, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve(executable: str, folder: Path) -> Iterator[tuple[httpx.Client, Path]]:
    folder.chmod(0o755)
    site = copy_sample(folder / "site")
    write_files(site, EXTRA_POSTS)
    result = build(site)
    assert result.code == 0, result.err
    port = free_port()
    awk, server = documented(site, port)
    subprocess.run(["sh", "-c", awk], cwd=site, check=True, timeout=30)
    runtime = folder / "nginx"
    runtime.mkdir()
    config = runtime / "nginx.conf"
    config.write_text(nginx_conf(runtime, server))
    user, group = ("nobody", "nogroup") if os.geteuid() == 0 else (None, None)
    if user is not None:
        shutil.chown(runtime, user, group)
    log = folder / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [executable, "-p", str(runtime), "-c", str(config), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            user=user,
            group=group,
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
                    errors = log.read_text() + (runtime / "error.log").read_text()
                    pytest.fail("nginx did not start:\n" + errors)
                time.sleep(0.1)
        yield client, site / "public"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def served_urls(files: dict[str, bytes]) -> list[str]:
    """Every file of the build, and every folder's page as its folder URL."""
    urls = []
    for path in sorted(files):
        if path.endswith("/index.html") or path == "index.html":
            urls.append("/" + path.removesuffix("index.html"))
        if path not in HOST_FILES and not path.startswith("."):
            urls.append("/" + path)
    return urls


def same(got: httpx.Response, want: Response, url: str) -> None:
    assert got.status_code == want.status, url
    want_type = header(want, "Content-Type") or ""
    assert got.headers["content-type"] == DEBIAN_TYPES.get(want_type, want_type), url
    assert got.headers.get("link") == header(want, "Link"), url
    assert got.headers.get("vary") == header(want, "Vary"), url
    assert got.content == want.body, url


def test_nginx_sends_what_serve_sends_for_every_file_and_page(
    nginx: tuple[httpx.Client, Path],
) -> None:
    client, public = nginx
    files = snapshot(public)
    urls = served_urls(files)
    kinds = (
        "index.md",
        "Tips.md",
        "readme.md",
        "llms.txt",
        "llms-full.txt",
        "feed.json",
        "rss.xml",
    )
    assert len(urls) > 80 and all(any(u.endswith(k) for u in urls) for k in kinds)
    for url in urls:
        want = emulated(files, url)
        if want.status == 301:  # an alias's redirect page: the _redirects rule comes first
            continue
        same(client.get(url), want, url)


@pytest.mark.parametrize(
    ("accept", "twin"),
    [
        ("text/markdown", True),
        ("text/markdown, text/html;q=0.9", True),
        ("text/html;q=0.5, TEXT/Markdown;q=1.0", True),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("text/html, text/markdown;q=0.5", False),
        ("text/markdown;q=0", False),
        ("text/x-markdown", False),
        ("", False),
    ],
)
def test_nginx_answers_accept_markdown_with_the_twin(
    nginx: tuple[httpx.Client, Path], accept: str, twin: bool
) -> None:
    client, public = nginx
    files = snapshot(public)
    pages = {
        "/" + POST: (POST + "index.html", POST + "index.md"),
        "/" + POST + "index.html": (POST + "index.html", POST + "index.md"),
        "/" + HTML_POST: (HTML_POST, HTML_POST.removesuffix(".html") + ".md"),
    }
    for url, (page, twin_file) in pages.items():
        want = emulated(files, url, accept)
        same(client.get(url, headers={"Accept": accept} if accept else {}), want, url)
        assert want.body == files[twin_file if twin else page]
    # A list page and an `llms: false` post have no twin: HTML whatever the client asks.
    for url in ("/archive/", "/" + HIDDEN_POST):
        got = client.get(url, headers={"Accept": "text/markdown"})
        same(got, emulated(files, url, "text/markdown"), url)


def test_nginx_differs_from_serve_only_on_weighed_markdown(
    nginx: tuple[httpx.Client, Path],
) -> None:
    """The documented limit: a `text/markdown` weighed below 1 gets the HTML page even
    where it outweighs `text/html` (serve compares the weights)."""
    client, public = nginx
    files = snapshot(public)
    accept = "text/markdown;q=0.9, text/html;q=0.8"
    got = client.get("/" + POST, headers={"Accept": accept})
    assert got.content == files[POST + "index.html"]
    assert emulated(files, "/" + POST, accept).body == files[POST + "index.md"]


def test_nginx_answers_aliases_404s_and_folders_as_serve_does(
    nginx: tuple[httpx.Client, Path],
) -> None:
    client, public = nginx
    files = snapshot(public)
    for url in ALIASES:
        got, want = client.get(url), emulated(files, url)
        assert got.status_code == want.status == 301, url
        assert got.headers["location"] == header(want, "Location") == "/" + HIDDEN_POST
    # A client that sends the path's UTF-8 unencoded matches the decoded location too.
    port = client.base_url.port
    with socket.create_connection(("127.0.0.1", port or 80), timeout=10) as sock:
        sock.sendall("GET /old/café;'x/ HTTP/1.0\r\n\r\n".encode())
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 301 ") and b"\r\nLocation: /2015/06/secret/\r\n" in answer
    # nginx would read a `$` in the target as a variable: the line sends it as %24
    got, want = client.get("/old/pay"), emulated(files, "/old/pay")
    assert (got.status_code, got.headers["location"]) == (301, "/2015/07/pay%24day/")
    assert header(want, "Location") == "/2015/07/pay$day/"
    assert client.get("/2015/07/pay%24day/").content == files["2015/07/pay$day/index.html"]
    missing = ("/no/such/page/", "/2026/03/nothing.md", "/feed/none.json", "/assets/")
    for url in (*missing, "/_headers", "/_redirects", "/2026/03/nothing.html"):
        got, want = client.get(url), emulated(files, url)
        assert want.status == 404 and got.content == files["404.html"], url
        same(got, want, url)
    # serve answers a hidden file with a plain 404, nginx with the site's
    assert client.get("/.blogkeeper-output").status_code == 404
    assert ".blogkeeper-output" in files
    for url in ("/" + POST.rstrip("/"), "/topics"):
        got, want = client.get(url), emulated(files, url)
        assert got.status_code == want.status == 301, url
        assert got.headers["location"] == header(want, "Location") == url + "/"


def test_nginx_warns_of_nothing_in_its_log(nginx: tuple[httpx.Client, Path]) -> None:
    """After the tests above (pytest runs this file in order): no `[warn]` or worse in the
    log, such as nginx's "using uninitialized variable"."""
    client, public = nginx
    client.get("/" + POST + "index.md")
    log = (public.parent.parent / "nginx" / "error.log").read_text()
    problems = [
        line for line in log.splitlines() if re.search(r"\[(warn|crit|alert|emerg)\]", line)
    ]
    assert not problems
