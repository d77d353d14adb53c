"""Turn code and a lexer into exactly the HTML `pygments.highlight` gives, faster.

Two parts, each falling back to Pygments itself wherever it cannot promise the same output.

The lexing engine (`tokens`) serves `RegexLexer` subclasses that keep Pygments' own
`get_tokens_unprocessed` (not `ExtendedRegexLexer`, not lexers that override it, like
`CLexer`, nor the hand-written `JsonLexer`). Pygments tries the rules of the current state one
by one, one Python-level `match` call each (8 million calls for 300 posts). Here:

- Rules are joined into one alternation `((?m:r1))|((?m:r2))|…`: `re` tries alternatives in
  order and nothing follows the group, so one C-level `match` finds the same first rule with
  the same span, and `lastindex` (the outer group closes last) names it. Each rule keeps its
  own flags as scoped flags (`(?s)` at a rule's start becomes `(?ms:…)`). A rule with a
  callback (`bygroups`, `using`) is matched again with its own regex, so the callback sees
  its own group numbers. A rule that cannot be joined (numeric backreference or
  conditional, ASCII/LOCALE flags, a group name another rule uses, anything that does not
  compile or warns) is tried on its own, in its place in the order.
- Dispatch on the character at the position: from each rule's parsed regex
  (`re._parser`) a test for the first character it can consume (a superset; None when it
  can match empty text), so at a `d` only the rules that can start with `d` are joined.
  A handful of rules is tried in turn; more are joined, once the state has met that
  character `_WARM` times, since each joined regex costs a compilation.
- Then the action and the state change exactly as `RegexLexer` does them (`#push`, `#pop`,
  `#pop:n`, tuples, `combined`, `default`, and the error token / newline-to-root fallback).

The formatter loop (`_format`) serves `HtmlFormatter`s without line numbers, anchors,
inline styles or other wrapping: runs of tokens with the same CSS class are joined first
(empty tokens never break a run, as in Pygments), the block is escaped once, and each run
becomes one span per line, which is the HTML `HtmlFormatter._format_lines` writes.

It must not change a byte of output: tests/test_highlight.py compares tokens and HTML with
plain Pygments on the blogs' fences, real files, generated text and every lexer Pygments
ships that the engine accepts. No I/O, no global state beyond per-lexer-class caches.
"""

from __future__ import annotations

import re
import re._constants as _c
import re._parser as _parser
import warnings
from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from html import escape
from typing import Any

import pygments
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer, RegexLexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Error, Whitespace, _TokenType
from pygments.util import ClassNotFound

Token = tuple[int, Any, str]
Rule = tuple[Callable[..., Any], Any, Any]


class _State:
    """One lexer state: its rules, and the matchers that try them in order.

    A matcher is `(match, by_group, rule)`: a joined regex of several rules with the rule
    each outer group number stands for, or (`by_group` None) one rule's own `match`.
    `at(char)` gives the matchers of only the rules that can match at a position holding
    `char` (a rule whose first character cannot be `char`, and that cannot match empty
    text, cannot be the first to match there), so the joined regex tries fewer branches.
    Joining costs a regex compilation, so a character is first served rule by rule, like
    Pygments, and gets its joined matcher only once it comes back (`_WARM` times).
    """

    __slots__ = ("by_char", "by_subset", "firsts", "rules", "seen", "singles")

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.singles: list[Matcher] = [(rule[0], None, rule) for rule in rules]
        self.firsts: list[Callable[[str], Any] | None] | None = None
        self.by_char: dict[str, list[Matcher]] = {}
        self.by_subset: dict[tuple[int, ...], list[Matcher]] = {}
        self.seen: dict[str, int] = {}

    def at(self, char: str) -> list[Matcher]:
        seen = self.seen[char] = self.seen.get(char, 0) + 1
        if seen < _WARM:
            return self.singles
        if self.firsts is None:
            self.firsts = [_first_char(rule) for rule in self.rules]
        subset = tuple(
            index
            for index, first in enumerate(self.firsts)
            if first is None or first(char) is not None
        )
        matchers = self.by_subset.get(subset)
        if matchers is None:
            rules = [self.rules[index] for index in subset]
            # Trying a few rules in turn costs less than compiling them joined.
            if len(rules) <= _FEW:
                matchers = [(rule[0], None, rule) for rule in rules]
            else:
                matchers = _matchers(rules)
            self.by_subset[subset] = matchers
        self.by_char[char] = matchers
        return matchers


class _Table(dict[str, _State]):
    """A lexer's states, each set up the first time the lexer enters it."""

    def __init__(self, tokendefs: dict[str, list[Rule]]) -> None:
        super().__init__()
        self.tokendefs = tokendefs

    def __missing__(self, name: str) -> _State:
        state = self[name] = _State(self.tokendefs[name])
        return state


