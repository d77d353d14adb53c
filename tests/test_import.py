"""`blogkeeper import`: the Jekyll and Hugo fixture sites (tests/fixtures/import/, written
for these tests) imported, their files read back with tomllib and PyYAML, the report's
`path:line` checked against the written files, and the imported sites built and judged
with lxml, feedparser and the llms.txt reference parser."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import feedparser
import lxml.html
import pytest
import yaml
from llms_txt import parse_llms_file

from blogkeeper.importer import common, hugo
from tests.conftest import NOW, Result, run_cli, run_here, write_files

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"

# The URLs each fixture's posts had on the old site (from the site root), and the old
# URLs that must redirect (aliases). Drafts are left out: a build leaves them out too.
JEKYLL_URLS = [
    "blog/2015/05/21/Javascript-Tips.html",
    "blog/ml/notes/2016/02/03/math-notes.html",
    "blog/2018/01/01/link-check.html",
]
HUGO_URLS = [
    "posts/2019/nested/",
    "posts/first-light/",
    "posts/note-two/",
    "special/json-note/",
    "posts/bundled-post/",
]
HUGO_ALIASES = {
    "old/first-light/": "posts/first-light/",
    "posts/first-light-old/": "posts/first-light/",
}


def imported(tmp_path: Path, kind: str) -> tuple[Path, str]:
    target = tmp_path / f"new-{kind}"
    result = run_here("import", FIXTURES / kind, target)
    return target, result.out + result.err


def front_and_body(path: Path) -> tuple[dict[str, object], str]:
    _, head, body = path.read_text(encoding="utf-8").split("---\n", 2)
    return yaml.safe_load(head), body


def report_lines(report: str) -> list[tuple[str, int, str]]:
    return [
        (m.group(1), int(m.group(2)), m.group(3))
        for m in re.finditer(r"^  (posts/[^:]+):(\d+): (.*)$", report, re.MULTILINE)
    ]


# ---- heading ids -----------------------------------------------------------------------


def test_old_generators_heading_ids() -> None:
    title = "One-shot approach: Search & Evaluation"
    assert common.gfm_id(title) == "one-shot-approach-search--evaluation"
    assert common.kramdown_id(title) == "one-shot-approach-search--evaluation"
    assert common.kramdown_id("1. Intro to `x_y`") == "intro-to-xy"  # from its first letter
    assert common.gfm_id("1. Intro to `x_y`") == "1-intro-to-x_y"
    assert common.goldmark_id("Step 1 -- setup") == "step-1----setup"
    assert common.goldmark_id("Use *fast* `code`") == "use-fast-code"
    assert common.goldmark_id('<a id="x"></a>How it Works?') == "how-it-works"
    assert common.dedupe_ruby(["a", "a", "b", "a"]) == ["a", "a-1", "b", "a-2"]


def test_dollar_math_from_configuration_or_posts(tmp_path: Path) -> None:
    with_dollar = tmp_path / "a.html"
    with_dollar.write_text("MathJax.Hub.Config({tex2jax: {inlineMath: [['$','$']]}})")
    default = tmp_path / "b.html"
    default.write_text('<script src="https://cdn.example/MathJax.js?config=TeX-AMS_CHTML">')
    nothing = tmp_path / "c.html"
    nothing.write_text("<p>no math library here</p>")
    report = common.Report()
    assert common.dollar_is_math([default, with_dollar], ["costs $5 and $6"], report)
    assert not common.dollar_is_math([default], [r"$\alpha_i$ and $x^2$"], report)
    assert not report.notes  # both decided by a configuration
    # no configuration at all (a theme outside the repository): the posts decide
    assert common.dollar_is_math([nothing], [r"$\alpha_i$, $x^2$, $n$ or $many words$"], report)
    assert not common.dollar_is_math([nothing], ["from $5 to $6 or $ten dollars$"], report)
    assert len(report.notes) == 2 and "3 of 4 look like math" in report.notes[0].what


def test_hugo_urlize() -> None:
    assert hugo.urlize("POLUSA: A Large Dataset", True) == "polusa-a-large-dataset"
    assert hugo.urlize("A grid operator's dream", True) == "a-grid-operators-dream"
    assert hugo.urlize("Café 50%  off %20", False) == "Café-50-off-%20"


def test_blogkeeper_ids_are_the_ids_a_build_gives(make_site, tmp_path: Path) -> None:
    texts = ["Search & Evaluation", "A", "A", "Café au lait"]
    ids = common.blogkeeper_ids(texts)
    body = "".join(f"## {t}\n\ntext\n\n" for t in texts)
    from tests.conftest import post, quick_build

    root = make_site({"posts/p.md": post("P", "2026-01-02", body)})
    assert quick_build(root).code == 0
    page = lxml.html.parse(str(root / "public" / "2026" / "01" / "p" / "index.html"))
    assert [h.get("id") for h in page.getroot().iter("h2")][: len(texts)] == ids


# ---- what the importer writes ----------------------------------------------------------


def test_jekyll_site_toml_and_posts(tmp_path: Path) -> None:
    target, report = imported(tmp_path, "jekyll")
    config = tomllib.loads((target / "blog.toml").read_text(encoding="utf-8"))
    assert config["url"] == "https://notes.example.org/blog/"
    assert config["permalink"] == "/:year/:month/:day/:title.html"
    assert config["timezone"] == "Europe/Berlin"
    assert config["posts_per_page"] == 3
    assert config["author"] == "Ada Tester"
    assert config["build"] == {"broken_links": "warn"}  # the old site had a broken link
    names = sorted(p.name for p in (target / "posts").iterdir())
    assert names == [
        "2015-05-21-Javascript-Tips.md",  # .markdown renamed; the case of the title kept
        "2016-02-03-math-notes.md",
        "2017-07-04-draft-thoughts.md",
        "2018-01-01-link-check.md",
    ]
    front, body = front_and_body(target / "posts" / names[0])
    assert front == {
        "title": "Javascript Tips",
        "date": __import__("datetime").date(2015, 5, 21),
        "tags": ["javascript", "arrays"],
        "summary": "A few small habits for array code.",
        "aliases": ["/tips/"],  # jekyll-redirect-from's redirect_from
    }
    assert "## Search & Evaluation {#search--evaluation}" in body
    assert "## Reduce, don't loop {#reduce}" in body
    assert "```js\nconst doubled" in body and "\n```\n" in body
    assert "![A red dot](/blog/assets/img/dot.png)" in body
    assert "<!--more-->" in body and "<!-- cut -->" not in body
    assert "{:" not in body and "TOC" not in body
    # kramdown and this site's MathJax read one `$` as text: it stays text
    assert r"a \$total\$ that starts at $0" in body
    assert "~~~\n$ node tips.js $HOME\n~~~" in body  # indented code: a fence, `$` as is
    assert "\n\n    <p>Indented HTML inside a div is not code.</p>\n\n</div>" in body
    math_front, math = front_and_body(target / "posts" / names[1])
    assert math_front["permalink"] == "/ml/notes/2016/02/03/math-notes.html"
    assert math_front["tags"] == ["ML", "Notes"]
    assert "<script" not in math  # the MathJax loader: blogkeeper renders math itself
    assert r"\( L = \sum_i \ell(y_i, \hat{y}_i) \)" in math
    assert "\\[\n\\nabla L" in math
    assert "## Further reading {#further}" in math
    assert math.count("](/blog/2015/05/21/Javascript-Tips.html)") == 2
    assert "](/blog/2018/01/01/link-check.html)" in math
    assert "```liquid\n{{ page.title }} stays as written.\n```" in math
    draft, _ = front_and_body(target / "posts" / names[2])
    assert draft["draft"] is True and draft["permalink"] == "/notes/draft-thoughts/"
    assert draft["extra"] == {"subtitle": "Half-baked"}
    assert draft["summary"] == "Unfinished ideas about learning rates."
    assert (target / "static/assets/img/dot.png").read_bytes() == (
        FIXTURES / "jekyll/assets/img/dot.png"
    ).read_bytes()
    assert (target / "static/images/plot.png").is_file()
    assert "imported 4 posts (1 draft); 4 old URLs kept" in report


def test_jekyll_report_names_each_place_at_its_line(tmp_path: Path) -> None:
    target, report = imported(tmp_path, "jekyll")
    places = report_lines(report)
    expected = {
        ("posts/2018-01-01-link-check.md", "/blog/no/such/page/", "broken on the old site too"),
        ("posts/2018-01-01-link-check.md", "/blog/about/", "not a post, not imported"),
        ("posts/2018-01-01-link-check.md", "{% include aside.html %}", "not converted"),
        ("posts/2018-01-01-link-check.md", "The Talk Title", "broken on the old site too"),
        ("posts/2018-01-01-link-check.md", "control characters", "removed from 1 lines"),
        ("posts/2015-05-21-Javascript-Tips.md", "{:toc}", "no table of contents"),
        ("posts/2015-05-21-Javascript-Tips.md", "{: style=", "removed"),
        ("posts/2017-07-04-draft-thoughts.md", "subtitle", "kept in `extra`"),
    }
    for path, needle, what in expected:
        hits = [(line, text) for p, line, text in places if p == path and needle in text]
        assert hits and what in hits[0][1], (path, needle, report)
    lines = (target / "posts/2018-01-01-link-check.md").read_text(encoding="utf-8").split("\n")
    for path, line, text in places:
        if path.endswith("link-check.md") and "link to" in text:
            link = re.search(r"`([^`]+)`", text).group(1)  # type: ignore[union-attr]
            assert link in lines[line - 1]
    link_check = "\n".join(lines)
    assert "[jump to](#fn-aside)" in link_check
    assert (
        "\x1b" not in link_check and "\npassed\n" in link_check
    )  # kramdown's footnote id, blogkeeper's way
    assert "`{{ page.title }}`" in link_check and "{{ page.title }}` in code" in report
    assert "converted:" in report and re.search(r"\s3  \{% post_url %\} made a link", report)


def test_hugo_site_toml_and_posts(tmp_path: Path) -> None:
    target, report = imported(tmp_path, "hugo")
    config = tomllib.loads((target / "blog.toml").read_text(encoding="utf-8"))
    assert config["url"] == "https://hugo.example.net/"
    assert config["permalink"] == "/posts/:slug/"
    assert config["timezone"] == "America/New_York"
    assert config["posts_per_page"] == 4
    assert config["description"].startswith("Short field notes")
    first, body = front_and_body(target / "posts/first-light.md")
    assert first["aliases"] == ["/old/first-light/", "/posts/first-light-old/"]
    assert str(first["updated"]) == "2020-03-05"
    assert first["tags"] == ["optics", "Science"]
    assert "toc" not in first
    assert "## Step 1 -- setup {#step-1----setup}" in body
    assert '```python\nprint("light")\n```' in body
    assert "![A blue wave](/img/wave.png)\n\n*One wave*" in body
    assert "A *wrapped* note that keeps its Markdown." in body and "notice" not in body
    assert "<!-- hugo: {{< youtube abc123 >}} -->" in body
    assert "$$\na \\\\ b_1\n$$" in body and "$x_i$" in body
    second, body2 = front_and_body(target / "posts/second-note.md")
    assert second["slug"] == "note-two" and second["series"] == "Notes"
    assert second["tags"] == ["optics"]  # Hugo had one page for `Optics` and `optics`
    assert "tags `optics`, `Optics` had one page on the old site: all written `optics`" in report
    assert second["extra"] == {"mood": "curious"}
    assert "[first note](/posts/first-light/)" in body2
    assert "[its setup](/posts/first-light/#step-1----setup)" in body2
    json_front, _ = front_and_body(target / "posts/json-post.md")
    assert json_front["permalink"] == "/special/json-note/"
    assert json_front["summary"] == "Front matter in JSON."
    indented, _ = front_and_body(target / "posts/indented.md")
    assert indented["title"] == "Indented YAML" and indented["draft"] is True
    assert "image" not in first  # http:// is no social card: kept in extra, reported
    assert first["extra"] == {"image": "http://cards.example.com/light.png"}
    bundled_front, bundled = front_and_body(target / "posts/bundled-post.md")
    assert bundled_front["image"] == "diagram.png"  # relative to the post's page, as in Hugo
    # site-absolute: the intro is also shown on the front page, where `diagram.png` is not
    assert "![A grey diagram](/posts/bundled-post/diagram.png)" in bundled
    nested, _ = front_and_body(target / "posts/2019/nested.md")
    assert nested["permalink"] == "/posts/2019/nested/"  # Hugo keeps the section's folders
    assert (target / "static/posts/bundled-post/diagram.png").is_file()
    assert (target / "static/img/wave.png").is_file()
    places = report_lines(report)
    assert any("youtube" in text for p, _, text in places if p == "posts/first-light.md")
    assert any("/missing/page/" in t and "broken" in t for p, _, t in places)
    # a full URL on the site's own host is checked like a site path
    assert any("https://hugo.example.net/gone/" in t and "broken" in t for _, _, t in places)


def test_detection_and_refusals(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = run_here("import", plain, tmp_path / "out")
    assert result.code == 1 and "neither a Jekyll site" in result.err and "--from" in result.err
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine", encoding="utf-8")
    result = run_here("import", FIXTURES / "jekyll", full)
    assert result.code == 1 and "not empty" in result.err
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    result = run_here("import", FIXTURES / "jekyll", tmp_path / "forced", "--from", "hugo")
    assert result.code == 1 and "no content/ folder" in result.err
    assert "Traceback" not in result.err


# ---- the imported sites, built ---------------------------------------------------------


def built(tmp_path: Path, kind: str) -> tuple[Path, str]:
    target = tmp_path / f"site-{kind}"
    shutil.rmtree(target, ignore_errors=True)
    result = run_cli("import", FIXTURES / kind, target)
    assert result.code == 0, result.out + result.err
    out = tmp_path / f"public-{kind}"
    result = run_cli("build", "--site", target, "--out", out, "--now", NOW)
    assert result.code == 0, result.err
    return out, result.err


def pages(out: Path) -> dict[str, lxml.html.HtmlElement]:
    return {
        p.relative_to(out).as_posix(): lxml.html.parse(str(p)).getroot()
        for p in sorted(out.rglob("*.html"))
    }


def visible_text(page: lxml.html.HtmlElement) -> str:
    """The page's text outside code, scripts and comments: what must hold no old syntax."""
    copy = lxml.html.fromstring(lxml.html.tostring(page))
    for node in copy.xpath("//pre|//code|//script|//style|//comment()|//math"):
        node.drop_tree()
    return copy.text_content()


