"""Property tests: any post text builds to a sound site or fails with errors naming the post.

Hypothesis writes hostile posts (control characters, a BOM, CR and CRLF line ends, lone
surrogates as they arrive in files — undecodable bytes or YAML escapes — very long lines,
deep nesting of lists, quotes and HTML, stray fences, math and links) and runs the whole
build in-process: `build_site`, then the writer into a temporary folder. The only allowed
outcomes are a written site whose feeds parse with a strict XML parser and whose files all
lie inside the output folder, or a `BuildError` whose every error names a post file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import lxml.etree
from conftest import BLOG_TOML, now, post
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from blogkeeper.build import build_site
from blogkeeper.errors import BuildError
from blogkeeper.model import BuildOptions
from blogkeeper.writer import check_output_dir, write_site

EXAMPLES = 100

TOKENS = [
    "\r\n",
    "\r",
    "\n",
    "\n\n",
    "\ufeff",
    "\x00",
    "\x08",
    "\x0c",
    "\x1b",
    "\x7f",
    "\u2028",
    "\ufffe",
    "\uffff",
    "😀",
    "<!--more-->\n",
    "```python\n",
    "```\n",
    "~~~\n",
    "    code\n",
    "$x^2$",
    "$$\n",
    "\\$",
    "\\(",
    "\\)",
    "\\[\n",
    "\\]",
    "\\_",
    "\\begin{aligned}",
    " {#x}\n",
    "## h {#x}\n",
    "<a ",
    "<div>",
    "</div>",
    '<p m="1"',
    "<script>alert(1)</script>",
    "&amp;",
    "&",
    "]]>",
    '"',
    "'",
    "`",
    "*",
    "_",
    "[^1]",
    "[^1]: note\n",
    "[link](#nowhere)",
    "[ok](https://example.com/)",
    "![i](pic.png)",
    "# Head\n",
    "| a | b |\n|---|---|\n",
    "- [ ] task\n",
    "---\n",
    "<!-- c -->",
    "\t",
]

# Any character but a lone surrogate; those come now and then, on purpose, below.
chars = st.characters(exclude_categories=["Cs"])
pieces = st.one_of(
    st.text(chars, max_size=40),
    st.sampled_from(TOKENS),
    st.sampled_from(TOKENS),  # twice: hostile tokens matter more than random text
    st.integers(1, 80).map(lambda n: "".join("  " * i + "- x\n" for i in range(n))),
    st.integers(1, 80).map(lambda n: ">" * n + " q\n"),
    st.integers(1, 80).map(lambda n: "".join("> " * i + "* y\n" for i in range(n))),
    st.integers(1, 120).map(lambda n: "<div>" * n + "t" + "</div>" * n),
    st.integers(1_000, 100_000).map(lambda n: "ab " * (n // 3) + "\n"),
)
bodies = st.lists(pieces, max_size=25).map("".join)
surrogates = st.sampled_from(["\ud800", "\udfff", "\udc80x"])


@st.composite
def post_files(draw: st.DrawFn) -> bytes:
    """One post file's bytes, as an editor on any system might have saved it."""
    title = draw(st.text(chars, min_size=1, max_size=30))
    if draw(st.sampled_from(range(10))) == 9:
        title += "\ud800"
    tags = draw(st.lists(st.text(chars, min_size=1, max_size=10), max_size=3))
    text = "\n".join(
        [
            "---",
            f"title: {json.dumps(title)}",  # a JSON string is YAML: \ud800 escapes included
            "date: 2026-01-02",
            f"tags: {json.dumps(tags)}",
            "---",
            draw(bodies) + (draw(surrogates) if draw(st.sampled_from(range(10))) == 9 else ""),
        ]
    )
    text = {"lf": text, "crlf": text.replace("\n", "\r\n"), "cr": text.replace("\n", "\r")}[
        draw(st.sampled_from(["lf", "crlf", "cr"]))
    ]
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates become undecodable bytes
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.sampled_from(range(10))) == 9:  # now and then, a damaged file
        data += draw(st.binary(min_size=1, max_size=4))
    return data


def _strict_xml(data: bytes) -> None:
    parser = lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    lxml.etree.fromstring(data, parser)


def _build_into(root: Path, out: Path) -> list[str] | None:
    """Build and write the site; the paths the errors name, or None on success."""
    try:
        outputs = build_site(root, BuildOptions(now=now()))
        write_site(outputs, check_output_dir(out, root))
    except BuildError as exc:
        for error in exc.errors:
            event(error.message.split(" at ")[0][:28])
        return [e.path for e in exc.errors]
    return None


def _check_written(out: Path) -> int:
    real = out.resolve()
    feeds = 0
    for folder, dirs, files in os.walk(out):
        for name in dirs + files:
            path = Path(folder, name)
            assert not path.is_symlink(), path
            assert path.resolve().is_relative_to(real), path
        for name in files:
            if name.endswith(".xml"):
                _strict_xml(Path(folder, name).read_bytes())
                feeds += 1
    return feeds


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile=post_files(), second=post_files())
def test_any_post_text_builds_or_fails_naming_the_post(hostile: bytes, second: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "site")
        (root / "posts/sub").mkdir(parents=True)
        (root / "blog.toml").write_text(BLOG_TOML, encoding="utf-8")
        (root / "posts/hostile.md").write_bytes(hostile)
        (root / "posts/sub/second.md").write_bytes(second)
        (root / "posts/plain.md").write_text(post("Plain", "2026-01-01"), encoding="utf-8")
        out = Path(tmp, "public")
        named = _build_into(root, out)
        event("built" if named is None else "BuildError")
        if named is not None:
            assert named, "a BuildError without errors"
            assert set(named) <= {"posts/hostile.md", "posts/sub/second.md"}, named
            assert not out.exists()
            return
        assert (out / "index.html").is_file()
        assert _check_written(out) >= 2  # at least the site's RSS and Atom feeds


def test_escaped_surrogate_pair_in_front_matter_is_one_character(
    make_site: Callable[..., Path],
) -> None:
    title = json.dumps("Tea \U0001f375")  # "Tea \ud83c\udf75": JSON's escape, valid YAML
    text = f"---\ntitle: {title}\ndate: 2026-01-02\ntags: [{title}]\n---\nHi.\n"
    root = make_site({"posts/a.md": text})
    outputs = {o.path: o.data for o in build_site(root, BuildOptions(now=now()))}
    assert "Tea \U0001f375".encode() in outputs["2026/01/a/index.html"]
    assert "Tea \U0001f375".encode() in outputs["feed/rss.xml"]
