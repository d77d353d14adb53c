"""Aliases: the redirect pages (read with lxml), `_redirects` (read back with the parser the
preview follows), what they leave alone (sitemap, feeds, llms.txt), and their clashes.
`serve`'s 301 over HTTP is in test_serve.py; the pages' HTML validity in
test_html_valid.py."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import feedparser
import lxml.html
import pytest
from conftest import BLOG_TOML, REPO, free_port, post, quick_build

from blogkeeper import hosting
from blogkeeper.redirects import STATIC_LIMIT, rule_counts

MakeSite = Callable[..., Path]
ALIASES = "[/2015/05/21/old-name/, /old/two, /old/three.html]"
TARGET = "https://blog.example.org/2026/03/new/"


def built(root: Path) -> Path:
    result = quick_build(root)
    assert result.code == 0, result.err
    return root / "public"


def aliased(**meta: str) -> dict[str, str | bytes]:
    return {
        "posts/new.md": post("New <name> & 'more'", "2026-03-01", aliases=ALIASES, **meta),
        "posts/other.md": post("Other", "2026-02-01"),
    }


def test_each_alias_gets_a_redirect_page(make_site: MakeSite) -> None:
    out = built(make_site(aliased()))
    for page in ("2015/05/21/old-name/index.html", "old/two/index.html", "old/three.html"):
        tree = lxml.html.parse(str(out / page))
        assert tree.xpath("//meta[@http-equiv='refresh']/@content") == [f"0; url={TARGET}"]
        assert tree.xpath("//link[@rel='canonical']/@href") == [TARGET]
        assert tree.xpath("//meta[@name='robots']/@content") == ["noindex"]
        [link] = tree.xpath("//body//a")
        assert link.get("href") == TARGET and link.text_content() == "New <name> & 'more'"


def test_redirects_file_has_a_line_per_form(make_site: MakeSite) -> None:
    out = built(make_site(aliased()))
    lines = [
        line
        for line in (out / "_redirects").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines == [
        "/2015/05/21/old-name/ /2026/03/new/ 301",
        "/old/three.html /2026/03/new/ 301",
        "/old/two /2026/03/new/ 301",
        "/old/two/ /2026/03/new/ 301",
    ]
    rules = hosting.redirect_rules((out / "_redirects").read_text())
    assert [(r.target, r.status) for r in rules] == [("/2026/03/new/", 301)] * 4


def test_under_a_base_path_and_with_the_sites_own_rules(make_site: MakeSite) -> None:
    config = BLOG_TOML.replace("https://blog.example.org/", "https://example.org/blog/")
    files = {**aliased(), "static/_redirects": "/news/* /blog/:splat 301\n/a /blog/ 302\n"}
    out = built(make_site(files, config))
    text = (out / "_redirects").read_text()
    assert "/blog/old/two /blog/2026/03/new/ 301\n" in text
    # the site's own rules come after blogkeeper's exact ones, as written
    assert text.index("/blog/old/two ") < text.index("/news/* /blog/:splat 301")
    assert rule_counts(text) == (4, 2)  # after a dynamic rule, Cloudflare counts all dynamic
    assert not (out / "static").exists()


def test_aliases_stay_out_of_sitemap_feeds_and_llms_txt(make_site: MakeSite) -> None:
    plain = built(make_site(aliased()))
    before = {name: (plain / name).read_bytes() for name in ("sitemap.xml", "llms.txt")}
    before["feed"] = (plain / "feed/rss.xml").read_bytes()
    site = make_site({**aliased(), "posts/new.md": post("New <name> & 'more'", "2026-03-01")})
    out = built(site)
    assert not (out / "_redirects").exists() and not (out / "old").exists()
    assert (out / "sitemap.xml").read_bytes() == before["sitemap.xml"]
    assert (out / "llms.txt").read_bytes() == before["llms.txt"]
    assert (out / "feed/rss.xml").read_bytes() == before["feed"]
    assert "old" not in before["sitemap.xml"].decode()
    entries = feedparser.parse(before["feed"]).entries
    assert [e.link for e in entries] == [TARGET, "https://blog.example.org/2026/02/other/"]


def check_clash(make_site: MakeSite, files: dict[str, str | bytes], expected: str) -> None:
    result = quick_build(make_site(files))
    assert result.code == 1, result.err
    assert expected in result.err, result.err
    assert "Traceback" not in result.err


def test_alias_on_another_post_is_an_error(make_site: MakeSite) -> None:
    files = aliased()
    files["posts/other.md"] = post("Other", "2026-02-01", permalink="/old/two/")
    check_clash(make_site, files, "the page of posts/other.md and alias /old/two of posts/new.md")


def test_two_aliases_on_one_url_are_an_error(make_site: MakeSite) -> None:
    files = aliased()
    files["posts/other.md"] = post("Other", "2026-02-01", aliases="[/OLD/Two/]")
    check_clash(make_site, files, "posts/other.md:4: alias /OLD/Two/ of posts/other.md and")


def test_alias_on_a_topic_page_or_a_file_is_an_error(make_site: MakeSite) -> None:
    files = aliased(tags="[AI]")
    files["posts/other.md"] = post("Other", "2026-02-01", aliases="[/topics/ai/]")
    check_clash(make_site, files, "alias /topics/ai/ of posts/other.md and /topics/ai/index.html")
    files["posts/other.md"] = post("Other", "2026-02-01", aliases="[/llms.txt]")
    check_clash(make_site, files, "posts/other.md:4: alias /llms.txt is the URL of /llms.txt")


def test_alias_of_its_own_page_is_an_error(make_site: MakeSite) -> None:
    files = {"posts/new.md": post("New", "2026-03-01", aliases="[/2026/03/new]")}
    check_clash(make_site, files, "the page of posts/new.md and alias /2026/03/new of posts/new.md")


def test_bad_alias_points_at_its_line(make_site: MakeSite) -> None:
    for alias, message in [
        ("old/x/", "must be a path from the site's root"),
        ("/", "must be a path from the site's root"),
        ("/a/*", "must not hold spaces"),
        ("/a//b/", "must not hold `//`"),
    ]:
        files = {"posts/new.md": post("New", "2026-03-01", aliases=f'["{alias}"]')}
        result = quick_build(make_site(files))
        assert result.code == 1
        assert f"posts/new.md:4: `aliases` '{alias}' {message}" in result.err, result.err


def test_past_cloudflares_limit_a_warning_and_the_pages_still_redirect(
    make_site: MakeSite,
) -> None:
    count = STATIC_LIMIT + 5
    many = "[" + ", ".join(f"/old/{n:05d}/" for n in range(count)) + "]"
    files = {
        "posts/new.md": post("New", "2026-03-01", aliases=many),
        "static/_redirects": "/mine/ / 301\n",
    }
    root = make_site(files)
    result = quick_build(root)
    assert result.code == 0, result.err
    assert (
        "posts/new.md:4: warning: alias /old/01999/ and the aliases after it (of 2005, in "
        "path order) are left out of _redirects: Cloudflare Pages reads at most 2000 static"
    ) in result.err
    text = (root / "public/_redirects").read_text()
    assert rule_counts(text) == (STATIC_LIMIT, 0)
    assert (root / f"public/old/{count - 1:05d}/index.html").is_file()


def documented_caddy(root: Path, port: int) -> tuple[str, str]:
    """(the awk line, the Caddyfile) as docs/hosting.md gives them for aliases: its
    Caddyfile with the `import` line added after `root`, on a local port, for `root`."""
    page = (REPO / "docs/hosting.md").read_text()
    (awk,) = [b for b in re.findall(r"```bash\n(.*?)```", page, re.S) if "redirects.caddy" in b]
    (block,) = re.findall(r"```caddyfile\n(.*?)```", page, re.S)
    assert "add `import /srv/blog/redirects.caddy` to the site block after its\n`root` line" in page
    root_line = "\troot * /srv/blog/public\n"
    assert root_line in block
    block = block.replace(root_line, root_line + "\timport /srv/blog/redirects.caddy\n")
    block = block.replace("blog.example.org {", f"http://127.0.0.1:{port} {{", 1)
    block = block.replace("/srv/blog/public", str(root / "public"))
    block = block.replace("/srv/blog/redirects.caddy", str(root / "redirects.caddy"))
    return awk, "{\n\tadmin off\n\tauto_https off\n}\n" + block


@pytest.mark.slow
def test_caddy_answers_aliases_with_the_documented_lines(make_site: MakeSite) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        reason = "no caddy on the PATH (Debian: apt-get install caddy)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; .ci/run installs it")
        pytest.skip(reason)
    root = make_site({**aliased(), "static/_redirects": "/news/* /:splat 301\n"})
    built(root)
    port = free_port()
    awk, config = documented_caddy(root, port)
    subprocess.run(["sh", "-c", awk], cwd=root, check=True, timeout=30)
    (root / "Caddyfile").write_text(config)
    env = {**os.environ, "HOME": str(root), "XDG_DATA_HOME": str(root)}
    env["XDG_CONFIG_HOME"] = str(root)
    command = [caddy, "run", "--config", str(root / "Caddyfile"), "--adapter", "caddyfile"]
    log = root / "caddy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)
    try:
        for path in ("/2015/05/21/old-name/", "/old/two", "/old/two/", "/old/three.html"):
            assert _get(port, path, proc, log) == (301, "/2026/03/new/"), path
        assert _get(port, "/news/x", proc, log)[0] == 404  # the site's own rules: not converted
        assert _get(port, "/2026/03/new/", proc, log)[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _get(port: int, path: str, proc: subprocess.Popen[bytes], log: Path) -> tuple[int, str | None]:
    """(status, Location) of a GET, once caddy listens."""
    deadline = time.monotonic() + 20
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                return response.status, response.getheader("Location")
            finally:
                conn.close()
        except ConnectionRefusedError:
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-2000:]
                raise AssertionError(f"caddy did not start: {text}") from None
            time.sleep(0.1)