def check_site(out: Path, base: str, urls: list[str], aliases: dict[str, str]) -> None:
    html = pages(out)
    for path, page in html.items():
        text = visible_text(page)
        for syntax in ("{%", "{{", "{:", "{{<", "{{%"):
            assert syntax not in text, (path, syntax)
        for img in page.iter("img"):
            src = urlsplit(urljoin("https://x.test/" + base + path, img.get("src"))).path
            assert (out / unquote(src)[len(base) + 1 :]).is_file(), (path, img.get("src"))
    for url in urls:
        file = url[len(base) :] if url.startswith(base) else url
        file = file + "index.html" if file.endswith("/") else file
        assert file.lstrip("/") in html, url
    for old, new in aliases.items():
        page = html[old + "index.html"]
        refresh = page.xpath("//meta[@http-equiv='refresh']/@content")
        assert refresh and refresh[0].rstrip("'\"").endswith("/" + new), (old, refresh)
        assert page.xpath("//link[@rel='canonical']/@href")
    feed = feedparser.parse((out / "feed/rss.xml").read_bytes())
    assert feed.bozo == 0 and feed.entries
    llms = parse_llms_file((out / "llms.txt").read_text(encoding="utf-8"))
    assert llms["title"]


def test_imported_jekyll_site_builds_and_keeps_every_url(tmp_path: Path) -> None:
    out, warnings = built(tmp_path, "jekyll")
    aliases = {"tips/": "blog/2015/05/21/Javascript-Tips.html"}
    check_site(out, "blog/", [u[len("blog/") :] for u in JEKYLL_URLS], aliases)
    assert "posts/2018-01-01-link-check.md:" in warnings and "/no/such/page/" in warnings
    math = lxml.html.parse(str(out / "ml/notes/2016/02/03/math-notes.html")).getroot()
    assert len(math.xpath("//*[local-name()='math']")) >= 4
    assert "\\(" not in visible_text(math) and "$$" not in visible_text(math)
    tips = lxml.html.parse(str(out / "2015/05/21/Javascript-Tips.html")).getroot()
    assert tips.xpath("//h2[@id='search--evaluation']")


