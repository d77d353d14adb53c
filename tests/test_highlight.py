"""Code blocks are highlighted by Pygments' public API, and only by it.

The reference is `pygments.highlight` with a lexer from `get_lexer_by_name` and the
renderer's `HtmlFormatter` options; render.py may only add its attributes (`data-lang`,
`tabindex`) and drop Pygments' empty leading span. Inputs are the fences of the posts in
this repository (posts/ and the golden site); nothing outside the repository is read.
"""

from __future__ import annotations

import html
from pathlib import Path

import pygments
import pygments.lexers
import pytest
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from blogkeeper import render
from blogkeeper.fences import Fence, scan

ROOT = Path(__file__).resolve().parent.parent
POST_FOLDERS = [ROOT / "posts", ROOT / "tests" / "golden" / "site" / "posts"]


def blog_fences() -> list[Fence]:
    return [
        fence
        for folder in POST_FOLDERS
        for path in sorted(folder.rglob("*.md"))
        for fence in scan(path.read_text(encoding="utf-8").split("\n"))
    ]


def pygments_html(lang: str, code: str) -> str:
    """What Pygments itself writes for the block, with the renderer's formatter options."""
    lexer = get_lexer_by_name(lang, stripnl=False, ensurenl=True)
    return str(pygments.highlight(code, lexer, HtmlFormatter(**render.HIGHLIGHT)))


def plain_block(lang: str, code: str) -> str:
    """A fence Pygments has no lexer for: its code escaped, its name kept as a label."""
    label = f' data-lang="{html.escape(lang)}"' if lang else ""
    code = html.escape(code, quote=False)
    return f'<div class="highlight"{label}><pre tabindex="0"><code>{code}</code></pre></div>\n'


def without_our_attributes(lang: str, block: str) -> str:
    """The renderer's block with what render.py adds to Pygments' HTML taken out again."""
    assert block.startswith(f'<div class="highlight" data-lang="{lang}"><pre tabindex="0">')
    block = block.replace(f' data-lang="{lang}"', "", 1).replace(' tabindex="0"', "", 1)
    return block.replace("<pre><code>", "<pre><span></span><code>", 1)


def known(lang: str) -> bool:
    try:
        get_lexer_by_name(lang)
    except ClassNotFound:
        return False
    return True


def test_the_blogs_fences_are_exactly_what_pygments_writes() -> None:
    highlighted = [f for f in blog_fences() if f.lang != render.OUTPUT_LANG and known(f.lang)]
    assert len(highlighted) > 50
    assert {f.lang for f in highlighted} >= {"python", "xml", "markdown"}
    for fence in highlighted:
        block = render.highlight_fence(fence)
        assert without_our_attributes(fence.lang, block) == pygments_html(fence.lang, fence.code)


def test_the_blogs_other_fences_are_escaped_plain_text() -> None:
    plain = [f for f in blog_fences() if f.lang != render.OUTPUT_LANG and not known(f.lang)]
    assert "brainfudge" in {f.lang for f in plain}
    for fence in plain:
        assert render.highlight_fence(fence) == plain_block(fence.lang, fence.code)


def test_output_blocks_are_escaped_samples() -> None:
    outputs = [f for f in blog_fences() if f.lang == render.OUTPUT_LANG]
    assert outputs
    for fence in outputs:
        escaped = html.escape(fence.code, quote=False)
        want = f'<pre class="output" tabindex="0"><samp>{escaped}</samp></pre>\n'
        assert render.highlight_fence(fence) == want


CODE = 'import os\nprint("<a & b>", os.sep)  # looks like Python\n'


@pytest.fixture
def no_guessing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guessing a language from the code fails the test: an unknown name is plain text."""

    def guess(*args: object, **kwargs: object) -> None:
        raise AssertionError("a fence's language must never be guessed")

    monkeypatch.setattr(pygments.lexers, "guess_lexer", guess)
    monkeypatch.setattr(pygments.lexers, "guess_lexer_for_filename", guess)
    render._highlight.cache_clear()


@pytest.mark.parametrize("lang", ["no-such-language", "pyhton", 'a"<b>'])
def test_unknown_languages_are_escaped_plain_text(lang: str, no_guessing: None) -> None:
    with pytest.raises(ClassNotFound):
        get_lexer_by_name(lang)
    want = plain_block(lang, CODE)
    assert f'data-lang="{html.escape(lang)}"' in want and "&lt;a &amp; b&gt;" in want
    assert render._highlight(lang, CODE) == want


def test_untagged_fences_are_plain_text_without_a_label(no_guessing: None) -> None:
    want = plain_block("", CODE)
    assert "data-lang" not in want
    assert render._highlight("", CODE) == want
    fence = scan(["```", *CODE.splitlines(), "```"])[0]
    assert render.highlight_fence(fence) == want


def test_the_memo_returns_what_highlighting_returns() -> None:
    render._highlight.cache_clear()
    first = render._highlight("python", CODE)
    hits = render._highlight.cache_info().hits
    again = render._highlight("python", CODE)
    assert render._highlight.cache_info().hits == hits + 1
    assert again is first
    assert render._highlight.__wrapped__("python", CODE) == first
    assert without_our_attributes("python", first) == pygments_html("python", CODE)
    # The key is the language and the code, nothing less.
    assert render._highlight("python3", CODE) != first
    assert render._highlight("python", CODE + "x = 1\n") != first


def test_lexers_and_the_formatter_are_made_once_per_process() -> None:
    assert render._formatter() is render._formatter()
    assert render._lexer("python") is render._lexer("python")
    assert render._lexer("no-such-language") is None


# Private names of re and Pygments that an earlier highlighter used; none may come back.
PRIVATE = [
    "re._parser",
    "re._constants",
    "sre_parse",
    "sre_constants",
    "_TokenType",
    "._tokens",
    "_preprocess_lexer_input",
    "_format_lines",
    "_get_css_classes",
    "_escape_html_table",
    "get_tokens_unprocessed",
]


def test_highlighting_uses_no_private_names() -> None:
    for path in sorted((ROOT / "blogkeeper").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for name in PRIVATE:
            assert name not in text, f"{path.relative_to(ROOT)} uses {name}"
