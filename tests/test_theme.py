"""The default theme: accessible markup, code colours with contrast, and a real browser's view.

The browser tests build the sample blog, serve it from a local http.server thread and drive
Debian's headless Chromium through Playwright; screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, build, chromium, copy_sample
from lxml import html
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError
from pygments.styles import get_style_by_name

from blogkeeper.config import HighlightConfig
from blogkeeper.render import render_markdown

SHOTS = REPO / "artifacts" / "screenshots"
FRONT = "/"
SERIES_POST = "/2026/03/trainable-self-attention/"
WIDTHS = {"phone": 375, "desktop": 1280}


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("theme")
    out = folder / "public"
    result = build(copy_sample(folder / "site"), "--out", out)
    assert result.code == 0, result.err
    return out


def _page(public: Path, path: str) -> html.HtmlElement:
    return html.parse(str(public / path.strip("/") / "index.html")).getroot()


# --- markup ---------------------------------------------------------------------------


def test_no_page_carries_javascript(public: Path) -> None:
    pages = sorted(public.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        root = html.parse(str(page)).getroot()
        # JSON-LD is data, not a program: a browser never runs it.
        assert not root.xpath("//script[not(@type='application/ld+json')]"), page
        assert not root.xpath("//@*[starts-with(name(), 'on')]"), page


def test_series_box_says_the_posts_own_part_number(public: Path) -> None:
    root = _page(public, SERIES_POST)
    box = root.xpath("//aside[@class='series-box']")[0]
    assert " ".join(box.text_content().split()) == "Part 8 of the series LLM from scratch."
    assert box.xpath(".//a/@href") == ["/series/llm-from-scratch/"]
    nav = root.xpath("//nav[@class='series-nav']")[0]
    assert nav.xpath("./a/@rel") == ["next"]  # part 8 opens the series here
    last = _page(public, "/2026/05/multi-head-attention/")
    assert "Part 12 of the series" in last.xpath("//aside[@class='series-box']")[0].text_content()
    assert last.xpath("//nav[@class='series-nav']/a/@rel") == ["prev"]


def test_footer_links_the_feeds_and_llms_txt(public: Path) -> None:
    links = _page(public, FRONT).xpath("//footer//a/@href")
    assert {"/feed/rss.xml", "/feed/atom.xml", "/llms.txt"} <= set(links)


def test_task_list_checkboxes_are_labelled_by_their_text() -> None:
    body = "- [x] ran *every* block\n- [ ] wrote\n  it up\n    - [x] nested\n"
    root = html.fromstring(render_markdown(body, None, "t.md", 1).html)
    labels = root.xpath("//li[@class='task-list-item']/label")
    assert [" ".join(label.text_content().split()) for label in labels] == [
        "ran every block",
        "wrote it up",
        "nested",
    ]
    assert all(label.xpath("./input[@type='checkbox']") for label in labels)


def _luminance(colour: str) -> float:
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("name", [HighlightConfig().light, HighlightConfig().dark])
def test_code_colours_meet_wcag_aa_on_their_background(name: str) -> None:
    style = get_style_by_name(name)
    low = []
    for token, spec in style:
        if not spec["color"] or "Whitespace" in str(token):
            continue  # whitespace shows no glyphs
        background = f"#{spec['bgcolor']}" if spec["bgcolor"] else style.background_color
        ratio = _contrast(f"#{spec['color']}", background)
        if ratio < 4.5:
            low.append((str(token), spec["color"], round(ratio, 2)))
    assert not low, low
    assert _contrast("#808080", "#ffffff") < 4.5  # the check itself can fail


# --- a real browser ---------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(public: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(public))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _open(browser: Browser, url: str, width: int, scheme: str) -> Page:
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        color_scheme="dark" if scheme == "dark" else "light",
    )
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.emulate_media(color_scheme="dark" if scheme == "dark" else "light")
    return page


PAGE_WIDTH = "[document.documentElement.scrollWidth, window.innerWidth]"
SCROLLERS = """() => [...document.querySelectorAll('pre, .math-display, table')]
    .filter(e => e.scrollWidth > e.clientWidth)
    .map(e => [e.tagName, getComputedStyle(e).overflowX, e.getBoundingClientRect().right])"""


def _screenshot(page: Page, path: Path) -> None:
    """A picture for people to look at (artifacts/, not compared): on a loaded machine
    Chromium sometimes cannot capture a full page at once; one more try, then none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except PlaywrightError:
            page.wait_for_timeout(500)


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name,path", [("front", FRONT), ("series-post", SERIES_POST)])
def test_page_fits_the_screen(
    browser: Browser, server: str, name: str, path: str, width: str, scheme: str
) -> None:
    page = _open(browser, server + path, WIDTHS[width], scheme)
    _screenshot(page, SHOTS / f"{name}-{width}-{scheme}.png")
    scroll_width, inner_width = page.evaluate(PAGE_WIDTH)
    assert scroll_width <= inner_width
    for tag, overflow, right in page.evaluate(SCROLLERS):
        # Anything too wide scrolls inside itself and stays within the window.
        assert overflow in ("auto", "scroll"), tag
        assert right <= inner_width + 1, tag
    page.context.close()