def test_imported_hugo_site_builds_and_keeps_every_url(tmp_path: Path) -> None:
    out, warnings = built(tmp_path, "hugo")
    check_site(out, "", HUGO_URLS, HUGO_ALIASES)
    assert "/missing/page/" in warnings
    first = lxml.html.parse(str(out / "posts/first-light/index.html")).getroot()
    assert first.xpath("//h2[@id='step-1----setup']")
    assert len(first.xpath("//*[local-name()='math']")) >= 3
    assert (out / "posts/bundled-post/diagram.png").is_file()


# ---- URL rules, one small site each ------------------------------------------------------

JEKYLL_POST = "---\ntitle: Tips\ndate: 2015-05-21 23:30:00 +0000\n{extra}---\nText.\n"
# permalink setting -> (blog.toml pattern, old URL of a post without categories, and with);
# Jekyll's :title turns the `_` of `My_Tips` into `-`
JEKYLL_STYLES = {
    "date": ("/:year/:month/:day/:title.html", "2015/05/21/My-Tips.html", "ml/2015/05/21/"),
    "pretty": ("/:year/:month/:day/:title/", "2015/05/21/My-Tips/", "ml/2015/05/21/"),
    "ordinal": ("/:year/:month/:day/:title.html", "2015/141/My-Tips.html", "ml/2015/141/"),
    "none": ("/:title.html", "My-Tips.html", "ml/"),
    "/blog/:year/:title": ("/blog/:year/:title.html", "blog/2015/My-Tips.html", "blog/2015/"),
}


