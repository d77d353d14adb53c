"""blogkeeper.highlight gives exactly the tokens and HTML plain Pygments gives.

The reference is always a fresh, unaccelerated lexer and `pygments.highlight`; the fast side
is what the renderer uses (`lexer_for`, `highlight`). Inputs: every fence of the sample blog
and of a generated benchmark blog, real files on this machine, generated text, and a fixed
sample for every lexer Pygments ships that the engine accepts.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pygments
import pygments.lexers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygments.formatters import HtmlFormatter
from pygments.lexer import (
    ExtendedRegexLexer,
    Lexer,
    RegexLexer,
    bygroups,
    combined,
    default,
    include,
    this,
    using,
    words,
)
from pygments.lexers import get_lexer_by_name
from pygments.token import Token

from blogkeeper import highlight as hl
from blogkeeper import render
from blogkeeper.fences import scan

ROOT = Path(__file__).resolve().parent.parent
FORMATTER = HtmlFormatter(**render.HIGHLIGHT)  # type: ignore[arg-type]


@cache
def plain(alias: str) -> Lexer:
    return get_lexer_by_name(alias, stripnl=False, ensurenl=True)


def assert_same(alias: str, text: str) -> None:
    """Tokens and HTML of the renderer's lexer match plain Pygments' for `text`."""
    fast, reference = hl.lexer_for(alias), plain(alias)
    assert fast is not None
    want = list(reference.get_tokens_unprocessed(text))
    assert list(fast.get_tokens_unprocessed(text)) == want
    assert hl.highlight(text, fast, FORMATTER) == pygments.highlight(text, reference, FORMATTER)


def fences(markdown: str) -> list[tuple[str, str]]:
    lines = markdown.split("\n")
    return [(f.lang, f.code) for f in scan(lines) if f.lang and hl.lexer_for(f.lang)]


def test_the_languages_the_blogs_use_are_accelerated() -> None:
    for alias in ["python", "bash", "markdown", "xml", "javascript", "rust", "toml", "diff"]:
        lexer = hl.lexer_for(alias)
        assert lexer is not None and hl.accepts(lexer), alias
    # Hand-written JsonLexer, and CLexer which post-processes RegexLexer's tokens: Pygments.
    assert not hl.accepts(plain("json")) and not hl.accepts(plain("c"))


def test_sample_blog_fences() -> None:
    blocks = [
        b for post in sorted((ROOT / "posts").rglob("*.md")) for b in fences(post.read_text())
    ]
    assert len(blocks) > 50
    for alias, code in blocks:
        assert_same(alias, code)


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bk_benchmark_generate", ROOT / "benchmarks" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bk_benchmark_generate"] = module  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_benchmark_blog_fences() -> None:
    posts = _generator().make_posts(60, seed=7)
    blocks = [b for post in posts for b in fences(post.body)]
    assert {alias for alias, _ in blocks} == {"python", "bash", "json"}
    for alias, code in blocks:
        assert_same(alias, code)


STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
# Real files per language: (alias, glob patterns). Files missing here are skipped.
REAL_FILES = [
    ("python", [f"{STDLIB}/*.py", f"{STDLIB}/json/*.py"]),
    ("bash", ["/usr/share/go-*/src/*.bash", "/usr/lib/perf-core/tests/shell/*.sh", "/etc/*.sh"]),
    ("json", [f"{STDLIB}/site-packages/*/*.json", "/usr/lib/node_modules/npm/package.json"]),
    ("javascript", ["/usr/lib/node_modules/npm/lib/*.js", "/usr/lib/node_modules/npm/lib/*/*.js"]),
    ("c", [f"{STDLIB}/../../include/python*/*.h", "/usr/include/*.h"]),
    ("rust", ["/root/.rustup/toolchains/*/lib/rustlib/*/*.rs", "/root/.rustup/**/*.rs"]),
    ("yaml", ["/usr/lib/google-cloud-sdk/lib/googlecloudsdk/*/*.yaml", "/etc/**/*.yaml"]),
    ("toml", [f"{STDLIB}/test/test_tomllib/data/valid/*.toml", "/work/main/pyproject.toml"]),
    ("html", [f"{STDLIB}/../../share/doc/**/*.html", "/usr/share/doc/*/*.html"]),
    ("css", ["/work/venv-pelican/lib/python*/site-packages/pelican/themes/*/static/css/*.css"]),
    ("sql", ["/usr/share/postgresql/*/*.sql", "/usr/share/postgresql/*/extension/*.sql"]),
    ("diff", ["/root/.pyenv/plugins/python-build/share/python-build/patches/*/*/*.patch"]),
    ("go", ["/usr/share/go-*/src/sort/*.go", "/usr/share/go-*/src/strings/*.go"]),
    ("perl", ["/usr/share/perl/*/*.pm"]),
    ("cpp", ["/usr/share/cmake-*/Modules/*.cpp", "/usr/include/c++/*/bits/stl_vector.h"]),
    ("xml", ["/usr/share/mime/text/*.xml"]),
    ("markdown", ["/usr/share/doc/nodejs/*.md", "/usr/lib/node_modules/npm/*.md"]),
    ("ini", [f"{STDLIB}/../../*.ini", "/etc/*.conf"]),
    ("make", ["/usr/share/dpkg/*.mk", "/usr/share/vim/vim*/macros/*/Makefile"]),
    ("php", ["/usr/lib/google-cloud-sdk/platform/**/*.php"]),
]
FILES_PER_LANGUAGE = 4
MAX_CHARS = 24_000


def real_files(patterns: list[str]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern, recursive=True))
        found += [Path(p) for p in paths if Path(p).is_file()][:FILES_PER_LANGUAGE]
    return found[:FILES_PER_LANGUAGE]


@pytest.mark.parametrize("alias,patterns", REAL_FILES, ids=[alias for alias, _ in REAL_FILES])
def test_real_files(alias: str, patterns: list[str]) -> None:
    paths = real_files(patterns)
    if not paths:
        pytest.skip(f"no {alias} files on this machine")
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")[:MAX_CHARS]
        assert_same(alias, text)


GENERATED_LANGUAGES = ["python", "bash", "json", "javascript", "c", "rust", "yaml", "toml"]
GENERATED_LANGUAGES += ["html", "css", "sql", "diff", "go", "markdown", "xml"]
# Pieces that open or close lexer states, and text lexers find awkward.
PIECES = [
    '"',
    "'",
    '"""',
    "'''",
    "`",
    "\\",
    "\\n",
    "#",
    "//",
    "/*",
    "*/",
    "<!--",
    "-->",
    "<",
    ">",
    "&",
    "${",
    "$(",
    "$",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    ";",
    ",",
    "=",
    "<<EOF",
    "EOF",
    "@",
    "f'",
    'r"',
    "b'",
    "0x1F",
    "1.5e-3",
    "def ",
    "class ",
    "fn ",
    "SELECT ",
    "- ",
    "+ ",
    "@@ -1 +1 @@",
    "---",
    "```",
    "{{",
    "}}",
    "{%",
    "%}",
    "<a href='x'>",
    "</a>",
    "key: ",
    "[table]",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "    ",
    " ",
    "é",
    "漢字",
    "\U0001f600",
    "\u00a0",
    "\u2028",
    "\ufeff",
    "\x00",
    "\x0c",
    "\ud800",
    "\udfff",
]
generated_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=60).map(
    "".join
)


