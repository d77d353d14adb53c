"""Every page is valid HTML: the Nu HTML Checker (vnu.jar) reports zero errors.

It checks each HTML page of the sample blog and of a generated 200-post blog that uses
every feature a post can (code, output blocks, math, footnotes, tables, task lists, raw
HTML, quotes, nested lists, links between posts, series, topics, pagination). `.ci/run`
installs vnu.jar (npm package vnu-jar) and sets VNU_JAR; without it the test skips
locally and fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BLOG_TOML, REPO, build, copy_sample

VNU_DEFAULT = REPO / ".ci/tools/node_modules/vnu-jar/build/dist/vnu.jar"
TOPICS = ["Attention", "PyTorch", "Feeds", "Musings", "Writing", "Café", "日本語", "C#"]


def _vnu() -> list[str]:
    jar = Path(os.environ.get("VNU_JAR") or VNU_DEFAULT)
    java = shutil.which("java")
    if jar.is_file() and java:
        return [java, "-jar", str(jar)]
    reason = f"the Nu HTML Checker needs java and {jar} (.ci/run installs both)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _errors(out: Path) -> tuple[int, list[str]]:
    """(pages checked, every error as `file:line: message`)."""
    pages = sorted(str(p) for p in out.rglob("*.html"))
    result = subprocess.run(
        [*_vnu(), "--errors-only", "--format", "json", "--exit-zero-always", *pages],
        capture_output=True,
        text=True,
        timeout=600,
    )
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [
        f"{m.get('url', '?').removeprefix('file:')}:{m.get('lastLine', '?')}: {m['message']}"
        for m in messages
        if m["type"] == "error" or m.get("subType") == "fatal"
    ]
    return len(pages), errors


def generated_post(number: int) -> str:
    """Post `number` of the generated blog: deterministic, and busy with features."""
    day = f"2025-{1 + number % 12:02d}-{1 + number % 28:02d} {number % 24:02d}:{number % 60:02d}"
    tags = sorted({TOPICS[number % len(TOPICS)], TOPICS[(number * 3) % len(TOPICS)]})
    series = f"\nseries: Series {number % 5}\npart: {number // 5 + 1}" if number % 3 == 0 else ""
    earlier = f"/2025/{1 + (number - 1) % 12:02d}/post-{number - 1}/" if number else "/"
    return f"""---
title: "Post {number}: <attention> & \\"quotes\\" — part {number}"
date: {day}
tags: [{", ".join(f'"{t}"' for t in tags)}]
summary: "Summary {number} with <b>markup</b> & ampersands"
slug: post-{number}{series}
{IMAGES[number % 3]}
---
Intro to post {number} with *emphasis*, `code`, $x_{number}^2$ and a note.[^1]

<!--more-->

## Heading

## Heading

See [the previous post]({earlier}) and [this heading](#heading-2).

```python
import torch
x = torch.ones({number % 4 + 1})
print(x.sum())
```

```output
tensor({number % 4 + 1}.)
```

```unknownlang
<raw> & "text"
```

$$
\\frac{{a_{number}}}{{b}} = \\sum_{{i=1}}^{{n}} i
$$

| col | value |
|-----|------:|
| a   | {number} |

- [x] done
- [ ] todo
  - nested *item*
    1. deeper

> A quote with **bold**
> > and a nested one

<div class="note">Raw <em>HTML</em> block</div>

Line with trailing break and a <kbd>Ctrl</kbd>-<kbd>C</kbd>.

~~strike~~ and a [link](https://example.com/?a=1&b=2).

[^1]: The note for post {number}.
"""


# A card of the post's own (a site path, an https URL) or, for a third of them, none.
IMAGES = ("image: /assets/card.png", "image: https://cdn.example.org/card?a=1&b=<2>", "")


@pytest.fixture(scope="module")
def generated_blog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    (root / "blog.toml").write_text(BLOG_TOML, encoding="utf-8")
    (root / "posts").mkdir()
    (root / "static/assets").mkdir(parents=True)
    (root / "static/assets/card.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for number in range(200):
        (root / f"posts/post-{number}.md").write_text(generated_post(number), encoding="utf-8")
    return root


@pytest.mark.slow
def test_sample_blog_pages_are_valid_html(tmp_path: Path) -> None:
    result = build(copy_sample(tmp_path / "site"), "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    pages, errors = _errors(tmp_path / "out")
    print(f"Nu HTML Checker: sample blog, {pages} pages, {len(errors)} errors")
    assert pages >= 20
    assert errors == []


@pytest.mark.slow
def test_generated_200_post_blog_pages_are_valid_html(generated_blog: Path) -> None:
    out = generated_blog / "public"
    result = build(generated_blog, "--out", str(out))
    assert result.code == 0, result.err
    pages, errors = _errors(out)
    print(f"Nu HTML Checker: generated blog, {pages} pages, {len(errors)} errors")
    assert pages > 200
    assert errors == [], "\n".join(errors[:50])


MATH_POST = """---
title: "Every math form"
date: 2026-01-01
---
Inline $a_1$, $$b^2$$, \\(c\\_1\\) and \\[d\\]; shown as source: $x^$ and $$\\left( y$$.

## Explicit {#explicit-id}

\\[
\\begin{aligned} f &= \\begin{cases} 1 & x > 0 \\\\ 0 & \\text{else} \\end{cases} \\end{aligned}
\\]

$$
\\E[x] = \\Var(y)
$$

- an item
  \\[
  z^
  \\]

> \\[
> w^
> \\]

Setext {#setext}\n----------------
"""


@pytest.mark.slow
def test_every_math_form_and_tex_shown_as_source_are_valid_html(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "posts").mkdir(parents=True)
    (root / "blog.toml").write_text(BLOG_TOML, encoding="utf-8")
    (root / "posts/math.md").write_text(MATH_POST, encoding="utf-8")
    result = build(root, "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert result.err.count("warning: TeX shown as source") == 5, result.err
    post = (tmp_path / "out/2026/01/math/index.html").read_text(encoding="utf-8")
    assert post.count("<math ") == 5 and post.count('class="math-source"') == 5
    pages, errors = _errors(tmp_path / "out")
    assert pages >= 5
    assert errors == []


@pytest.mark.slow
def test_checker_does_report_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><html lang=en><title>x</title><p id=a><div id=a></p>\n")
    pages, errors = _errors(tmp_path)
    assert pages == 1
    assert any("Duplicate ID" in e for e in errors), errors


@pytest.mark.slow
def test_redirect_pages_of_aliases_are_valid_html(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "posts").mkdir(parents=True)
    (root / "blog.toml").write_text(BLOG_TOML + 'language = "de"\n', encoding="utf-8")
    (root / "posts/a.md").write_text(
        '---\ntitle: "Moved <here> & \\"there\\""\ndate: 2026-01-02\n'
        "aliases: [/2015/05/21/old/, /old/two, /old/three.html]\n---\nBody.\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = build(root, "--out", str(out))
    assert result.code == 0, result.err
    pages, errors = _errors(out / "old")
    _, more = _errors(out / "2015")
    print(f"Nu HTML Checker: {pages + 1} redirect pages, {len(errors + more)} errors")
    assert pages == 2 and errors + more == []