def jekyll_site(root: Path, permalink: str, timezone: str = "UTC") -> Path:
    (root / "_posts").mkdir(parents=True)
    config = f"title: T\nurl: https://t.example\npermalink: {permalink}\ntimezone: {timezone}\n"
    (root / "_config.yml").write_text(config, encoding="utf-8")
    for name, extra in (
        ("2015-05-21-My_Tips.md", ""),
        ("2015-05-21-Cat_Tips.md", "categories: ML\n"),
    ):
        (root / "_posts" / name).write_text(JEKYLL_POST.format(extra=extra), encoding="utf-8")
    return root


@pytest.mark.parametrize("style", sorted(JEKYLL_STYLES))
def test_jekyll_permalink_styles(tmp_path: Path, style: str) -> None:
    pattern, plain, with_category = JEKYLL_STYLES[style]
    result = run_here("import", jekyll_site(tmp_path / "old", style), tmp_path / "new")
    assert "Traceback" not in result.err
    config = tomllib.loads((tmp_path / "new/blog.toml").read_text(encoding="utf-8"))
    assert config["permalink"] == pattern
    plain_front, _ = front_and_body(tmp_path / "new/posts/2015-05-21-My_Tips.md")
    cat_front, _ = front_and_body(tmp_path / "new/posts/2015-05-21-Cat_Tips.md")
    ending = plain.rsplit("My-Tips", 1)[1]
    if with_category.startswith("ml/"):  # no blogkeeper token gives a category: own URL
        assert cat_front["permalink"] == "/" + with_category + "Cat-Tips" + ending
    else:  # a pattern without :categories: the category stays out of the URL
        assert "permalink" not in cat_front and cat_front["slug"] == "Cat-Tips"
    if style == "ordinal":  # :y_day has no blogkeeper token
        assert plain_front["permalink"] == "/" + plain
    else:  # Jekyll's :title turns `_` into `-`; a slug says so, the pattern stays
        assert "permalink" not in plain_front
        assert plain_front["slug"] == "My-Tips"