# How often a state must meet a character before it joins the rules that can match there.
_WARM = 3
# Up to this many rules that can match at a character are tried one by one, not joined.
_FEW = 6
Matcher = tuple[Callable[..., Any], dict[int, Rule] | None, Rule | None]

# A numeric backreference or conditional would point at another group once rules are joined.
_RENUMBERED = re.compile(r"\\[1-9]|\(\?\(")
# Global inline flags, which Python 3.11 accepts only at the start of a whole pattern.
_GLOBAL_FLAGS = re.compile(r"(?:\(\?[aiLmsux]+\))+")
_SCOPED = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s", re.VERBOSE: "x"}
_ALLOWED = re.UNICODE | re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE


def _alternative(rule: Rule) -> re.Pattern[str] | None:
    """The rule's regex as a pattern whose text means the same inside `(?flags:…)`."""
    pattern = getattr(rule[0], "__self__", None)
    if not (isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str)):
        return None
    if getattr(rule[0], "__name__", "") != "match" or pattern.flags & ~_ALLOWED:
        return None
    if _RENUMBERED.search(pattern.pattern):
        return None
    return pattern


def _wrap(pattern: re.Pattern[str]) -> str:
    """`((?flags:body))`: the pattern's own flags scoped to it, its leading flags removed."""
    body = pattern.pattern
    prefix = _GLOBAL_FLAGS.match(body)
    if prefix:
        body = body[prefix.end() :]
    flags = "".join(letter for flag, letter in _SCOPED.items() if pattern.flags & flag)
    # A verbose rule may end in a comment that would swallow the closing parentheses.
    end = "\n))" if pattern.flags & re.VERBOSE else "))"
    return f"((?{flags}:{body}{end}" if flags else f"({body}{end[:-1]}"


def _matchers(rules: list[Rule]) -> list[Matcher]:
    """Runs of joinable rules become one joined matcher; any other rule is tried alone."""
    matchers: list[Matcher] = []
    batch: list[tuple[Rule, re.Pattern[str]]] = []
    for rule in rules:
        pattern = _alternative(rule)
        if pattern is not None:
            batch.append((rule, pattern))
            continue
        matchers += _joined(batch)
        batch = []
        matchers.append((rule[0], None, rule))
    return matchers + _joined(batch)


def _compile(text: str, flags: int = 0) -> re.Pattern[str] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(text, flags)
    except (re.error, Warning, RecursionError, OverflowError, ValueError):
        return None


def _joined(batch: list[tuple[Rule, re.Pattern[str]]]) -> list[Matcher]:
    """One matcher for a run of rules; a run that does not join is split in two, in order.

    Rules that cannot join others (clashing group names, a rule whose text does not survive
    being wrapped) end up alone, which keeps their meaning.
    """
    if len(batch) < 2:
        return [(rule[0], None, rule) for rule, _ in batch]
    by_group: dict[int, Rule] = {}
    group = 1
    for rule, pattern in batch:
        by_group[group] = rule
        group += 1 + pattern.groups
    joined = _compile("|".join(_wrap(pattern) for _, pattern in batch))
    if joined is None or joined.groups != group - 1:
        half = len(batch) // 2
        return _joined(batch[:half]) + _joined(batch[half:])
    return [(joined.match, by_group, None)]


_CATEGORIES = {
    _c.CATEGORY_DIGIT: r"\d",
    _c.CATEGORY_NOT_DIGIT: r"\D",
    _c.CATEGORY_SPACE: r"\s",
    _c.CATEGORY_NOT_SPACE: r"\S",
    _c.CATEGORY_WORD: r"\w",
    _c.CATEGORY_NOT_WORD: r"\W",
}
_ZERO_WIDTH = (_c.AT, _c.ASSERT, _c.ASSERT_NOT)
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT))
_ATOMIC = getattr(_c, "ATOMIC_GROUP", None)


def _first_char(rule: Rule) -> Callable[[str], Any] | None:
    """A test a position's character must pass for the rule to match there, or None.

    None when the rule can match empty text or its first character is not known; the test
    may accept more characters than the rule can start with, never fewer.
    """
    pattern = getattr(rule[0], "__self__", None)
    if not (isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str)):
        return None
    try:
        parsed = _parser.parse(pattern.pattern, pattern.flags)
        first = _firsts(list(parsed))
    except (re.error, RecursionError, TypeError, ValueError, KeyError):
        return None
    if first is None or first[1] or not first[0]:
        return None
    test = _compile(f"(?:{'|'.join(first[0])})", pattern.flags & ~re.VERBOSE)
    return test.match if test is not None else None


