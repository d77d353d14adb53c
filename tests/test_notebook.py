"""`blogkeeper new --from NOTEBOOK.ipynb`: notebooks written for these tests, every cell and
output kind, imported, built (lxml on the page) and checked with real torch."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BLOG_TOML, run_cli
from lxml import html

from blogkeeper.fences import scan
from blogkeeper.notebook import RELATIVE_LINKS, notebook_post

MakeSite = Callable[..., Path]

# A real 1x1 PNG (the smallest a decoder accepts).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    '<rect width="10" height="10"/></svg>\n'
)


def md(source: str, **extra: Any) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source, **extra}


def code(source: str, *outputs: dict[str, Any], tags: tuple[str, ...] = ()) -> dict[str, Any]:
    metadata = {"tags": list(tags)} if tags else {}
    lines = source.splitlines(keepends=True)  # nbformat's list-of-lines form
    return {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": metadata,
        "outputs": list(outputs),
        "source": lines,
    }


def stdout(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text.splitlines(keepends=True)}


def stderr(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stderr", "text": text}


def result(text: str) -> dict[str, Any]:
    return {
        "output_type": "execute_result",
        "execution_count": 1,
        "data": {"text/plain": text},
        "metadata": {},
    }


def display(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": {}}


def error(name: str, value: str) -> dict[str, Any]:
    trace = [f"\x1b[0;31m{name}\x1b[0m: {value}"]
    return {"output_type": "error", "ename": name, "evalue": value, "traceback": trace}


def notebook(*cells: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    meta = {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {**meta, **metadata},
        "cells": list(cells),
    }


# Every cell and output kind; the recorded outputs are what a notebook run on a GPU with an
# older torch saved, as a course's notebooks are.
TOUR = notebook(
    md("<p>Course header</p>"),
    md(
        "# Attention, checked\n\nWe build a tiny thing. See ![a dot](attachment:dot.png).",
        attachments={"dot.png": {"image/png": base64.b64encode(PNG).decode()}},
    ),
    md("An example not meant to run:\n\n```python\nmodel.fit(data)\n```"),
    {"cell_type": "raw", "metadata": {}, "source": "raw text, shown as it is"},
    code(
        "%matplotlib inline\nimport torch\nprint('torch version:', torch.__version__)",
        stdout("torch version: 2.4.0\n"),
    ),
    code(
        "x = torch.tensor([1., 2.], requires_grad=True)\ny = (x * 2).sum()\nprint(y)",
        stderr("UserWarning: something on stderr\n"),
        stdout("tensor(6., device='cuda:0', grad_fn=<SumBackward>)\n"),
    ),
    code("print('shape:')\nx.shape", stdout("shape:\n"), result("torch.Size([2])")),
    code("type(x)", result("torch.Tensor")),
    code("print(object())", stdout("<object object at 0x7f3a2c1b5e50>\n")),
    code(
        "print('before')\ntorch.ones(2) @ torch.ones(3)",
        stdout("before\n"),
        error("RuntimeError", "inconsistent tensor size"),
    ),
    code(
        "print('plot')",
        stdout("plot\n"),
        display({"image/png": base64.b64encode(PNG).decode(), "text/plain": "<Figure>"}),
        display({"image/svg+xml": SVG.splitlines(keepends=True), "text/plain": "<Figure>"}),
    ),
    code(
        "import requests\nprint(requests.get('https://example.org').status_code)",
        stdout("200\n"),
        tags=("skip",),
    ),
    code(
        "import sys\nfor p in (10, 50, 100):\n    print(f'{p}%', end='\\r', file=sys.stderr)\n"
        "print('done')",
        stderr("10%\r50%\r100%\r"),
        display({"text/plain": "HBox(children=(FloatProgress(value=0.0),))"}),
        stdout("done\n"),
    ),
    code("%timeit sum(range(10))", stdout("95.1 ns ± 0.3 ns per loop\n")),
    code("   \n"),
)


def test_every_cell_kind_becomes_the_post_check_code_reads() -> None:
    post = notebook_post(TOUR, "tour.ipynb", "2026-12-03 10:00", "/notebooks/tour/")
    assert post.title == "Attention, checked"
    assert post.text.startswith(
        '---\ntitle: "Attention, checked"\ndate: 2026-12-03 10:00\ndraft: true\ntags: []\n'
        "check_code: true\n---\n<p>Course header</p>\n\nWe build a tiny thing."
    )
    lines = post.text.split("\n")
    fences = [(f.lang, f.options, f.code) for f in scan(lines)]
    assert fences == [
        ("python", ("skip",), "model.fit(data)\n"),
        ("", (), "raw text, shown as it is\n"),
        (
            "python",
            (),
            "# %matplotlib inline\nimport torch\nprint('torch version:', torch.__version__)\n",
        ),
        ("output", (), "torch version: 2.4.0\n"),
        (
            "python",
            (),
            "x = torch.tensor([1., 2.], requires_grad=True)\ny = (x * 2).sum()\nprint(y)\n",
        ),
        ("output", (), "tensor(6., device='cuda:0', grad_fn=<SumBackward>)\n"),
        ("python", ("show-last",), "print('shape:')\nx.shape\n"),
        ("output", (), "shape:\ntorch.Size([2])\n"),
        ("python", ("show-last",), "type(x)\n"),
        ("output", (), "torch.Tensor\n"),
        ("python", (), "print(object())\n"),
        ("output", (), "<object object at 0x7f3a2c1b5e50>\n"),
        ("python", ("raises=RuntimeError",), "print('before')\ntorch.ones(2) @ torch.ones(3)\n"),
        ("output", (), "before\n"),
        ("python", (), "print('plot')\n"),
        ("output", (), "plot\n"),
        (
            "python",
            ("skip",),
            "import requests\nprint(requests.get('https://example.org').status_code)\n",
        ),
        ("output", (), "200\n"),
        (
            "python",
            (),
            "import sys\nfor p in (10, 50, 100):\n"
            "    print(f'{p}%', end='\\r', file=sys.stderr)\nprint('done')\n",
        ),
        ("output", (), "done\n"),
        # IPython printed this output, not the code: shown, not run
        ("python", ("skip",), "# %timeit sum(range(10))\n"),
        ("output", (), "95.1 ns ± 0.3 ns per loop\n"),
    ]
    assert "UserWarning" not in post.text  # stderr is not stdout
    assert "HBox" not in post.text
    assert "![a dot](/notebooks/tour/cell-2-attachment-1.png)" in post.text
    assert (
        "```\n\n![Figure 1 made by the code above](/notebooks/tour/cell-11-1.png)\n\n"
        "![Figure 2 made by the code above](/notebooks/tour/cell-11-2.svg)\n" in post.text
    )
    assert post.images == {
        "cell-2-attachment-1.png": PNG,
        "cell-11-1.png": PNG,
        "cell-11-2.svg": SVG.encode(),
    }
    assert post.counts == {
        "code cells": 10,  # the empty cell is left out
        "output blocks": 10,
        "images": 3,
        "cells tagged skip": 1,
        "IPython magics commented out": 2,
        "cells whose output an IPython magic printed, kept with skip": 1,
        "python examples in Markdown marked skip": 1,
        "stderr outputs left out": 2,
        "display outputs without an image left out": 1,
    }


def test_printed_text_is_shown_as_a_terminal_showed_it() -> None:
    nb = notebook(code("progress()", stdout("10%\r50%\r100%\r\n\x1b[32mdone\x1b[0m\x07\n")))
    lines = notebook_post(nb, "x.ipynb", "2026-12-03", "/").text.split("\n")
    assert [f.code for f in scan(lines)][1] == "100%\ndone\n"  # no escapes: a post cannot hold them


def test_links_to_files_beside_the_notebook_are_counted() -> None:
    nb = notebook(
        md(
            "See [the script](./gpt.py), [chapter 3](../ch03.ipynb) and "
            '<img src="figures/a.png">; [the book](https://example.org), [above](#top).\n\n'
            "```python\n# [not a link](./x.py)\n```"
        )
    )
    post = notebook_post(nb, "x.ipynb", "2026-12-03", "/")
    assert post.counts[RELATIVE_LINKS] == 3


def test_a_py_example_in_markdown_is_marked_skip() -> None:
    nb = notebook(md("```py\nmodel.fit(data)\n```\n\n```python3 skip\nrun()\n```"))
    post = notebook_post(nb, "x.ipynb", "2026-12-03", "/")
    fences = [(f.lang, f.options) for f in scan(post.text.split("\n"))]
    assert fences == [("py", ("skip",)), ("python3", ("skip",))]
    assert post.counts["python examples in Markdown marked skip"] == 1


def test_title_from_metadata_then_heading_then_file_name() -> None:
    with_meta = notebook(md("# Heading"), title="From metadata", tags=["LLM"], summary="S.")
    post = notebook_post(with_meta, "x.ipynb", "2026-12-03", "/")
    assert post.title == "From metadata"
    assert 'tags: ["LLM"]\nsummary: "S."\n' in post.text
    assert "# Heading" in post.text  # kept: it was not the title
    no_heading = notebook(md("Just text"), code("print(1)"), md("# Later heading"))
    assert (
        notebook_post(no_heading, "dir/my_notes-1.ipynb", "2026-12-03", "/").title == "my notes 1"
    )


def test_a_printed_fence_gets_a_longer_output_fence() -> None:
    nb = notebook(code("print('```')", stdout("```\n")))
    lines = notebook_post(nb, "x.ipynb", "2026-12-03", "/").text.split("\n")
    assert [(f.lang, f.code) for f in scan(lines)] == [
        ("python", "print('```')\n"),
        ("output", "```\n"),
    ]


# --- the command ---------------------------------------------------------------------


def write_notebook(folder: Path, data: Any, name: str = "tour.ipynb") -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_new_from_writes_post_and_images_and_never_overwrites(
    make_site: MakeSite, tmp_path: Path
) -> None:
    root = make_site({})
    source = write_notebook(tmp_path, TOUR)
    made = run_cli("new", "--from", source, "--site", root)
    assert made.code == 0, made.err
    [post] = (root / "posts").glob("*-attention-checked.md")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d-attention-checked\.md", post.name)
    assert f"created posts/{post.name} from {source}" in made.out
    assert "  3 images\n" in made.out and "alt text" in made.out
    images = root / "static/notebooks/attention-checked"
    assert sorted(p.name for p in images.iterdir()) == [
        "cell-11-1.png",
        "cell-11-2.svg",
        "cell-2-attachment-1.png",
    ]
    before = post.read_bytes()
    again = run_cli("new", "--from", source, "--site", root)
    assert again.code == 1
    assert f"posts/{post.name}: exists already (blogkeeper never overwrites)" in again.err
    assert post.read_bytes() == before
    titled = run_cli("new", "Another name", "--from", source, "--site", root)
    assert titled.code == 0, titled.err
    [other] = (root / "posts").glob("*-another-name.md")
    assert other.read_text().startswith('---\ntitle: "Another name"\n')


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"tour\.ipynb:1: not a notebook: invalid JSON"),
        ("[1, 2]", r"tour\.ipynb: not a notebook: no `cells` list \(nbformat 4 is read\)"),
        (
            json.dumps({"nbformat": 3, "cells": []}),
            r"tour\.ipynb: nbformat 3 is not supported \(4 is\) \(convert it: jupyter nbconvert",
        ),
        (
            json.dumps(notebook({"cell_type": "code", "source": 5, "outputs": []})),
            r"tour\.ipynb: cell 1: `source` is not text or a list of text",
        ),
        (
            json.dumps(notebook({"cell_type": "widget"})),
            r"tour\.ipynb: cell 1: not a code, markdown or raw cell",
        ),
        (
            json.dumps(notebook(code("print(1)", {"no": "type"}))),
            r"tour\.ipynb: cell 1: `outputs` is not a list of outputs",
        ),
        (
            json.dumps(notebook(code("x", display({"image/png": "###"})))),
            r"tour\.ipynb: cell 1: its image/png output is not base64",
        ),
        (
            json.dumps(notebook(code("x"), kernelspec={"name": "ir", "language": "R"})),
            r"tour\.ipynb: not a Python notebook \(its language is r\)",
        ),
    ],
)
def test_a_bad_notebook_is_an_error_naming_it(
    make_site: MakeSite, tmp_path: Path, content: str, message: str
) -> None:
    root = make_site({})
    source = write_notebook(tmp_path, content)
    made = run_cli("new", "--from", source, "--site", root)
    assert made.code == 1
    assert "Traceback" not in made.err
    assert re.search(message, made.err), made.err
    assert list((root / "posts").glob("*")) == [] if (root / "posts").exists() else True


def test_a_missing_notebook_and_no_title_are_errors(make_site: MakeSite, tmp_path: Path) -> None:
    root = make_site({})
    missing = run_cli("new", "--from", tmp_path / "nope.ipynb", "--site", root)
    assert missing.code == 1
    assert "nope.ipynb: cannot read: No such file or directory" in missing.err
    neither = run_cli("new", "--site", root)
    assert neither.code == 2
    assert "give a TITLE or --from NOTEBOOK" in neither.err


# --- end to end: imported, checked with torch, built ------------------------------------


@pytest.mark.torch
@pytest.mark.slow
def test_an_imported_notebook_is_checked_with_torch_and_built(
    make_site: MakeSite, tmp_path: Path
) -> None:
    root = make_site({}, BLOG_TOML.replace("blog.example.org/", "blog.example.org/sub/"))
    made = run_cli("new", "--from", write_notebook(tmp_path, TOUR), "--site", root)
    assert made.code == 0, made.err
    [post] = (root / "posts").glob("*.md")
    checked = run_cli("check-code", "--site", root, timeout=300)
    # Only the version line differs: the notebook ran torch 2.4.0. Every other recorded
    # output matches what torch prints here (device, grad_fn name, address, a shown value,
    # the class, stdout before the expected error).
    assert checked.out.strip().splitlines()[-1] == "7 passed, 1 failed, 3 skipped", checked.out
    text = post.read_text()
    line = text.split("\n").index("torch version: 2.4.0") + 1
    assert f"posts/{post.name}:{line}: output differs from the post" in checked.out
    # What the author does: a wildcard, opted in on the fence.
    post.write_text(
        text.replace("```output\ntorch version: 2.4.0", "```output ellipsis\ntorch version: ...")
    )
    checked = run_cli("check-code", "--site", root, timeout=300)
    assert checked.code == 0, checked.out + checked.err
    assert checked.out.strip().splitlines()[-1] == "8 passed, 0 failed, 3 skipped"

    built = run_cli("build", "--site", root, "--drafts", "--future", "--require-checked")
    assert built.code == 0, built.err
    [page_path] = (root / "public").glob("*/*/attention-checked/index.html")
    page = html.parse(str(page_path)).getroot()
    images = page.xpath("//main//img")
    sources = [img.get("src") for img in images]
    assert sources == [
        "/sub/notebooks/attention-checked/cell-2-attachment-1.png",
        "/sub/notebooks/attention-checked/cell-11-1.png",
        "/sub/notebooks/attention-checked/cell-11-2.svg",
    ]
    assert [img.get("alt") for img in images][1:] == [
        "Figure 1 made by the code above",
        "Figure 2 made by the code above",
    ]
    for src in sources:
        assert (root / "public" / src.removeprefix("/sub/")).is_file()
    text = " ".join(page.text_content().split())
    assert "8 of 11 code blocks checked (3 skipped) with torch" in text
    assert text.count("Output checked with torch") == 8  # not the skipped block's
    outputs = page.xpath("//pre[@class='output']")
    assert outputs[0].text_content() == "torch version: ...\n"