def test_jekyll_dates_in_the_site_timezone(tmp_path: Path) -> None:
    """23:30 UTC on the 21st is the 22nd in Tokyo: Jekyll's URL says 22."""
    old = jekyll_site(tmp_path / "old", "pretty", "Asia/Tokyo")
    run_here("import", old, tmp_path / "new")
    front, _ = front_and_body(tmp_path / "new/posts/2015-05-21-Cat_Tips.md")
    assert front["permalink"] == "/ml/2015/05/22/Cat-Tips/"


def test_hugo_permalinks_setting(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "content/blog").mkdir(parents=True)
    (old / "config.yaml").write_text(
        'baseURL: "https://h.example/sub/"\ntitle: H\npermalinks:\n  blog: /:year/:month/:title/\n',
        encoding="utf-8",
    )
    page = '---\ntitle: "Why: A Study"\ndate: 2020-01-02\n---\nText.\n'
    (old / "content/blog/why.md").write_text(page, encoding="utf-8")
    run_here("import", old, tmp_path / "new")
    config = tomllib.loads((tmp_path / "new/blog.toml").read_text(encoding="utf-8"))
    assert config["url"] == "https://h.example/sub/"
    assert config["permalink"] == "/:year/:month/:slug/"
    front, _ = front_and_body(tmp_path / "new/posts/why.md")
    assert front["slug"] == "why-a-study"  # Hugo's :title is the urlized title


@pytest.mark.parametrize("style", sorted(JEKYLL_STYLES))
def test_jekyll_permalink_styles_built(tmp_path: Path, style: str) -> None:
    _, plain, with_category = JEKYLL_STYLES[style]
    result = run_cli("import", jekyll_site(tmp_path / "old", style), tmp_path / "new")
    assert result.code == 0, result.err
    out = tmp_path / "out"
    assert run_cli("build", "--site", tmp_path / "new", "--out", out, "--now", NOW).code == 0
    ending = plain.rsplit("My-Tips", 1)[1]
    for url in (plain, with_category + "Cat-Tips" + ending):
        assert (out / (url + "index.html" if url.endswith("/") else url)).is_file(), url


# ---- kramdown's inline $$ -------------------------------------------------------------

DOLLARS_POST = """---
title: Loss
date: 2020-01-02
---
The loss $$L = x^2$$ is small
and $$y$$ too, but `$$c$$` is code.

$$E = mc^2$$

- an item with $$a_i$$ in it
- $$b$$

```
$$f$$ in a fence
```
"""


def math_of(page: lxml.html.HtmlElement) -> list[tuple[str, str]]:
    """Each formula's TeX and display ("inline" or "block"), in page order."""
    return [
        (m.get("alttext"), m.get("display"))
        for m in page.xpath("//article//*[local-name()='math']")
    ]


@pytest.mark.parametrize(
    ("markdown", "inline"), [("", True), ("markdown: kramdown\n", True), ("markdown: GFM\n", False)]
)
def test_kramdown_inline_double_dollars_become_inline_math(
    tmp_path: Path, markdown: str, inline: bool
) -> None:
    old = tmp_path / "old"
    (old / "_posts").mkdir(parents=True)
    (old / "_config.yml").write_text(f"title: T\nurl: https://t.example\n{markdown}")
    (old / "_posts/2020-01-02-loss.md").write_text(DOLLARS_POST, encoding="utf-8")
    result = run_here("import", old, tmp_path / "new")
    assert result.code == 0, result.out + result.err
    _, body = front_and_body(tmp_path / "new/posts/2020-01-02-loss.md")
    assert "`$$c$$`" in body and "$$f$$ in a fence" in body and "\n$$E = mc^2$$\n" in body
    counted = re.search(r"^ +(\d+)  kramdown inline \$\$ made", result.out, re.MULTILINE)
    assert (counted[1] if counted else None) == ("3" if inline else None)
    out = tmp_path / "out"
    result = run_here("build", "--site", tmp_path / "new", "--out", out, "--now", NOW)
    assert result.code == 0, result.err
    page = lxml.html.parse(str(out / "2020/01/02/loss.html")).getroot()
    shown = "inline" if inline else "block"
    assert math_of(page) == [
        ("L = x^2", shown),
        ("y", shown),
        ("E = mc^2", "block"),
        ("a_i", shown),
        ("b", "block"),
    ]