def _firsts(items: list[Any]) -> tuple[list[str], bool] | None:
    """Regexes for the first character a sequence consumes, and whether it can be empty."""
    fragments: list[str] = []
    for op, arg in items:
        if op in _ZERO_WIDTH:
            continue  # not consuming: ignoring it only lets more characters through
        if op is _c.LITERAL:
            return [*fragments, _char(arg)], False
        if op is _c.NOT_LITERAL:
            return [*fragments, f"[^{_char(arg)}]"], False
        if op is _c.CATEGORY:
            return [*fragments, _CATEGORIES[arg]], False
        if op is _c.IN:
            return [*fragments, _char_class(arg)], False
        if op is _c.SUBPATTERN:
            if arg[1] or arg[2]:  # scoped flags
                return None
            inner = _firsts(list(arg[3]))
        elif op is _ATOMIC:
            inner = _firsts(list(arg))
        elif op is _c.BRANCH:
            inner = _branches(arg[1])
        elif op in _REPEATS:
            low, high, item = arg
            if high == 0:
                continue
            inner = _firsts(list(item))
            if inner is not None and low == 0:
                inner = inner[0], True
        else:
            return None  # ANY, backreferences, conditionals: any character
        if inner is None:
            return None
        fragments += inner[0]
        if not inner[1]:
            return fragments, False
    return fragments, True


def _branches(branches: list[Any]) -> tuple[list[str], bool] | None:
    fragments: list[str] = []
    empty = False
    for branch in branches:
        inner = _firsts(list(branch))
        if inner is None:
            return None
        fragments += inner[0]
        empty = empty or inner[1]
    return fragments, empty


def _char(code: int) -> str:
    return f"\\U{code:08x}"


def _char_class(items: list[Any]) -> str:
    parts = []
    for op, arg in items:
        if op is _c.NEGATE:
            parts.append("^")
        elif op is _c.LITERAL:
            parts.append(_char(arg))
        elif op is _c.RANGE:
            parts.append(f"{_char(arg[0])}-{_char(arg[1])}")
        elif op is _c.CATEGORY:
            parts.append(_CATEGORIES[arg])
        else:
            raise KeyError(op)
    return "[" + "".join(parts) + "]"


def accepts_class(cls: type[Lexer]) -> bool:
    """Whether lexers of `cls` lex with `RegexLexer`'s own loop, which the engine replaces."""
    return (
        issubclass(cls, RegexLexer)
        and cls.get_tokens_unprocessed is RegexLexer.get_tokens_unprocessed
    )


def accepts(lexer: Lexer) -> bool:
    """Whether the engine lexes for `lexer` (a plain `RegexLexer` with its token table)."""
    return accepts_class(type(lexer)) and isinstance(getattr(lexer, "_tokens", None), dict)


_tables: dict[int, _Table] = {}


def _table(tokendefs: dict[str, list[Rule]]) -> _Table:
    """The states of one processed token table (shared by all lexers of a class)."""
    table = _tables.get(id(tokendefs))
    if table is None or table.tokendefs is not tokendefs:
        table = _tables[id(tokendefs)] = _Table(tokendefs)
    return table


def tokens(lexer: RegexLexer, text: str, stack: tuple[str, ...] = ("root",)) -> Iterator[Token]:
    """What `RegexLexer.get_tokens_unprocessed(lexer, text, stack)` yields, found faster."""
    tokendefs = lexer._tokens
    table = _table(tokendefs)
    pos = 0
    statestack = list(stack)
    state = table[statestack[-1]]
    end = len(text)
    while True:
        if pos < end:
            char = text[pos]
            matchers = state.by_char.get(char)
            if matchers is None:
                matchers = state.at(char)
        else:
            matchers = state.singles
        for match, by_group, rule in matchers:
            m = match(text, pos)
            if m:
                if by_group is None:
                    _, action, new_state = rule  # type: ignore[misc]
                else:
                    rexmatch, action, new_state = by_group[m.lastindex]
                    if action is not None and type(action) is not _TokenType:
                        m = rexmatch(text, pos)
                if action is not None:
                    if type(action) is _TokenType:
                        yield pos, action, m.group()
                    else:
                        yield from action(lexer, m)
                pos = m.end()
                if new_state is not None:
                    _transition(statestack, new_state)
                    state = table[statestack[-1]]
                break
        else:
            m = None
        if m:
            continue
        # No rule matched: Pygments' fallback, an error token or a newline back to root.
        if pos >= len(text):
            break
        if text[pos] == "\n":
            statestack = ["root"]
            state = table["root"]
            yield pos, Whitespace, "\n"
        else:
            yield pos, Error, text[pos]
        pos += 1


