"""Compare what a code block printed with the output a post shows for it.

Rule, in order: equal after normalising line ends and trailing whitespace passes; otherwise
the two texts are split into numbers and the text between them. The text must match after
whitespace is collapsed (and dropped next to numbers, since tensors pad columns to align
signs), and each pair of numbers must agree at the printed precision:

    |actual - expected| <= unit + atol + rtol * |expected|

where `unit` is one unit in the last printed digit of the less precise of the two (so
0.3245 and 0.3244 agree, and 1., 1.0000 and 1.0000e+00 are the same number), and atol and
rtol are torch.testing's float32 defaults. Whole numbers without a point (shapes, counts)
must be equal, and so must a float printed as `2.` (torch prints that form only when every
value is integral).

Before that, both texts go through the output rules (`canonical`), always: the device of
an accelerator tensor (`, device='cuda:0'`), the name inside `grad_fn=<...>` and object
addresses (`at 0x7f3a...`) are not compared. Two rules apply only when the output fence
opts in (```output ellipsis unordered): `ellipsis` makes `...` in the expected text match
any text, across lines too (doctest's ELLIPSIS); `unordered` compares the items of every
`{...}` display (set, frozenset, dict) in any order. Pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

RTOL = Decimal("1.3e-6")
ATOL = Decimal("1e-5")

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|inf|nan)(?![\w.])")
_SPACE = re.compile(r"\s+")


# The words an ```output fence may carry (see `canonical` and `compare`).
OUTPUT_OPTIONS = ("ellipsis", "unordered")
ELLIPSIS = "..."

# Where a tensor lives is where the author ran it (a GPU), not what the code computes;
# `meta` and other devices say something about the tensor and stay.
_DEVICE = re.compile(r",\s*device='(?:cuda|mps|xpu|hpu|npu)(?::\d+)?'")
# The backward op's name changes with the torch version (AddmmBackward -> AddmmBackward0)
# and the backend (SDPA's flash or efficient kernel); that there is one is what counts.
_GRAD_FN = re.compile(r"grad_fn=<\w+>")
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+\b")


@dataclass(frozen=True)
class Comparison:
    """The verdict; `line` is the 0-based index of the first differing expected line."""

    matches: bool
    line: int
    diff: str


def normalise(text: str) -> str:
    """Line ends as LF, no trailing whitespace on lines, no trailing blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def canonical(text: str, options: Sequence[str] = ()) -> str:
    """`text` (normalised) with what the output rules do not compare made the same."""
    text = _DEVICE.sub("", text)
    text = _GRAD_FN.sub("grad_fn=<...>", text)
    text = _ADDRESS.sub("at 0x...", text)
    if "unordered" in options:
        text = unordered(text)
    return text


def compare(expected: str, actual: str, options: Sequence[str] = ()) -> Comparison:
    """Whether `actual` (what a block printed) matches `expected` (its output block, whose
    fence carries `options`), and where and how it differs."""
    want, got = normalise(expected), normalise(actual)
    if want == got:
        return Comparison(True, 0, "")
    want_rules, got_rules = canonical(want, options), canonical(got, options)
    if "ellipsis" in options and ELLIPSIS in want_rules:
        failed_at = ellipsis_mismatch(want_rules, got_rules)
        if failed_at is None:
            return Comparison(True, 0, "")
        line = min(want_rules[:failed_at].count("\n"), want.count("\n"))
        return Comparison(False, line, _diff(want, got))
    if want_rules == got_rules or similar(want_rules, got_rules):
        return Comparison(True, 0, "")
    line = min(_first_difference(want_rules, got_rules), want.count("\n"))
    return Comparison(False, line, _diff(want, got))


def _diff(want: str, got: str) -> str:
    return "".join(
        difflib.unified_diff(
            [line + "\n" for line in want.split("\n")] if want else [],
            [line + "\n" for line in got.split("\n")] if got else [],
            "expected",
            "actual",
        )
    )


def similar(expected: str, actual: str) -> bool:
    """Whether the texts agree under the number tolerance described above."""
    want_text, want_numbers = _split(expected)
    got_text, got_numbers = _split(actual)
    if want_text != got_text or len(want_numbers) != len(got_numbers):
        return False
    return all(close(w, g) for w, g in zip(want_numbers, got_numbers, strict=True))


def close(expected: str, actual: str) -> bool:
    """Whether two printed numbers agree at their printed precision."""
    if expected == actual:
        return True
    if _is_integer(expected) or _is_integer(actual):
        return False
    want, got = Decimal(expected), Decimal(actual)
    if not (want.is_finite() and got.is_finite()):
        return False
    unit = max(_unit(expected), _unit(actual))
    return abs(got - want) <= unit + ATOL + RTOL * abs(want)


def _split(text: str) -> tuple[list[str], list[str]]:
    pieces = _NUMBER.split(text)
    numbers = _NUMBER.findall(text)
    return [_SPACE.sub(" ", piece).strip() for piece in pieces], numbers