def test_hugo_double_dollars_stay_display_math(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "content/posts").mkdir(parents=True)
    (old / "hugo.toml").write_text('baseURL = "https://h.example/"\ntitle = "H"\n')
    (old / "content/posts/loss.md").write_text(DOLLARS_POST, encoding="utf-8")
    result = run_here("import", old, tmp_path / "new")
    assert result.code == 0, result.out + result.err
    _, body = front_and_body(tmp_path / "new/posts/loss.md")
    assert "The loss $$L = x^2$$ is small\nand $$y$$ too" in body
    assert "kramdown inline" not in result.out


HIGHLIGHT_HOLDING_A_FENCE = """{open}
A fence in Markdown:
```python
print(1)
```
{close}

After the block.
"""


@pytest.mark.parametrize("kind", ["jekyll", "hugo"])
def test_a_highlighted_block_that_shows_a_fence_stays_one_code_block(
    tmp_path: Path, kind: str
) -> None:
    old = tmp_path / "old"
    if kind == "jekyll":
        (old / "_posts").mkdir(parents=True)
        (old / "_config.yml").write_text("title: T\nurl: https://t.example\n")
        post = old / "_posts/2020-01-02-fence.md"
        opening, closing = "{% highlight markdown %}", "{% endhighlight %}"
    else:
        (old / "content/posts").mkdir(parents=True)
        (old / "hugo.toml").write_text('baseURL = "https://h.example/"\ntitle = "H"\n')
        post = old / "content/posts/fence.md"
        opening, closing = "{{< highlight markdown >}}", "{{< /highlight >}}"
    body = HIGHLIGHT_HOLDING_A_FENCE.format(open=opening, close=closing)
    post.write_text(f"---\ntitle: Fence\ndate: 2020-01-02\n---\n{body}", encoding="utf-8")
    result = run_here("import", old, tmp_path / "new", "--from", kind)
    assert result.code == 0, result.out + result.err
    built = run_here("build", "--site", tmp_path / "new")
    assert built.code == 0, built.out + built.err
    public = tmp_path / "new/public"
    (page,) = [p for p in public.rglob("*.html") if "fence" in p.relative_to(public).as_posix()]
    tree = lxml.html.parse(str(page)).getroot()
    (code,) = tree.xpath("//article//pre")
    assert "```python" in code.text_content() and "print(1)" in code.text_content()
    assert "After the block." not in code.text_content()


# ---- what importing real blogs found ---------------------------------------------------

HUGO_TOML = 'baseURL = "https://h.example/"\ntitle = "H"\n'
JEKYLL_YML = "title: J\nurl: https://j.example\ntimezone: UTC\n"


def imported_from(tmp_path: Path, files: dict[str, str | bytes]) -> tuple[Path, Result]:
    """`blogkeeper import` of an old site made of `files` into tmp_path/new."""
    write_files(tmp_path / "old", files)
    return tmp_path / "new", run_here("import", tmp_path / "old", tmp_path / "new")


def built_page(site: Path, name: str, tmp_path: Path) -> lxml.html.HtmlElement:
    """The built page whose path holds `name`."""
    out = tmp_path / "public"
    result = run_here("build", "--site", site, "--out", out, "--now", NOW)
    assert result.code == 0, result.err
    (page,) = [p for p in out.rglob("*.html") if name in p.relative_to(out).as_posix()]
    return lxml.html.parse(str(page)).getroot()


def test_a_footnote_definition_is_not_a_link(tmp_path: Path) -> None:
    body = "I had[^1] a point.\n\n[^1]: had\n\n[ref]: /nowhere/\n\nSee [it][ref].\n"
    _, result = imported_from(
        tmp_path, {"_config.yml": JEKYLL_YML, "_posts/2020-01-01-fn.md": f"---\n---\n{body}"}
    )
    assert result.code == 0, result.err
    assert "link to `had`" not in result.out and "link to `/nowhere/`" in result.out


def test_an_alias_that_is_the_post_s_own_url_is_dropped(tmp_path: Path) -> None:
    """Hugo sites list it (the spelling before Hugo lowercased URLs); blogkeeper refuses
    a redirect onto its own page, and one that differs from it only in case."""
    front = '+++\ntitle = "{}"\ndate = "2020-01-0{}"\naliases = ["{}", "/old/{}"]\n+++\nHi.\n'
    new, result = imported_from(
        tmp_path,
        {
            "hugo.toml": HUGO_TOML,
            "content/post/a.md": front.format("A", 1, "/post/a", "a"),
            "content/post/My-Post.md": front.format("B", 2, "/post/My-Post", "b"),
        },
    )
    assert result.code == 0, result.err
    assert front_and_body(new / "posts/a.md")[0]["aliases"] == ["/old/a/"]
    assert front_and_body(new / "posts/My-Post.md")[0]["aliases"] == ["/old/b/"]
    assert "1  alias that is the post's own URL dropped" in result.out
    assert "alias /post/My-Post/ dropped: it differs from the post's URL only in case" in result.out
    assert "4 old URLs kept" in result.out