def _transition(statestack: list[str], new_state: Any) -> None:
    """Change `statestack` in place exactly as `RegexLexer.get_tokens_unprocessed` does."""
    if isinstance(new_state, tuple):
        for state in new_state:
            if state == "#pop":
                if len(statestack) > 1:
                    statestack.pop()
            elif state == "#push":
                statestack.append(statestack[-1])
            else:
                statestack.append(state)
    elif isinstance(new_state, int):
        # Pop, but keep at least one state on the stack.
        if abs(new_state) >= len(statestack):
            del statestack[1:]
        else:
            del statestack[new_state:]
    elif new_state == "#push":
        statestack.append(statestack[-1])
    else:
        raise AssertionError(f"wrong state def: {new_state!r}")


def accelerate(lexer: Lexer) -> Lexer:
    """`lexer`, lexing with the engine when it accepts it (`using(this)` re-enters it too)."""
    if accepts(lexer):
        lexer.get_tokens_unprocessed = partial(tokens, lexer)
    return lexer


@lru_cache(maxsize=256)
def lexer_for(lang: str) -> Lexer | None:
    """The shared, accelerated lexer for a fence's language name, or None if unknown."""
    try:
        lexer = get_lexer_by_name(lang, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None
    return accelerate(lexer)


def _plain(formatter: HtmlFormatter) -> bool:
    """Whether `formatter` uses only options whose output `_format` reproduces."""
    f = formatter
    return (
        type(f) is HtmlFormatter
        and not (f.nowrap or f.noclasses or f.linenos or f.hl_lines or f.lineanchors)
        and not (f.linespans or f.filename or f.full or f.tagsfile or f.debug_token_types)
        and not (f.prestyles or f.cssstyles)
        and f.lineseparator == "\n"
        and f.encoding is None
    )


def highlight(code: str, lexer: Lexer, formatter: HtmlFormatter) -> str:
    """`pygments.highlight(code, lexer, formatter)`, with the fast paths where they apply."""
    if not _plain(formatter):
        return str(pygments.highlight(code, lexer, formatter))
    if lexer.filters:
        stream: Iterator[Token] = ((0, t, v) for t, v in lexer.get_tokens(code))
    else:  # what get_tokens does without filters, minus a generator per token
        stream = lexer.get_tokens_unprocessed(lexer._preprocess_lexer_input(code))
    body = _format(stream, _openers(formatter))
    cssclass = f' class="{formatter.cssclass}"' if formatter.cssclass else ""
    code_open, code_close = ("<code>", "</code>") if formatter.wrapcode else ("", "")
    return f"<div{cssclass}><pre><span></span>{code_open}{body}{code_close}</pre></div>\n"


class _Openers(dict[Any, str]):
    """Token type -> the `<span class="…">` HtmlFormatter opens for it ('' for none)."""

    def __init__(self, formatter: HtmlFormatter) -> None:
        super().__init__()
        self.formatter = formatter

    def __missing__(self, ttype: Any) -> str:
        css_class = self.formatter._get_css_classes(ttype)
        self[ttype] = opener = f'<span class="{css_class}">' if css_class else ""
        return opener


@lru_cache(maxsize=16)
def _openers(formatter: HtmlFormatter) -> _Openers:
    return _Openers(formatter)


def _format(stream: Iterator[Token], openers: _Openers) -> str:
    """HtmlFormatter's `_format_lines`, joined: every line's runs of one class in one span.

    Pygments opens a span per run of same-class text on a line (empty tokens do not break
    a run), closes it at the line's end, writes an empty line as just "\\n", and ends the
    last line with "\\n". Joining the runs first gives the same bytes with far less work.
    """
    runs: list[tuple[str, str]] = []
    last_opener, pieces = "", list[str]()
    for _, ttype, value in stream:
        if not value:
            continue
        opener = openers[ttype]
        if opener != last_opener:
            if pieces:
                runs.append((last_opener, "".join(pieces)))
            last_opener, pieces = opener, [value]
        else:
            pieces.append(value)
    if pieces:
        runs.append((last_opener, "".join(pieces)))
    texts = [text for _, text in runs]
    joined = "\x00".join(texts)
    # One escape call for the whole block when a separator is free; NUL almost always is.
    if joined.count("\x00") == len(texts) - 1:
        texts = escape(joined, quote=False).split("\x00")
    else:
        texts = [escape(text, quote=False) for text in texts]
    out: list[str] = []
    for (opener, _), text in zip(runs, texts, strict=True):
        if not opener:
            out.append(text)
        elif "\n" not in text:
            out.append(f"{opener}{text}</span>")
        else:
            out.append(
                "\n".join(f"{opener}{part}</span>" if part else "" for part in text.split("\n"))
            )
    html = "".join(out)
    if html and not html.endswith("\n"):
        html += "\n"
    return html
