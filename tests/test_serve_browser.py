"""Live reload in a real headless Chromium (Debian's, driven by Playwright for Python).

Open tabs must follow edits with no manual reload: new text, an error overlay naming file
and line while the site does not build, the overlay gone after the fix, and a template
change reaching every open tab.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BLOG_TOML, chromium, post
from live_server import LiveServer, live_server
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

POST = "posts/attention.md"
POST_URL = "2026/03/attention/"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "posts").mkdir(parents=True)
    (root / "blog.toml").write_text(BLOG_TOML)
    (root / POST).write_text(post("Attention", "2026-03-14", "Queries meet keys.\n"))
    (root / "posts/other.md").write_text(post("Other", "2026-02-01", "Another post.\n"))
    # A strict policy, as a careful author would set for their host: reloads must still work.
    (root / "static").mkdir()
    (root / "static/_headers").write_text("/*\n  Content-Security-Policy: default-src 'self'\n")
    return root


@pytest.fixture
def server(site: Path) -> Iterator[LiveServer]:
    with live_server(site) as running:
        yield running


def open_tab(browser: Browser, url: str) -> Page:
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("document.readyState === 'complete'")
    return page


def test_edit_reloads_the_open_tab(browser: Browser, server: LiveServer, site: Path) -> None:
    page = open_tab(browser, server.url + POST_URL)
    policy = page.request.get(server.url + POST_URL).headers["content-security-policy"]
    assert policy == "default-src 'self'"
    body = page.locator(".post-body")
    expect(body).to_contain_text("Queries meet keys.")
    (site / POST).write_text(post("Attention", "2026-03-14", "Keys answer queries.\n"))
    expect(body).to_contain_text("Keys answer queries.", timeout=WAIT_MS)
    page.close()


def test_errors_show_in_the_tab_and_go_when_fixed(
    browser: Browser, server: LiveServer, site: Path
) -> None:
    page = open_tab(browser, server.url + POST_URL)
    broken = post("Attention", "2026-03-14", "Queries meet keys.\n").replace(
        "date: 2026-03-14", "date: 2026-02-30"
    )
    (site / POST).write_text(broken)
    overlay = page.locator("#blogkeeper-errors")
    expect(overlay).to_be_visible(timeout=WAIT_MS)
    expect(overlay).to_contain_text(f"{POST}:3:")
    expect(page.locator(".post-body")).to_contain_text("Queries meet keys.")  # last good build
    (site / POST).write_text(post("Attention", "2026-03-14", "Fixed and saved.\n"))
    expect(page.locator(".post-body")).to_contain_text("Fixed and saved.", timeout=WAIT_MS)
    expect(overlay).to_have_count(0)
    page.close()


def test_template_change_updates_every_tab(
    browser: Browser, server: LiveServer, site: Path
) -> None:
    tabs = [open_tab(browser, server.url + POST_URL), open_tab(browser, server.url)]
    (site / "templates").mkdir()
    builtin = Path(__file__).parent.parent / "blogkeeper/templates/base.html"
    marker = '<p class="marker">Edited template</p>'
    (site / "templates/base.html").write_text(
        builtin.read_text().replace("</footer>", marker + "</footer>")
    )
    for tab in tabs:
        expect(tab.locator(".marker")).to_have_text("Edited template", timeout=WAIT_MS)
        tab.close()


def test_many_tabs_share_one_event_stream(browser: Browser, server: LiveServer, site: Path) -> None:
    """Browsers allow six connections per host: a stream per tab would freeze the seventh."""
    context = browser.new_context()
    tabs = []
    for _ in range(9):
        tab = context.new_page()
        tab.goto(server.url + POST_URL, timeout=WAIT_MS)
        tabs.append(tab)
    (site / POST).write_text(post("Attention", "2026-03-14", "Every tab follows.\n"))
    for tab in tabs:
        expect(tab.locator(".post-body")).to_contain_text("Every tab follows.", timeout=WAIT_MS)
    fresh = context.new_page()  # and a tab opened now still loads at once
    fresh.goto(server.url, timeout=5_000)
    context.close()


def test_a_site_that_never_built_shows_its_newest_errors_then_the_site(
    browser: Browser, site: Path
) -> None:
    """Until a build succeeds there is no last good build to show: the page lists the
    errors of the newest save (no overlay claiming a last good build), then reloads to
    the site once it builds."""
    bad = post("Attention", "2026-03-14", "Queries meet keys.\n")
    (site / POST).write_text(bad.replace("date: 2026-03-14", "date: 2026-02-30"))
    with live_server(site) as server:
        page = open_tab(browser, server.url + POST_URL)
        errors = page.locator("#blogkeeper-first-errors")
        expect(errors).to_contain_text(f"{POST}:3: invalid value for `date`")
        (site / POST).write_text(bad.replace('title: "Attention"', 'tittle: "Attention"'))
        expect(errors).to_contain_text("unknown front-matter key `tittle`", timeout=WAIT_MS)
        expect(errors).not_to_contain_text("invalid value for `date`")
        expect(page.locator("#blogkeeper-errors")).to_have_count(0)
        (site / POST).write_text(bad)
        expect(page.locator(".post-body")).to_contain_text("Queries meet keys.", timeout=WAIT_MS)
        page.close()
