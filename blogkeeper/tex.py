"""A formula's MathML: latex2mathml, with the rewrites of TeX it misreads, or its TeX
shown as source with a warning when it cannot convert it.

`mathml` converts (and raises on what latex2mathml cannot read, or leaves unread),
`source_html` and `source_warning` are the fallback, `unescape` and `definitions` read
what authors write. Pure: no I/O; latex2mathml is imported on the first conversion.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from blogkeeper.errors import ContentError

# `\_` and `\*` in math mean `_` and `*`: the escapes authors write so that a Markdown
# renderer that does not know math leaves them alone. `\\` stays a line break.
_TEX_ESCAPE = re.compile(r"\\([\\_*])")


def unescape(tex: str) -> str:
    """`tex` with `\\_` and `\\*` read as `_` and `*`."""
    return _TEX_ESCAPE.sub(lambda m: m.group(0) if m.group(1) == "\\" else m.group(1), tex)


class NotConverted(ValueError):
    """latex2mathml returned MathML that shows TeX it did not read (`<mi>\\label</mi>`)."""


def source_warning(tex: str, exc: Exception, where: tuple[str, int]) -> ContentError:
    """The warning for `tex` shown as source because `mathml` raised `exc`, at `where`
    (the post's path and the formula's line)."""
    shown = " ".join(tex.split())
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    if isinstance(exc, NotConverted):
        reason = str(exc)
    else:
        detail = f": {exc}" if str(exc) else ""
        reason = f"latex2mathml raised {type(exc).__name__}{detail}"
    hint = None
    if isinstance(exc, NotConverted) and "\\" in str(exc):
        hint = "a macro defined in another formula does not carry over: define it in this one"
    return ContentError(where[0], where[1], f"TeX shown as source: {reason} in `{shown}`", hint)


def source_html(tex: str, boxed: bool) -> str:
    """TeX shown as written, labelled as TeX for screen readers: a block for display math
    on lines of its own, else inline code."""
    label = html.escape(f"TeX source: {' '.join(tex.split())}")
    code = html.escape(tex, quote=False)
    if boxed:
        attributes = f'class="math-source" role="math" aria-label="{label}" tabindex="0"'
        return f"<pre {attributes}><code>{code}</code></pre>"
    return f'<code class="math-source" role="math" aria-label="{label}">{code}</code>'


# TeX that latex2mathml reads wrongly or not at all, rewritten into TeX it reads, shown the
# way MathJax shows it by default (without equation numbers). Environments latex2mathml
# lacks become the nearest one it has: `aligned` lines up like `split`, `gather` and
# `multline` lines are centred like `\displaylines`. `\label`, `\nonumber`, `\notag` and
# MathJax's `\require` only matter to numbering and loading, so they go.
_ENVIRONMENT = re.compile(r"\\(begin|end)\{([A-Za-z]+\*?)\}(\s*\[[tbc]\])?(\s*\{\d+\})?")
_AS = {
    "aligned": ("\\begin{split}", "\\end{split}"),
    "alignedat": ("\\begin{split}", "\\end{split}"),
    "align": ("\\begin{align*}", "\\end{align*}"),
    "alignat": ("\\begin{align*}", "\\end{align*}"),
    "alignat*": ("\\begin{align*}", "\\end{align*}"),
    "flalign": ("\\begin{align*}", "\\end{align*}"),
    "flalign*": ("\\begin{align*}", "\\end{align*}"),
    "gather": ("\\displaylines{", "}"),
    "gather*": ("\\displaylines{", "}"),
    "gathered": ("\\displaylines{", "}"),
    "multline": ("\\displaylines{", "}"),
    "multline*": ("\\displaylines{", "}"),
    "eqnarray": ("\\begin{array}{rcl}", "\\end{array}"),
    "eqnarray*": ("\\begin{array}{rcl}", "\\end{array}"),
}
_DROPPED = re.compile(r"\\(?:label|require)\{[^{}]*\}|\\(?:nonumber|notag)(?![A-Za-z])")
# latex2mathml reads a `[` that starts an environment's body as a column spec; `{}` first
# ends that (an array's spec comes in braces, a starred matrix's `[r]` is one).
_BRACKET_FIRST = re.compile(r"(\\begin\{(?!array\}|subarray\})[A-Za-z]+\})(\s*)\[")
_COMMANDS = [
    (re.compile(r"\\arg(?![A-Za-z])"), r"\\operatorname{arg}"),
    (re.compile(r"\\newline(?![A-Za-z])"), r"\\\\"),
    # `\color{red}{x}` colours x alone in MathJax 2, where blogs wrote it; latex2mathml
    # reads LaTeX's switch, which colours the rest of the group and eats a table's `&`.
    (re.compile(r"\\color\s*(\{[^{}]*\})\s*\{"), r"\\textcolor\1{"),
]


def _environment(match: re.Match[str]) -> str:
    kind, name, position, columns = match.groups()
    if name not in _AS:
        return match.group(0)
    begin, end = _AS[name]
    if kind == "end":
        return end + (position or "") + (columns or "")
    return begin + ("" if name.startswith(("alignat", "alignedat")) else columns or "")


# A macro definition: `\newcommand{\name}[1]{…}`, `\renewcommand`, `\def\name#1{…}` and
# `\DeclareMathOperator{\name}{…}` (starred too).
_DEFINING = re.compile(r"\\(?:(?:re)?newcommand|DeclareMathOperator(\*?)|def(?![A-Za-z]))")
_MACRO_NAME = re.compile(r"\s*(?:\{\s*(\\[A-Za-z]+|\\.)\s*\}|(\\[A-Za-z]+|\\.))")
_PARAMETERS = re.compile(r"\s*(?:\[\d\]\s*(?:\[[^\]]*\]\s*)?|(?:#\d)*)")


def definitions(tex: str) -> list[tuple[int, int, str]]:
    """Each macro definition in `tex`: where it starts and ends, and as a `\newcommand`
    latex2mathml reads (it lacks `\\renewcommand`, and shows a starred
    `\\DeclareMathOperator`'s name twice)."""
    found = []
    position = 0
    while (match := _DEFINING.search(tex, position)) is not None:
        position = match.end()
        name = _MACRO_NAME.match(tex, match.end())
        if name is None:
            continue
        parameters = _PARAMETERS.match(tex, name.end())
        start = parameters.end() if parameters else name.end()
        end = _group_end(tex, start)
        if end is None:
            continue
        macro, body = name.group(1) or name.group(2), tex[start + 1 : end - 1]
        if match.group(0).startswith("\\Declare"):
            operator = "\\operatorname" + (match.group(1) or "")
            definition = f"\\newcommand{{{macro}}}{{{operator}{{{body}}}}}"
        elif match.group(0) == "\\def":
            definition = tex[match.start() : end]
        else:
            definition = "\\newcommand{" + macro + "}" + tex[name.end() : end]
        found.append((match.start(), end, definition))
        position = end
    return found


def _group_end(tex: str, start: int) -> int | None:
    """The index after the `{…}` group (braces balanced) that opens at `start`, or None."""
    if not tex.startswith("{", start):
        return None
    depth = 0
    for index in range(start, len(tex)):
        char = tex[index]
        if char == "\\":
            continue
        if char == "{" and tex[index - 1 : index] != "\\":
            depth += 1
        elif char == "}" and tex[index - 1 : index] != "\\":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


# latex2mathml breaks an operator name on a spacing command (`\operatorname{arg\,max}`)
# but reads a thin space character in it.
_OPERATOR_NAME = re.compile(r"(\\operatorname\*?\s*\{)([^{}]*)\}")
_SPACING = re.compile(r"\\(?:[,:; ]|thinspace(?![A-Za-z]))|~")


def _operator_name(match: re.Match[str]) -> str:
    name = _SPACING.sub("\u2009", match.group(2)).replace("\\!", "")
    return match.group(1) + name + "}"


def _for_latex2mathml(tex: str) -> str:
    for start, end, definition in reversed(definitions(tex)):
        tex = tex[:start] + definition + tex[end:]
    tex = _OPERATOR_NAME.sub(_operator_name, tex)
    tex = _ENVIRONMENT.sub(_environment, _DROPPED.sub("", tex))
    for pattern, replacement in _COMMANDS:
        tex = pattern.sub(replacement, tex)
    return _BRACKET_FIRST.sub(r"\1{}\2[", tex)


# What latex2mathml writes for what it did not read: a command or `&` as an identifier.
_NOT_READ = re.compile(r"<m[a-z]+>(\\[A-Za-z]+|&)</m[a-z]+>")


@lru_cache(maxsize=4096)
def mathml(latex: str, display: str, macros: str = "") -> str:
    """latex2mathml's MathML for `latex` (after the definitions `macros`), carrying its TeX
    twice: as `alttext` (what screen readers and some readers show) and as an
    `application/x-tex` annotation inside `<semantics>` (which renderers hide), so math
    still reads where MathML is stripped. Raises when latex2mathml cannot read it, or
    leaves part of it unread."""
    # Posts repeat their formulas; latex2mathml costs about a millisecond for each.
    import latex2mathml.converter  # here: a build whose posts are all cached needs none

    readable = _for_latex2mathml(macros + latex)
    mathml = str(latex2mathml.converter.convert(readable, display=display))
    if (unread := _NOT_READ.search(mathml)) is not None:
        what = unread.group(1)
        if what == "&":
            raise NotConverted("latex2mathml does not read `&` here (outside a table)")
        raise NotConverted(f"latex2mathml does not know `{what}`")
    opening, _, rest = mathml.partition(">")
    inner = rest.removesuffix("</math>")
    tex = html.escape(latex)
    annotation = f'<annotation encoding="application/x-tex">{tex}</annotation>'
    return (
        f'{opening} alttext="{tex}"><semantics><mrow>{inner}</mrow>{annotation}</semantics></math>'
    )
