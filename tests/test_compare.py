"""The output rules of compare.py: each with outputs that must match and outputs that must not."""

from __future__ import annotations

import pytest

from blogkeeper.compare import canonical, compare, ellipsis_mismatch, unordered


def matches(expected: str, actual: str, *options: str) -> bool:
    return compare(expected, actual, options).matches


# --- device= and grad_fn=<...> in tensor reprs: always ---------------------------------

GPU = """\
tensor([[0.4772, 0.1063],
        [0.5891, 0.3257]], device='cuda:0')"""
CPU = """\
tensor([[0.4772, 0.1063],
        [0.5891, 0.3257]])"""


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        (GPU, CPU),
        ("tensor([1., 2.], device='mps:0')", "tensor([1., 2.])"),
        (
            "tensor(3.5000, device='cuda:1', grad_fn=<SumBackward0>)",
            "tensor(3.5000, grad_fn=<SumBackward0>)",
        ),
        # torch renamed backward ops (AddmmBackward -> AddmmBackward0), and SDPA's name
        # depends on the kernel the machine picked
        ("tensor([0.1000], grad_fn=<AddmmBackward>)", "tensor([0.1000], grad_fn=<AddmmBackward0>)"),
        (
            "tensor([1.], grad_fn=<ScaledDotProductEfficientAttentionBackward0>)",
            "tensor([1.], grad_fn=<ScaledDotProductFlashAttentionForCpuBackward0>)",
        ),
    ],
)
def test_device_and_grad_fn_names_are_not_compared(expected: str, actual: str) -> None:
    assert matches(expected, actual)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        # whether autograd tracks the tensor is part of what the code computed
        ("tensor([1., 2.], grad_fn=<AddBackward0>)", "tensor([1., 2.])"),
        ("tensor([1., 2.], grad_fn=<AddBackward0>)", "tensor([1., 2.], requires_grad=True)"),
        # the values still count, device or not
        (GPU, CPU.replace("0.4772", "0.4790")),
        # a meta tensor is not a CPU tensor; only accelerators are where the author ran it
        ("tensor(..., device='meta', size=(2,))", "tensor(..., size=(2,))"),
        # printing a device is output like any other
        ("device: cuda:0", "device: cpu"),
    ],
)
def test_tensor_rules_keep_what_the_code_computed(expected: str, actual: str) -> None:
    assert not matches(expected, actual)


# --- object addresses: always ------------------------------------------------------------


def test_object_addresses_are_not_compared() -> None:
    assert matches(
        "<__main__.Net object at 0x7f3a2c1b5e50>", "<__main__.Net object at 0x55d0c0ffee10>"
    )
    assert matches(
        "[<matplotlib.lines.Line2D at 0x7f8b1c0d2a90>]", "[<matplotlib.lines.Line2D at 0x1234>]"
    )


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("<__main__.Net object at 0x7f3a>", "<__main__.Head object at 0x7f3a>"),
        ("id: 0x7f3a", "id: 0x7f3b"),  # a hex number that is not an object's address
        ("<Net object at 0x7f3a>", "<Net object>"),
    ],
)
def test_addresses_rule_covers_only_addresses(expected: str, actual: str) -> None:
    assert not matches(expected, actual)


# --- the ... wildcard: only with `ellipsis` on the output fence ----------------------------


def test_a_version_line_matches_with_the_wildcard() -> None:
    assert matches("torch version: ...", "torch version: 2.13.0+cpu", "ellipsis")
    assert not matches("torch version: ...", "torch version: 2.13.0+cpu")  # never implicit


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("start\n...\nend", "start\nline 1\nline 2\nend"),  # across lines
        ("start ...end", "start end"),  # nothing at all
        ("...", "anything\nat all"),
        ("loss: ...\nacc: 0.9123", "loss: 2.7\nacc: 0.9122"),  # numbers keep their tolerance
        ("a ... b ... c", "a 1 b 2 c"),
        ("tensor([0.1000, ..., 0.9000])", "tensor([0.1000, 0.2000, 0.9000])"),
        ("x =   1 ...", "x = 1, y = 2"),  # whitespace as without the wildcard
    ],
)
def test_the_wildcard_matches_any_text(expected: str, actual: str) -> None:
    assert matches(expected, actual, "ellipsis")


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("torch version: ...", "numpy version: 2.1"),  # text before it still counts
        ("... end", "the end is not here"),  # text after it must end the output
        ("loss: ...\nacc: 0.9123", "loss: 2.7\nacc: 0.9200"),  # numbers still compared
        ("a ... b ... c", "a 1 c 2 b"),  # pieces in order
        ("start\n...\nend", "begin\nx\nend"),
        ("x ... y", "x y z"),
    ],
)
def test_the_wildcard_does_not_match(expected: str, actual: str) -> None:
    assert not matches(expected, actual, "ellipsis")


def test_a_wildcard_mismatch_names_the_line_that_failed() -> None:
    verdict = compare("a ...\nb 0.3245\n...end", "a xx\nyy\nb 0.3247\nzz end", ("ellipsis",))
    assert not verdict.matches
    assert verdict.line == 1
    assert "-b 0.3245" in verdict.diff and "+b 0.3247" in verdict.diff
    assert ellipsis_mismatch("a ...\nb 1", "a x\nb 1") is None


# --- unordered: {...} displays compared as collections, only when asked --------------------


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("{'b', 'a', 'c'}", "{'c', 'a', 'b'}"),
        ("frozenset({'y', 'x'})", "frozenset({'x', 'y'})"),
        ("{'b': 1, 'a': 2}", "{'a': 2, 'b': 1}"),
        ("vocab: {'x': {2, 1}, 'y': [1, 2]}", "vocab: {'y': [1, 2], 'x': {1, 2}}"),  # nested
        ("{'a,b', 'c'}", "{'c', 'a,b'}"),  # a comma in a string is no separator
        ("{'w': 0.3245}", "{'w': 0.3244}"),  # numbers keep their tolerance
        ("{'a',\n 'b'}", "{'b', 'a'}"),  # wrapped by a pretty printer
    ],
)
def test_unordered_compares_braces_as_collections(expected: str, actual: str) -> None:
    assert matches(expected, actual, "unordered")


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("{'a': 1, 'b': 2}", "{'a': 2, 'b': 1}"),  # a key keeps its value
        ("{'a', 'b'}", "{'a', 'b', 'c'}"),
        ("{'a', 'a', 'b'}", "{'a', 'b'}"),  # counts count
        ("['b', 'a']", "['a', 'b']"),  # lists and tuples keep their order
        ("('b', 'a')", "('a', 'b')"),
        ("{'a': [2, 1]}", "{'a': [1, 2]}"),
    ],
)
def test_unordered_keeps_what_order_and_pairs_mean(expected: str, actual: str) -> None:
    assert not matches(expected, actual, "unordered")


def test_order_counts_without_the_option() -> None:
    assert not matches("{'b', 'a'}", "{'a', 'b'}")
    assert not matches("{'b': 1, 'a': 2}", "{'a': 2, 'b': 1}")


def test_unordered_leaves_an_unclosed_brace_and_quotes_alone() -> None:
    assert unordered("{'b', 'a'} and {never closed, x") == "{'a', 'b'} and {never closed, x"
    assert unordered("print('}{')") == "print('}{')"
    assert canonical("{'b', 'a'}") == "{'b', 'a'}"


def test_plain_comparison_is_unchanged() -> None:
    assert matches("0.3245", "0.3244")
    assert not matches("0.3245", "0.3247")
    assert not matches("3", "3.0")
