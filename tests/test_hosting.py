"""The pure request-to-response rules of `hosting`: paths, hosts, rules, types, redirects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blogkeeper.hosting import (
    Response,
    Snapshot,
    apply_rules,
    content_type,
    finish,
    follow_redirects,
    header_rules,
    host_name,
    lookup,
    parse_path,
    redirect_rules,
)

FILES = {
    "index.html": b"<body>home</body>",
    "404.html": b"<body>missing</body>",
    "2026/03/x/index.html": b"<body>post</body>",
    "2026/03/x/index.md": b"# post",
    "assets/style.css": b"body{}",
    "_headers": b"/blog/2026/*\n  X-Robots-Tag: noindex\n",
}


def get(site: Snapshot, raw: str, accept: str = "") -> Response:
    parsed = parse_path(raw)
    return parsed if isinstance(parsed, Response) else lookup(site, *parsed, accept)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", ([""], "")),
        ("/a/b/?q=1", (["a", "b", ""], "q=1")),
        ("/caf%C3%A9/", (["café", ""], "")),
        ("/a#frag", (["a"], "")),
    ],
)
def test_parse_path_accepts(raw: str, expected: tuple[list[str], str]) -> None:
    assert parse_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("/../x", 400),
        ("/%2e%2e/x", 400),
        ("/a%2fb", 400),
        ("/a\\b", 400),
        ("/a%5Cb", 400),
        ("/a%00", 400),
        ("/%ff", 400),
        ("x", 400),
        ("http://h/x", 400),
        ("//h/x", 404),
        ("/.git/HEAD", 404),
        ("/.env", 404),
    ],
)
def test_parse_path_refuses(raw: str, status: int) -> None:
    refused = parse_path(raw)
    assert isinstance(refused, Response) and refused.status == status


@given(st.text(alphabet=st.sampled_from("/\\.%2eEfF5cC0a:?#"), max_size=30))
def test_no_path_escapes_and_no_redirect_leaves_the_site(raw: str) -> None:
    site = Snapshot.of("/", {**FILES, "a/index.html": b"x", "2e/index.html": b"x"})
    parsed = parse_path("/" + raw)
    if isinstance(parsed, Response):
        assert parsed.status in (400, 404)
        return
    segments, query = parsed
    assert not any(s in (".", "..") or set(s) & set("/\\\0") for s in segments)
    response = lookup(site, segments, query, "")
    location = dict(response.headers).get("Location")
    if location is not None:
        assert location.startswith("/") and location[1:2] not in ("/", "\\")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("LocalHost.", "localhost"),
        ("[::1]:8000", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("a.localhost:1", "a.localhost"),
        ("[::1", None),
        ("[::1]x", None),
        ("host:port", None),
        ("", None),
    ],
)
def test_host_name(header: str, name: str | None) -> None:
    assert host_name(header) == name


def test_site_under_a_base_path() -> None:
    site = Snapshot.of("/blog/", FILES)
    assert dict(get(site, "/").headers)["Location"] == "/blog/"
    assert get(site, "/blog/").body == FILES["index.html"]
    assert dict(get(site, "/blog/2026/03/x").headers)["Location"] == "/blog/2026/03/x/"
    assert get(site, "/2026/03/x/").status == 404
    post = get(site, "/blog/2026/03/x/")
    assert (
        dict(post.headers)["Link"]
        == '</blog/2026/03/x/index.md>; rel="alternate"; type="text/markdown"'
    )
    assert dict(post.headers)["X-Robots-Tag"] == "noindex"
    assert "X-Robots-Tag" not in dict(get(site, "/blog/").headers)
    missing = get(site, "/blog/nope")
    assert missing.status == 404 and missing.body == FILES["404.html"]
    assert get(site, "/blog/_headers").status == 404


def test_header_rules() -> None:
    rules = header_rules(
        "# comment\n/a/*\n  X-Robots-Tag: noindex\n  Access-Control-Allow-Origin: *\n"
        "/p/:slug/\n  ! Link\n  Link: <x>; rel=help\nhttps://host/x\n  X-Robots-Tag: all\n"
        "/empty\n/two/*/*\n  Link: <y>\n/same/:a/:a\n  Link: <z>\n"
    )
    assert [(r.pattern.pattern, r.headers, r.detached) for r in rules] == [
        ("/a/(?P<splat>.*)", (("X-Robots-Tag", "noindex"),), ()),
        ("/p/(?P<slug>[^/]+)/", (("Link", "<x>; rel=help"),), ("Link",)),
    ]


def headers_for(rules: str, url: str, default: str = "<d>") -> dict[str, str]:
    headers = {"link": ("Link", default), "content-type": ("Content-Type", "text/html")}
    apply_rules(header_rules(rules), url, headers)
    return dict(headers.values())


def test_rules_apply_in_order_and_join_as_on_cloudflare_pages() -> None:
    rules = "/*\n  Link: <a>\n/x/*\n  Link: <b>\n/y/*\n  ! Link\n  Link: <c>\n/z/*\n  ! Link\n"
    assert headers_for(rules, "/")["Link"] == "<a>"  # the server's own value is replaced
    assert headers_for(rules, "/x/1")["Link"] == "<a>, <b>"
    assert headers_for(rules, "/y/1")["Link"] == "<c>"
    assert "Link" not in headers_for(rules, "/z/1")
    assert headers_for(rules, "/x")["Link"] == "<a>"


def test_splat_and_placeholders_fill_values() -> None:
    rules = "/posts/:year/*\n  Link: </:year/:splat>; rel=x, <:nothing>\n"
    assert headers_for(rules, "/posts/2026/a/b/")["Link"] == "</2026/a/b/>; rel=x, <:nothing>"
    assert headers_for(rules, "/posts/2026")["Link"] == "<d>"  # :year is one segment, * needs /


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("feed/rss.xml", b'<?xml version="1.0"?><rss version="2.0">', "application/rss+xml"),
        ("feed/atom.xml", b'<?xml version="1.0"?><feed xmlns="x">', "application/atom+xml"),
        ("sitemap.xml", b"<urlset>", "application/xml"),
        ("feed/feed.json", b"{}", "application/feed+json"),
        ("topics/ai/feed.json", b"{}", "application/feed+json"),
        ("llms.txt", b"# x", "text/markdown; charset=utf-8"),
        ("docs/llms-full.txt", b"# x", "text/markdown; charset=utf-8"),
        ("robots.txt", b"", "text/plain; charset=utf-8"),
        ("a/index.md", b"", "text/markdown; charset=utf-8"),
        ("x.woff2", b"", "font/woff2"),
        ("x.unknownext", b"", "application/octet-stream"),
    ],
)
def test_content_type(name: str, data: bytes, expected: str) -> None:
    assert content_type(name, data) == expected


def test_finish_handles_etags_and_head() -> None:
    page = Response(200, (("Content-Type", "text/plain"),), b"hello")
    sent = finish(page)
    headers = dict(sent.headers)
    assert headers["Content-Length"] == "5" and sent.body == b"hello"
    assert finish(page, headers["ETag"]).status == 304
    assert finish(page, "*").status == 304
    assert finish(page, '"nope"').status == 200
    head = finish(page, head=True)
    assert head.body == b"" and dict(head.headers)["Content-Length"] == "5"
    assert "ETag" not in dict(finish(Response(404, (), b"x")).headers)


def test_redirect_rules_as_cloudflare_follows_them() -> None:
    rules = redirect_rules(
        "# comment\n/old/ /new/ 301\n/old/ /second/ 301\n/p/:year/* /posts/:year/:splat 308\n"
        "/tmp /elsewhere\n/ext https://other.example/ 301\n/rw/* /index.html 200\n"
        "/a b c d\n/s/* /:splat 301\n"
    )
    assert len(rules) == 5  # an off-site target, a rewrite and a 4-field line are left out
    assert follow_redirects(rules, "/old/") == Response(
        301, (("Location", "/new/"), ("Content-Type", "text/plain; charset=utf-8"))
    )
    moved = follow_redirects(rules, "/p/2015/a/b c")
    assert moved is not None and moved.status == 308
    assert dict(moved.headers)["Location"] == "/posts/2015/a/b%20c"
    found = follow_redirects(rules, "/tmp")
    assert found is not None and found.status == 302  # Cloudflare's default
    assert follow_redirects(rules, "/old") is None and follow_redirects(rules, "/ext") is None
    # a splat never makes the target another host's address
    assert follow_redirects(rules, "/s//evil.example") is None