@pytest.mark.parametrize("alias", GENERATED_LANGUAGES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=generated_text)
def test_generated_text(alias: str, text: str) -> None:
    assert_same(alias, text)


def _lexer_classes() -> list[type[Lexer]]:
    classes = []
    for name, (module, *_rest) in sorted(pygments.lexers.LEXERS.items()):
        cls = getattr(importlib.import_module(module), name)
        if issubclass(cls, RegexLexer) and hl.accepts_class(cls):
            classes.append(cls)
    return classes


SAMPLE = """#!/usr/bin/env tool
# comment -- ; // /* block */ <!-- note --> (* ml *) {- hs -} %% rem ' REM
def f(x, y=1): return "s\\n" + 'c' + `t` + r"raw" + f"{x!r:>6}" ${var} $(cmd) @deco
int main(void) { printf("%d\\n", 0x1F + 1.5e-3 + 077); } /* unterminated
<tag attr="v">&amp; text</tag> <?php echo $a; ?> {{ jinja }} {% if x %}
key: value
[section] a = 1 ; b = "two"
SELECT * FROM t WHERE a = 'x' AND b IS NULL; -- sql
+added
-removed
@@ -1,2 +1,3 @@
\ttab\tand  unicode: é ü 漢字 \U0001f600 λ → ∀
"unclosed string
"""


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Join all of every state's rules at once: no dispatch on the first character."""
    monkeypatch.setattr(hl, "_tables", {})
    monkeypatch.setattr(hl, "_WARM", 1)
    monkeypatch.setattr(hl, "_FEW", 0)
    monkeypatch.setattr(hl, "_first_char", lambda rule: None)


LEXER_CLASSES = _lexer_classes()


def assert_same_class(cls: type[RegexLexer], text: str) -> None:
    reference = cls(stripnl=False, ensurenl=True)
    fast = hl.accelerate(cls(stripnl=False, ensurenl=True))
    assert list(fast.get_tokens_unprocessed(text)) == list(reference.get_tokens_unprocessed(text))