def _is_integer(token: str) -> bool:
    return token.lstrip("+-").isdigit()


def _unit(token: str) -> Decimal:
    """One unit in the last printed digit; 0 for torch's integral form `2.`."""
    mantissa, _, exponent = token.lower().partition("e")
    if mantissa.endswith(".") and not exponent:
        return Decimal(0)
    decimals = len(mantissa.partition(".")[2])
    return Decimal(1).scaleb(int(exponent or 0) - decimals)


def _first_difference(expected: str, actual: str) -> int:
    want, got = expected.split("\n"), actual.split("\n")
    for index, (w, g) in enumerate(zip(want, got, strict=False)):
        if w != g and not similar(w, g):
            return index
    return min(len(want), len(got)) if len(want) != len(got) else 0


def ellipsis_mismatch(expected: str, actual: str) -> int | None:
    """None when `actual` matches `expected` with each `...` standing for any text (also
    none, also across lines); else the index in `expected` of the piece that found no
    match. Pieces between the wildcards are found leftmost first, in order, as doctest
    finds them, each under the number tolerance and whitespace rules of `similar`."""
    pieces = expected.split(ELLIPSIS)
    position, offset = 0, 0
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        pattern = _piece_pattern(piece, first=index == 0, last=last)
        found = _find(pattern, piece, actual, position, anchored=index == 0)
        if found is None:
            return offset + len(piece) - len(piece.lstrip())
        position = found
        offset += len(piece) + len(ELLIPSIS)
    return None


def _find(
    pattern: re.Pattern[str], piece: str, actual: str, start: int, anchored: bool
) -> int | None:
    """The end of the first match of `pattern` at or after `start` whose numbers agree
    with the piece's at their printed precision; None if there is none."""
    numbers = _NUMBER.findall(piece)
    while start <= len(actual):
        match = pattern.match(actual, start) if anchored else pattern.search(actual, start)
        if match is None:
            return None
        if all(close(w, g) for w, g in zip(numbers, match.groups(), strict=True)):
            return match.end()
        if anchored:
            return None
        start = match.start() + 1
    return None


def _piece_pattern(piece: str, first: bool, last: bool) -> re.Pattern[str]:
    """A regex for one piece: its text literal with any run of whitespace for a run of
    whitespace (and optional next to a number or a wildcard), its numbers captured."""
    parts: list[str] = [] if first else [r"\s*"]
    texts = _NUMBER.split(piece)
    for index, text in enumerate(texts):
        words = text.split()
        edge_before = index > 0 or not first
        edge_after = index < len(texts) - 1 or not last
        joined = r"\s+".join(re.escape(word) for word in words)
        if words:
            parts.append((r"\s*" if text[:1].isspace() or edge_before else "") + joined)
            parts.append(r"\s*" if text[-1:].isspace() or edge_after else "")
        elif text:
            parts.append(r"\s*")
        if index < len(texts) - 1:
            parts.append(r"([-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|inf|nan))")
    parts.append(r"\s*\Z" if last else "")
    return re.compile("".join(parts))


_OPEN = {"{": "}", "[": "]", "(": ")"}


def unordered(text: str) -> str:
    """`text` with the top-level items of every `{...}` display sorted (nested ones too),
    so that two displays holding the same items in another order read the same. Items
    are split at commas outside brackets and quotes; a brace that does not close is
    left as it is."""
    out, _ = _unordered(text, 0, None)
    return out


def _unordered(text: str, start: int, closer: str | None) -> tuple[str, int]:
    """The text from `start` up to `closer` (or the end), its braces' items sorted, and
    the index just after that closer (len(text) + 1 when it never closes)."""
    parts: list[str] = []
    index = start
    while index < len(text):
        char = text[index]
        if char == closer:
            return "".join(parts), index + 1
        if char in "'\"":
            end = _string_end(text, index)
            parts.append(text[index:end])
            index = end
        elif char in _OPEN:
            inner, after = _unordered(text, index + 1, _OPEN[char])
            if after > len(text):  # never closed: the rest stays as written
                parts.append(text[index:])
                index = len(text)
                continue
            body = _sorted_items(inner) if char == "{" else inner
            parts.append(char + body + _OPEN[char])
            index = after
        else:
            parts.append(char)
            index += 1
    return "".join(parts), len(text) + 1


def _string_end(text: str, start: int) -> int:
    """The index after the quoted string that starts at `start` (or the line's end)."""
    quote, index = text[start], start + 1
    while index < len(text) and text[index] not in (quote, "\n"):
        index += 2 if text[index] == "\\" else 1
    return min(index + 1, len(text))


def _sorted_items(body: str) -> str:
    items = [_SPACE.sub(" ", item).strip() for item in _top_level_items(body)]
    return ", ".join(sorted(item for item in items if item))


def _top_level_items(body: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth, index = 0, 0
    while index < len(body):
        char = body[index]
        if char in "'\"":
            end = _string_end(body, index)
            current.append(body[index:end])
            index = end
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    items.append("".join(current))
    return items
