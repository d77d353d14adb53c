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
value is integral). Pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from decimal import Decimal

RTOL = Decimal("1.3e-6")
ATOL = Decimal("1e-5")

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|inf|nan)(?![\w.])")
_SPACE = re.compile(r"\s+")


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


def compare(expected: str, actual: str) -> Comparison:
    want, got = normalise(expected), normalise(actual)
    if want == got or similar(want, got):
        return Comparison(True, 0, "")
    diff = "".join(
        difflib.unified_diff(
            [line + "\n" for line in want.split("\n")] if want else [],
            [line + "\n" for line in got.split("\n")] if got else [],
            "expected",
            "actual",
        )
    )
    return Comparison(False, _first_difference(want, got), diff)


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