def test_a_jekyll_site_needs_no_config_file(tmp_path: Path) -> None:
    new, result = imported_from(tmp_path, {"_posts/2008-10-20-hi.md": "---\n---\nHi.\n"})
    assert result.code == 0, result.err
    assert "no `url` in _config.yml: https://example.org/ written" in result.out
    assert front_and_body(new / "posts/2008-10-20-hi.md")[0]["title"] == "Hi"


def test_hugo_s_config_folder_is_read(tmp_path: Path) -> None:
    new, result = imported_from(
        tmp_path,
        {
            "config/_default/hugo.yaml": "title: T\ntimeZone: Europe/Amsterdam\n"
            "permalinks:\n  posts: /posts/:slug/\n",
            "config/_default/params.toml": 'description = "From params.toml"\n',
            "config/production/hugo.toml": 'baseURL = "https://prod.example/"\n',
            "content/posts/2026-01-08-my-bundle/index.md": '---\ntitle: "Grafana: The Stack"\n'
            "date: 2026-01-08\n---\nHi.\n",
        },
    )
    assert result.code == 0, result.err
    config = tomllib.loads((new / "blog.toml").read_text())
    assert config["url"] == "https://prod.example/" and config["timezone"] == "Europe/Amsterdam"
    assert config["description"] == "From params.toml"
    assert config["permalink"] == "/posts/:slug/"
    built_page(new, "posts/grafana-the-stack", tmp_path)  # Hugo's :slug falls back to the title


def test_a_math_switch_in_the_config_leaves_dollars_to_the_posts(tmp_path: Path) -> None:
    """`[params] mathjax = true` turns on a theme's set-up, which may read `$`: the theme
    is not in the source, so the posts decide."""
    new, result = imported_from(
        tmp_path,
        {
            "config.toml": HUGO_TOML + "[params]\nmathjax = true\n",
            "content/posts/m.md": "---\ntitle: M\ndate: 2020-01-01\n---\n"
            "Let $n$ be the size and $x^2 + y^2 = z^2$.\n",
        },
    )
    assert result.code == 0, result.err
    assert "`$...$` read as math, as 2 of 2 look like math" in result.out
    page = built_page(new, "posts/m", tmp_path)
    assert math_of(page) == [("n", "inline"), ("x^2 + y^2 = z^2", "inline")]


def test_math_shortcodes_become_math(tmp_path: Path) -> None:
    body = (
        "{{< katex display >}}\nF = \\frac{G m_1 m_2}{r^2}\n{{< /katex >}}\n\n"
        "where {{< katex >}}m_1{{< /katex >}} and {{< katex >}}m_2{{< /katex >}} are masses.\n"
    )
    new, result = imported_from(
        tmp_path,
        {
            "hugo.toml": HUGO_TOML,
            "content/posts/k.md": f"---\ntitle: K\ndate: 2020-01-01\n---\n{body}",
        },
    )
    assert result.code == 0, result.err
    assert "3  math shortcode made math" in result.out
    page = built_page(new, "posts/k", tmp_path)
    assert math_of(page) == [
        ("F = \\frac{G m_1 m_2}{r^2}", "block"),
        ("m_1", "inline"),
        ("m_2", "inline"),
    ]


def test_a_card_image_is_found_from_the_site_root(tmp_path: Path) -> None:
    """Hugo's `images` (and jekyll-seo-tag's `image`) read `img/card.png` from the site
    root; a page bundle's own file first."""
    post = "---\ntitle: {}\ndate: 2020-01-01\nimages: {}\n---\nHi.\n"
    new, result = imported_from(
        tmp_path,
        {
            "hugo.toml": HUGO_TOML,
            "static/img/card.png": b"\x89PNG\r\n\x1a\n",
            "content/posts/p.md": post.format("P", '["img/card.png"]'),
            "content/posts/b/index.md": post.format("B", "own.png"),
            "content/posts/b/own.png": b"\x89PNG\r\n\x1a\n",
        },
    )
    assert result.code == 0, result.err
    assert front_and_body(new / "posts/p.md")[0]["image"] == "/img/card.png"
    assert front_and_body(new / "posts/b.md")[0]["image"] == "own.png"
    assert (new / "static/img/card.png").is_file() and (new / "static/posts/b/own.png").is_file()


def test_links_the_build_finds_broken_are_warned_about(tmp_path: Path) -> None:
    """The import's own look at links misses some (a template leftover, a link inside a
    link): the build's verdict writes `broken_links = "warn"`, and the site builds."""
    body = "![pic]({{ site.url }}/assets/a.png) and [**x**]([B](https://b.example/), [N]http://c.example/p)\n"
    new, result = imported_from(
        tmp_path,
        {
            "hugo.toml": HUGO_TOML,
            "content/posts/l.md": f"---\ntitle: L\ndate: 2020-01-01\n---\n{body}",
        },
    )
    assert result.code == 0, result.err
    assert 'blog.toml: [build] broken_links = "warn" written: the build found 2 more' in result.out
    assert "link to `{{ site.url }}/assets/a.png`: no such page" in result.err
    assert tomllib.loads((new / "blog.toml").read_text())["build"]["broken_links"] == "warn"