@pytest.mark.browser
def test_code_scrolls_inside_its_block_on_a_phone(browser: Browser, server: str) -> None:
    page = _open(browser, server + SERIES_POST, WIDTHS["phone"], "light")
    scrollers = page.evaluate(SCROLLERS)
    assert [tag for tag, _, _ in scrollers].count("PRE") >= 3
    page.context.close()


COLOURS = """() => {
  const bg = s => getComputedStyle(document.querySelector(s)).backgroundColor;
  return {body: bg('body'), code: bg('.highlight'), output: bg('pre.output')};
}"""


@pytest.mark.browser
def test_dark_mode_changes_the_colours(browser: Browser, server: str) -> None:
    seen = {}
    for scheme in ("light", "dark"):
        page = _open(browser, server + SERIES_POST, WIDTHS["desktop"], scheme)
        seen[scheme] = page.evaluate(COLOURS)
        page.context.close()
    light, dark = seen["light"], seen["dark"]
    assert light["body"] != dark["body"]
    assert light["code"] != dark["code"]
    assert _rgb_luminance(dark["body"]) < 0.05 < 0.8 < _rgb_luminance(light["body"])
    for colours in (light, dark):
        assert colours["output"] != colours["code"]  # output looks unlike code


def _rgb_luminance(css: str) -> float:
    red, green, blue = (int(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return _luminance(f"#{red:02x}{green:02x}{blue:02x}")


@pytest.mark.browser
def test_skip_link_is_the_first_stop_and_shows_when_focused(browser: Browser, server: str) -> None:
    page = _open(browser, server + SERIES_POST, WIDTHS["phone"], "light")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => { const e = document.activeElement, r = e.getBoundingClientRect();
        return [e.textContent, r.top >= 0 && r.left >= 0 && r.width > 0,
                getComputedStyle(e).outlineStyle]; }"""
    )
    assert focused == ["Skip to content", True, "solid"]
    page.context.close()


@pytest.mark.browser
def test_print_shows_the_post_without_site_chrome(browser: Browser, server: str) -> None:
    page = _open(browser, server + SERIES_POST, WIDTHS["desktop"], "dark")
    page.emulate_media(media="print", color_scheme="dark")
    shown = page.evaluate(
        """() => ({
        nav: getComputedStyle(document.querySelector('.site-header nav')).display,
        footer: getComputedStyle(document.querySelector('.site-footer')).display,
        pre: getComputedStyle(document.querySelector('.highlight pre')).whiteSpace,
        body: getComputedStyle(document.body).backgroundColor })"""
    )
    white = "rgb(255, 255, 255)"
    assert shown == {"nav": "none", "footer": "none", "pre": "pre-wrap", "body": white}
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(SHOTS / "series-post-print.pdf"), format="A4")
    page.context.close()