@pytest.mark.parametrize("cls", LEXER_CLASSES, ids=lambda cls: cls.__name__)
def test_every_accepted_lexer(cls: type[RegexLexer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hl, "_tables", {})
    monkeypatch.setattr(hl, "_WARM", 1)  # join where it would join after warming up
    assert_same_class(cls, SAMPLE)


@pytest.mark.slow
@pytest.mark.parametrize("cls", LEXER_CLASSES, ids=lambda cls: cls.__name__)
def test_every_accepted_lexer_joining_everything(cls: type[RegexLexer], eager: None) -> None:
    assert_same_class(cls, SAMPLE)


class Tricky(RegexLexer):
    """Every construct the engine must reproduce, in one small lexer."""

    name = "tricky"
    flags = 0
    tokens = {  # noqa: RUF012 (Pygments' own convention)
        "root": [
            (r"\s+", Token.Text),
            (r"(?s)<<(\w+).*?\n\1\b", Token.String.Heredoc),  # backreference: tried alone
            (r'"', Token.String, combined("escapes", "string")),
            (r"(\w+)(\s*)(=)", bygroups(Token.Name.Variable, Token.Text, Token.Operator)),
            (r"(?P<word>x+)y", Token.Name.Other),
            (r"(?P<word>z+)y", Token.Name.Other),  # same group name as the rule before
            (r"(?i)select", Token.Keyword),  # a global inline flag
            (r"(?x) \d+ (?: \. \d+ )?  # a number, verbose with a trailing comment", Token.Number),
            (r"\[", Token.Punctuation, ("#push", "inner")),
            (r"\{", Token.Punctuation, "block"),
            (r"(`)([^`]*)(`)", bygroups(Token.Punctuation, using(this, state="block"), None)),
            (words(("if", "else", "while"), suffix=r"\b"), Token.Keyword),
            (r"[a-z]+", Token.Name),
            (r"\(|\)", Token.Punctuation),
        ],
        "escapes": [(r"\\.", Token.String.Escape)],
        "string": [(r'"', Token.String, "#pop"), (r'[^"\\]+', Token.String)],
        "inner": [(r"\]", Token.Punctuation, "#pop:2"), include("root")],
        "block": [(r"\}", Token.Punctuation, "#pop"), (r";", Token.Punctuation), default("inner")],
    }


TRICKY_TEXT = [
    'a = "x\\"y" select SELECT 3.14 [b [c]] ] {;} `x=1` (if) xxy zzy ^ \n\n',
    '<<END\nbody\nEND\n<<E\nno end\n"open\nstill\n[[[\n}}}\n',
]


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_tricky_lexer(text: str, eager: None) -> None:
    assert_same_tricky(text)


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_tricky_lexer_dispatching(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hl, "_tables", {})
    monkeypatch.setattr(hl, "_WARM", 1)
    monkeypatch.setattr(hl, "_FEW", 0)
    assert_same_tricky(text)


def assert_same_tricky(text: str) -> None:
    reference = Tricky()
    fast = hl.accelerate(Tricky())
    assert list(fast.get_tokens_unprocessed(text)) == list(reference.get_tokens_unprocessed(text))
    assert hl.highlight(text, fast, FORMATTER) == pygments.highlight(text, reference, FORMATTER)


def test_lexers_that_override_lexing_are_not_accelerated() -> None:
    class Extended(ExtendedRegexLexer):
        tokens = {"root": [(r".", Token.Text)]}  # noqa: RUF012

    class Overriding(RegexLexer):
        tokens = {"root": [(r".", Token.Text)]}  # noqa: RUF012

        def get_tokens_unprocessed(self, text: str, stack: Any = ("root",)) -> Any:
            yield from RegexLexer.get_tokens_unprocessed(self, text, stack)

    for cls in (Extended, Overriding):
        lexer = cls()
        assert not hl.accepts(lexer)
        assert hl.accelerate(lexer).get_tokens_unprocessed.__func__ is cls.get_tokens_unprocessed  # type: ignore[attr-defined]


TOKEN_TYPES = [Token, Token.Text, Token.Text.Whitespace, Token.Error, Token.Name, Token.Name.Foo]
TOKEN_TYPES += [Token.Keyword, Token.String.Double, Token.Comment.Single, Token.Other]
token_streams = st.lists(
    st.tuples(
        st.sampled_from(TOKEN_TYPES),
        st.lists(
            st.sampled_from(["", "a", "<&>", "\n", "\n\n", " ", "é", "\ud800", "x\ny"]), max_size=4
        ).map("".join),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(stream=token_streams)
def test_formatter_loop_matches_html_formatter(stream: list[tuple[Any, str]]) -> None:
    from io import StringIO

    out = StringIO()
    FORMATTER.format(iter(stream), out)
    fast = hl._format(((0, t, v) for t, v in stream), hl._openers(FORMATTER))
    assert (
        f'<div class="highlight"><pre><span></span><code>{fast}</code></pre></div>\n'
        == out.getvalue()
    )


def test_other_formatter_options_use_pygments() -> None:
    numbered = HtmlFormatter(linenos="inline", cssclass="x")
    code = "x = 1\nprint(x)\n"
    lexer = hl.lexer_for("python")
    assert lexer is not None
    assert hl.highlight(code, lexer, numbered) == pygments.highlight(
        code, plain("python"), numbered
    )


def test_lexer_filters_still_apply() -> None:
    code = "def f(x):\n    return x  # done\n"
    fast, reference = hl.accelerate(plain("python").__class__()), plain("python").__class__()
    for lexer in (fast, reference):
        lexer.add_filter("keywordcase", case="upper")
    assert hl.highlight(code, fast, FORMATTER) == pygments.highlight(code, reference, FORMATTER)
    assert "DEF" in hl.highlight(code, fast, FORMATTER)