def test_hugo_translations_are_left_out_and_reported(tmp_path: Path) -> None:
    config = (
        "baseURL: https://h.example/\ndefaultContentLanguage: en\nlanguages:\n"
        "  en:\n    title: English Blog\n  fr:\n    title: Le blog\n"
    )
    post = "---\ntitle: {}\ndate: 2020-01-01\n---\n{}\n"
    new, result = imported_from(
        tmp_path,
        {
            "hugo.yaml": config,
            "content/post/hello.md": post.format("Hello", "[En français](/fr/post/hello/)"),
            "content/post/hello.fr.md": post.format("Bonjour", "Salut."),
        },
    )
    assert result.code == 0, result.err
    assert [p.name for p in (new / "posts").iterdir()] == ["hello.md"]
    assert tomllib.loads((new / "blog.toml").read_text())["title"] == "English Blog"
    assert "translations not imported (1 in `fr`): a blogkeeper blog has one language" in result.out
    assert "link to `/fr/post/hello/`: a page of the old site that is not a post" in result.out


def test_jekyll_s_exclude_and_a_url_no_blogkeeper_url_can_be(tmp_path: Path) -> None:
    new, result = imported_from(
        tmp_path,
        {
            "_config.yml": JEKYLL_YML + "exclude:\n  - /docs\n",
            "_posts/2020-01-01-hello.md": "---\ncategories: [Post Formats]\n---\nHi.\n",
            "docs/_posts/2020-01-02-demo.md": "---\n---\nA theme's demo post.\n",
        },
    )
    assert result.code == 0, result.err
    assert [p.name for p in (new / "posts").iterdir()] == ["2020-01-01-hello.md"]
    assert "1 posts not imported: `exclude` leaves them out of the old site" in result.out
    assert "the old URL /post formats/2020/01/01/hello.html holds what no" in result.out
    assert "0 old URLs kept" in result.out
    front, _ = front_and_body(new / "posts/2020-01-01-hello.md")
    assert front["permalink"] == "/post-formats/2020/01/01/hello.html"


def test_jekyll_publishes_a_post_whose_front_matter_is_not_yaml(tmp_path: Path) -> None:
    """As Jekyll did: with no front matter (the title from the file name), the old one
    kept in a comment."""
    bad = '---\ntitle: "[H2] Database "~" not found"\n---\nBody text.\n'
    new, result = imported_from(
        tmp_path, {"_config.yml": JEKYLL_YML, "_posts/2020-03-04-db-not-found.md": bad}
    )
    assert result.code == 0, result.err
    assert (
        "front matter is not valid YAML (expected <block end>, but found '<scalar>' at line 2)"
        in result.out
    )
    front, body = front_and_body(new / "posts/2020-03-04-db-not-found.md")
    assert front["title"] == "Db Not Found"
    assert (
        '<!-- front matter that was not valid YAML:\ntitle: "[H2] Database "~" not found"\n-->'
        in body
    )
    assert "Body text." in built_page(new, "db-not-found", tmp_path).text_content()


def test_an_updated_before_the_date_is_dropped(tmp_path: Path) -> None:
    """blogkeeper refuses it; a Hugo `lastmod` set by hand can be."""
    post = "---\ntitle: {}\ndate: 2026-01-05\nlastmod: {}\n---\nHi.\n"
    new, result = imported_from(
        tmp_path,
        {
            "hugo.toml": HUGO_TOML,
            "content/posts/u.md": post.format("U", "2025-01-01"),
            "content/posts/v.md": post.format("V", "2026-02-01"),
        },
    )
    assert result.code == 0, result.err
    assert "1  updated before date dropped" in result.out
    assert "updated" not in front_and_body(new / "posts/u.md")[0]
    assert front_and_body(new / "posts/v.md")[0]["updated"] == dt.date(2026, 2, 1)


def test_site_url_in_text_is_the_sites_address_and_in_a_link_a_path(tmp_path: Path) -> None:
    body = "Visit {{ site.url }} for more, or [the first post]({{ site.url }}/2020/01/01/a.html).\n"
    new, result = imported_from(
        tmp_path,
        {
            "_config.yml": JEKYLL_YML,
            "_posts/2020-01-01-a.md": "---\n---\nFirst.\n",
            "_posts/2020-01-02-b.md": f"---\n---\n{body}",
        },
    )
    assert result.code == 0, result.err
    _, written = front_and_body(new / "posts/2020-01-02-b.md")
    assert "Visit https://j.example for more, or [the first post](/2020/01/01/a.html)." in written
