"""The fence scanner: blocks, info-string options, and the fold outside code."""

from __future__ import annotations

from pygments.lexers import get_lexer_by_name

from blogkeeper.fences import PYTHON_NAMES, find_fold, scan


def lines(text: str) -> list[str]:
    return text.split("\n")


def test_scan_reads_language_options_code_and_lines() -> None:
    text = "Intro\n\n```python raises=ValueError timeout=3\nint('x')\n```\n\n~~~\nplain\n~~~\n"
    first, second = scan(lines(text))
    assert (first.start, first.end, first.first_code_line) == (2, 4, 3)
    assert first.lang == "python"
    assert first.options == ("raises=ValueError", "timeout=3")
    assert first.option("raises") == "ValueError"
    assert first.option("timeout") == "3"
    assert first.option("skip") is None
    assert first.code == "int('x')\n"
    assert first.closed
    assert (second.lang, second.code, second.options) == ("", "plain\n", ())


def test_bare_option_has_an_empty_value() -> None:
    [fence] = scan(lines("```Python skip\nx\n```"))
    assert fence.lang == "python"
    assert fence.option("skip") == ""


def test_a_longer_fence_contains_shorter_ones() -> None:
    text = "````markdown\n```python\nx\n```\n<!--more-->\n````\nafter\n"
    [fence] = scan(lines(text))
    assert (fence.start, fence.end, fence.lang) == (0, 5, "markdown")
    assert find_fold(lines(text)) is None


def test_a_tilde_fence_is_not_closed_by_backticks() -> None:
    text = "~~~\n```\n<!--more-->\n~~~\n<!--more-->\n"
    fences = scan(lines(text))
    assert [(f.start, f.end) for f in fences] == [(0, 3)]
    assert find_fold(lines(text)) == 4


def test_an_unclosed_fence_runs_to_the_end() -> None:
    text = "Intro\n```python\nx = 1\n<!--more-->\n"
    [fence] = scan(lines(text))
    assert not fence.closed
    assert fence.end == 4
    assert find_fold(lines(text)) is None


def test_backticks_in_the_info_string_make_it_inline_code() -> None:
    assert scan(lines("```not `a` fence```\ntext\n")) == []


def test_indented_fence_in_a_list_item_is_dedented() -> None:
    [fence] = scan(lines("- item\n\n    ```python\n    if x:\n        y()\n    ```\n"))
    assert fence.indent == "    "
    assert fence.code == "if x:\n    y()\n"


def test_fold_spellings() -> None:
    for marker in ("<!--more-->", "<!-- more -->", "  <!--More-->  ", "<!--\tmore\t-->"):
        assert find_fold(lines(f"a\n{marker}\nb")) == 1, marker
    for marker in ("<!--more--> text", "<!-- more than this -->", "`<!--more-->`"):
        assert find_fold(lines(f"a\n{marker}\nb")) is None, marker


def test_the_first_fold_outside_code_wins() -> None:
    text = "a\n```\n<!--more-->\n```\nb\n<!--more-->\nc\n<!--more-->\n"
    assert find_fold(lines(text)) == 5


def test_a_fold_is_only_a_fold_outside_comments_and_code_spans() -> None:
    assert find_fold(["<!--", "<!--more-->", "-->", "<!--more-->"]) == 3
    assert find_fold(["<!-- x --> <!-->", "<!--more-->"]) == 1
    assert find_fold(["`<!--` is how a comment starts", "<!--more-->"]) == 1
    assert find_fold(["text <!-- open", "```", "-->", "```", "<!--more-->"]) is None


def test_fences_inside_blockquotes_carry_their_quote() -> None:
    text = "> ```python\n> x = 1\n>\n> ```\n\n> > ~~~\n> > y\n> > ~~~\nz\n"
    outer, inner = scan(lines(text))
    assert (outer.start, outer.end, outer.quote, outer.depth) == (0, 3, "> ", 1)
    assert outer.code == "x = 1\n\n"
    assert (inner.start, inner.end, inner.quote, inner.depth) == (5, 7, "> > ", 2)


def test_a_quote_ends_an_unclosed_fence_inside_it() -> None:
    [quoted, after] = scan(lines("> ```python\n> x\nlazy\n```python\ny\n```"))
    assert (quoted.start, quoted.end, quoted.closed) == (0, 1, False)
    assert (after.start, after.code) == (3, "y\n")


def test_very_deep_quotes_do_not_overflow_the_stack() -> None:
    assert scan(["> " * 5000 + "```python", "> " * 5000 + "x"]) == []


def test_the_python_names_are_pygments_python_aliases_that_name_python() -> None:
    aliases = set(get_lexer_by_name("python").aliases)
    # Pygments lends its Python lexer to other languages and to stubs: those are shown
    # highlighted as Python but are no programs check-code could run. A new alias fails
    # here, to be sorted into one set or the other.
    not_run = {"sage", "bazel", "starlark", "pyi"}
    assert PYTHON_NAMES | not_run == aliases
    assert not PYTHON_NAMES & not_run


def test_every_python_name_is_a_python_block_in_any_case() -> None:
    text = "\n".join(f"```{name}\nx\n```" for name in ("Python", "py", "PY3", "python3", "py3"))
    assert all(fence.is_python for fence in scan(lines(text)))
    others = ("pycon", "python2", "py2", "pyi", "starlark", "output", "", "pythonic")
    text = "\n".join(f"```{name}\nx\n```" for name in others)
    assert not any(fence.is_python for fence in scan(lines(text)))
