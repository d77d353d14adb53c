"""blog.toml: a closed, typed schema with defaults, hints and line numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BLOG_TOML, Result

from blogkeeper.config import load_config
from blogkeeper.errors import BuildError

MakeSite = Callable[..., Path]
BrokenBuild = Callable[[dict[str, str | bytes], str], Result]


def test_defaults_and_normalised_url(make_site: MakeSite) -> None:
    root = make_site({}, config='title = "T"\nurl = "https://example.org/blog"\n')
    config = load_config(root)
    assert config.url == "https://example.org/blog/"
    assert config.base_path == "/blog/"
    assert config.absolute("/2026/01/x/") == "https://example.org/blog/2026/01/x/"
    assert (config.language, config.timezone, config.posts_per_page) == ("en", "UTC", 10)
    assert config.feed.full_text and config.feed.items == 20
    assert config.llms.enabled and config.check_code.series == ()


def test_sections_are_read(make_site: MakeSite) -> None:
    text = BLOG_TOML + '\n[check_code]\nseries = ["LLM from scratch"]\ntimeout = 5\n'
    config = load_config(make_site({}, config=text))
    assert config.check_code.series == ("LLM from scratch",)
    assert config.check_code.timeout == 5.0


def test_unknown_key_with_a_hint(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"blog.toml": BLOG_TOML + 'titel = "x"\n'}, "blog.toml:6: unknown key `titel`"
    )
    assert "did you mean `title`?" in result.err


def test_unknown_key_in_a_section_with_a_hint(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"blog.toml": BLOG_TOML + "[feed]\nitmes = 5\n"}, "blog.toml:7: unknown key `feed.itmes`"
    )
    assert "did you mean `items`?" in result.err


def test_wrong_type(broken_build: BrokenBuild) -> None:
    broken_build(
        {"blog.toml": BLOG_TOML + 'posts_per_page = "ten"\n'},
        "blog.toml:6: `posts_per_page` must be a whole number, 1 or more, not 'ten'",
    )


def test_a_section_key_is_found_in_its_section(make_site: MakeSite) -> None:
    text = BLOG_TOML + "posts_per_page = 3\n[feed]\ntitle = 1\nitems = 0\n"
    with pytest.raises(BuildError) as caught:
        load_config(make_site({}, config=text))
    assert [str(e) for e in caught.value.errors] == [
        "blog.toml:8: unknown key `feed.title` (did you mean `items`?)",
        "blog.toml:9: `feed.items` must be a whole number, 1 or more, not 0",
    ]


def test_toml_syntax_error(broken_build: BrokenBuild) -> None:
    broken_build({"blog.toml": BLOG_TOML + "oops = \n"}, "blog.toml:6: invalid TOML")


def test_unknown_timezone(broken_build: BrokenBuild) -> None:
    result = broken_build(
        {"blog.toml": BLOG_TOML.replace('"UTC"', '"Mars/Olympus"')}, "blog.toml:5:"
    )
    assert "Mars/Olympus" in result.err


def test_relative_url(broken_build: BrokenBuild) -> None:
    broken_build(
        {"blog.toml": BLOG_TOML.replace("https://blog.example.org/", "/blog/")}, "blog.toml:2:"
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://blog.example.org/a/../b/", "must not contain `..` or `.` segments"),
        ("https://blog.example.org/..", "must not contain `..` or `.` segments"),
        ("https://blog..example.org/", "must not contain `..` or `.` segments"),
        ("https://blog.example.org/my blog/", "must not contain spaces"),
        ("https://blog.example.org /", "must not contain spaces"),
        ("https://blog.example.org/?a=1", "must not have a `?query`"),
        ("https://e.org:99999/", "must have a port from 0 to 65535"),
        ("https://user:pw@e.org/", "must not hold a user name or password"),
    ],
)
def test_a_base_url_with_dots_or_spaces_is_an_error(
    broken_build: BrokenBuild, url: str, problem: str
) -> None:
    toml = BLOG_TOML.replace("https://blog.example.org/", url)
    result = broken_build({"blog.toml": toml}, f"blog.toml:2: `url` {problem}")
    assert "1 error" in result.err


def test_a_control_character_in_blog_toml_is_an_error(broken_build: BrokenBuild) -> None:
    toml = BLOG_TOML.replace('description = "A blog for tests."', 'description = "A\\u000bB"')
    broken_build({"blog.toml": toml}, "blog.toml:3: `description` holds control character U+000B")


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        (BLOG_TOML.replace('"Test blog"', '" "'), "blog.toml:1: `title` is empty"),
        (
            BLOG_TOML + 'language = "english please"\n',
            "blog.toml:6: `language` must be a language tag, not 'english please'",
        ),
    ],
)
def test_a_title_or_language_no_page_can_show_is_an_error(
    broken_build: BrokenBuild, toml: str, where: str
) -> None:
    broken_build({"blog.toml": toml}, where)


def test_missing_title(broken_build: BrokenBuild) -> None:
    broken_build({"blog.toml": 'url = "https://e.org/"\n'}, "blog.toml: `title` is required")


@pytest.mark.parametrize(
    "text",
    [
        'title = "T"\nurl = "https://e.org/"\nfeed = 3\n',
        'title = "T"\nurl = "https://e.org/"\n[check_code]\ntags = [1]\n',
    ],
)
def test_bad_sections(make_site: MakeSite, text: str) -> None:
    with pytest.raises(BuildError) as caught:
        load_config(make_site({}, config=text))
    assert all(e.path == "blog.toml" and e.line for e in caught.value.errors)


def test_every_config_error_is_reported_together(make_site: MakeSite) -> None:
    text = BLOG_TOML + 'titel = "x"\nposts_per_page = 0\n[llms]\nenabbled = true\n'
    with pytest.raises(BuildError) as caught:
        load_config(make_site({}, config=text))
    assert [e.line for e in caught.value.errors] == [6, 7, 9]


def test_missing_blog_toml(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        load_config(tmp_path)
    [error] = caught.value.errors
    assert error.path == "blog.toml"
    assert "blogkeeper init" in str(error)


def test_a_pygments_style_that_does_not_exist_is_an_error(broken_build: BrokenBuild) -> None:
    broken_build(
        {"blog.toml": BLOG_TOML + '[highlight]\nlight = "monokay"\n'},
        "blog.toml:7: `highlight.light`: no Pygments style `monokay` (did you mean `monokai`?)",
    )


def test_the_code_styles_are_settings(make_site: MakeSite, tmp_path: Path) -> None:
    from conftest import quick_build, snapshot
    from pygments.formatters import HtmlFormatter

    root = make_site(
        {"blog.toml": BLOG_TOML + '[highlight]\nlight = "friendly"\ndark = "monokai"\n'}
    )
    assert quick_build(root, "--out", tmp_path / "out").code == 0
    css = snapshot(tmp_path / "out")["assets/pygments.css"].decode()
    light, _, dark = css.partition("@media screen and (prefers-color-scheme: dark)")
    friendly = HtmlFormatter(style="friendly").get_style_defs(".highlight")
    monokai = HtmlFormatter(style="monokai").get_style_defs(".highlight")
    kw_light = next(line for line in friendly.splitlines() if line.startswith(".highlight .k "))
    kw_dark = next(line for line in monokai.splitlines() if line.startswith(".highlight .k "))
    assert kw_light.split("/*")[0].strip() in light
    assert kw_dark.split("/*")[0].strip() in dark


def test_an_endless_check_code_timeout_is_an_error(broken_build: BrokenBuild) -> None:
    broken_build(
        {"blog.toml": BLOG_TOML + "[check_code]\ntimeout = inf\n"},
        "blog.toml:7: `check_code.timeout` must be at most 86400 seconds",
    )


def test_a_fifo_as_blog_toml_is_an_error_not_a_hang(tmp_path: Path) -> None:
    import os

    from conftest import run_cli

    (tmp_path / "posts").mkdir()
    os.mkfifo(tmp_path / "blog.toml")
    result = run_cli("build", "--site", tmp_path, timeout=30)
    assert result.code == 1
    assert "blog.toml: cannot read: a FIFO (named pipe), not a regular file" in result.err


def test_extra_build_and_permalink(make_site: MakeSite) -> None:
    config = BLOG_TOML + (
        'permalink = "/blog/:year/:title.html"\n\n[build]\nbroken_links = "warn"\n\n'
        '[extra]\nmastodon = "@me@example.org"\nlinks = [{name = "a", url = "/a/"}]\n'
    )
    loaded = load_config(make_site({}, config))
    assert loaded.permalink == "/blog/:year/:title.html"
    assert loaded.build.broken_links == "warn"
    assert loaded.extra == {"mastodon": "@me@example.org", "links": [{"name": "a", "url": "/a/"}]}
    assert load_config(make_site({}, BLOG_TOML)).build.broken_links == "error"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[build]\nbroken_links = "warning"\n', 'blog.toml:8: `build.broken_links` must be "'),
        ("extra = 3\n", "blog.toml:7: `extra` must be a table"),
        ('[extra]\na = ["\\u000b"]\n', "blog.toml:7: `extra` holds control character U+000B"),
        ('[build]\nbroken_link = "warn"\n', "blog.toml:8: unknown key `build.broken_link`"),
    ],
)
def test_bad_build_and_extra(make_site: MakeSite, text: str, expected: str) -> None:
    with pytest.raises(BuildError) as info:
        load_config(make_site({}, BLOG_TOML + "\n" + text))
    assert expected in str(info.value)
