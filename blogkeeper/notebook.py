"""`blogkeeper new --from NOTEBOOK.ipynb`: a Jupyter notebook (nbformat 4) as a checked post.

Markdown cells become Markdown; code cells become ```python blocks; what a cell printed
to stdout and the text of its last expression's value (`execute_result`) become the
```output block after it; an `error` output becomes `raises=Name`; PNG, JPEG and SVG
outputs (and Markdown cells' attachments) become image files under
`static/notebooks/SLUG/`, shown after the output block. stderr streams, and display
outputs that carry no image, are left out: they are not what the code prints to stdout.

`notebook_post` is pure (a parsed notebook in, the post's text and image files out);
`import_notebook` reads the file and writes the post, never over an existing file.
"""

from __future__ import annotations

import ast
import base64
import binascii
import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blogkeeper.config import load_config
from blogkeeper.content import slugify
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.fences import fence_marker, scan
from blogkeeper.skeleton import new_post_file

IMAGES_DIR = "notebooks"  # under static/: copied to the site root as it is
# Cell tags that keep a cell in the post but out of check-code's run (`skip`):
# `skip-execution` is nbclient's and jupyter-book's name for the same thing.
SKIP_TAGS = ("skip", "skip-check", "skip-execution")
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}
MAX_NOTEBOOK_BYTES = 64 << 20
ALT_TEXT = "Figure {n} made by the code above"

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# An IPython line magic, cell magic or shell escape: not Python, so check-code cannot run it.
_MAGIC = re.compile(r"^(\s*)([%!].*)$")
# Magics that set up and print nothing; any other (`%timeit`, `%%time`, `!pip`) prints.
QUIET_MAGICS = (
    "matplotlib",
    "load_ext",
    "reload_ext",
    "autoreload",
    "aimport",
    "config",
    "capture",
)
# Links and images in Markdown or HTML; one to a file beside the notebook (`./gpt.py`,
# `../ch03.ipynb`) is not imported, and `build` refuses it until it is fixed.
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)|(?:href|src)\s*=\s*[\"']([^\"']*)[\"']")
_ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|#|/|$)")
RELATIVE_LINKS = "links to files beside the notebook, not imported: fix them before `build`"
_ATTACHMENT = re.compile(r"attachment:([^\s)\"'>]+)")


@dataclass
class Tally:
    """What the import did, for the summary the command prints."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n


@dataclass(frozen=True)
class NotebookPost:
    title: str
    text: str  # the post's Markdown, front matter included
    images: dict[str, bytes]  # file name -> bytes, under static/notebooks/SLUG/
    counts: dict[str, int]


def read_notebook(path: Path, name: str) -> dict[str, Any]:
    """The notebook at `path` as nbformat 4 JSON; a BuildError naming `name` if it is not."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        raise _error(name, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise _error(name, None, f"larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    try:
        notebook = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _error(name, None, "not UTF-8 text", "is it a notebook (.ipynb)?") from None
    except json.JSONDecodeError as exc:
        message = f"not a notebook: invalid JSON ({exc.msg})"
        raise _error(name, exc.lineno, message, "is it a notebook (.ipynb)?") from None
    except RecursionError:
        raise _error(name, None, "not a notebook: JSON nested too deeply") from None
    _check_layout(notebook, name)
    checked: dict[str, Any] = notebook
    return checked


def _check_layout(notebook: Any, name: str) -> None:
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise _error(name, None, "not a notebook: no `cells` list", "nbformat 4 is read")
    version = notebook.get("nbformat")
    if version != 4:
        hint = "convert it: jupyter nbconvert --to notebook --nbformat 4"
        raise _error(name, None, f"nbformat {version} is not supported (4 is)", hint)
    if not isinstance(notebook.get("metadata", {}), dict):
        raise _error(name, None, "`metadata` is not a mapping")
    problems = [
        problem
        for number, cell in enumerate(notebook["cells"], 1)
        for problem in _cell_problems(cell, number)
    ]
    if problems:
        raise BuildError([ContentError(name, None, problem) for problem in problems])


def _cell_problems(cell: Any, number: int) -> list[str]:
    if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
        return [f"cell {number}: not a code, markdown or raw cell"]
    problems = []
    if _text(cell.get("source", "")) is None:
        problems.append(f"cell {number}: `source` is not text or a list of text")
    metadata = cell.get("metadata", {})
    tags = metadata.get("tags", []) if isinstance(metadata, dict) else None
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        problems.append(f"cell {number}: `metadata` or its `tags` is not as nbformat 4 says")
    outputs = cell.get("outputs", [])
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("output_type"), str) for o in outputs
    ):
        problems.append(f"cell {number}: `outputs` is not a list of outputs")
    return problems


def _text(value: Any) -> str | None:
    """nbformat's multiline string: a string or a list of strings; None if neither."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    return None


def _error(name: str, line: int | None, message: str, hint: str | None = None) -> BuildError:
    return BuildError([ContentError(name, line, message, hint)])


def notebook_title(notebook: dict[str, Any], name: str) -> str:
    """The title a post made of the notebook gets (see `_title`)."""
    return _title(notebook, notebook["cells"], name)[0]


def notebook_post(
    notebook: dict[str, Any], name: str, date: str, base: str, title: str | None = None
) -> NotebookPost:
    """The post made of a notebook read by `read_notebook`; `name` is the notebook's name
    for messages and the fallback title, `base` the site path its images are served at
    (ending in "/"); `title`, when given, replaces the notebook's."""
    language = _language(notebook)
    if language != "python":
        raise _error(name, None, f"not a Python notebook (its language is {language})")
    found, cells = _title(notebook, notebook["cells"], name)
    title = title or found
    tally = Tally()
    images: dict[str, bytes] = {}
    parts: list[str] = []
    for number, cell in enumerate(cells, 1):
        text = _text(cell.get("source", "")) or ""
        if cell["cell_type"] == "markdown":
            text, attached = _attachments(cell, text, number, base, name)
            images.update(attached)
            parts.append(_markdown(text, tally))
        elif cell["cell_type"] == "raw":
            parts.append(_raw(cell, text))
        elif text.strip():
            block, made = _code_cell(cell, text, number, base, name, tally)
            images.update(made)
            parts.append(block)
    if images:
        tally.add("images", len(images))
    body = "\n\n".join(part.strip("\n") for part in parts if part.strip())
    return NotebookPost(
        title, _front_matter(notebook, title, date) + body + "\n", images, dict(tally.counts)
    )


def _language(notebook: dict[str, Any]) -> str:
    metadata = notebook.get("metadata", {})
    for key in ("language_info", "kernelspec"):
        info = metadata.get(key)
        if isinstance(info, dict):
            value = info.get("name" if key == "language_info" else "language")
            if isinstance(value, str) and value:
                return value.lower()
    return "python"


def _title(notebook: dict[str, Any], cells: list[Any], name: str) -> tuple[str, list[Any]]:
    """The notebook's title, and its cells without the heading it came from: metadata
    `title`, else the first `# ` heading in a Markdown cell before the first code cell,
    else the file name."""
    title = notebook.get("metadata", {}).get("title")
    if isinstance(title, str) and title.strip():
        return title.strip(), cells
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            break
        lines = (_text(cell.get("source", "")) or "").split("\n")
        for at, line in enumerate(lines):
            heading = re.match(r"^#[ \t]+(.+?)[ \t#]*$", line)
            if heading and cell["cell_type"] == "markdown":
                rest = dict(cell, source="\n".join(lines[:at] + lines[at + 1 :]))
                return heading[1], [*cells[:index], rest, *cells[index + 1 :]]
    return Path(name).stem.replace("_", " ").replace("-", " ").strip() or "Notebook", cells


def _front_matter(notebook: dict[str, Any], title: str, date: str) -> str:
    metadata = notebook.get("metadata", {})
    lines = ["---", f"title: {json.dumps(title, ensure_ascii=False)}", f"date: {date}"]
    lines.append("draft: true")
    tags = metadata.get("tags")
    good_tags = isinstance(tags, list) and all(isinstance(t, str) for t in tags)
    lines.append(f"tags: {json.dumps(tags if good_tags else [], ensure_ascii=False)}")
    summary = metadata.get("summary", metadata.get("description"))
    if isinstance(summary, str) and summary.strip():
        lines.append(f"summary: {json.dumps(summary.strip(), ensure_ascii=False)}")
    lines += ["check_code: true", "---", ""]
    return "\n".join(lines)


def _markdown(text: str, tally: Tally) -> str:
    """A Markdown cell as it is, but its python examples (```python, ```py, ...) marked
    `skip`: the notebook never ran them, and check-code would."""
    lines = text.split("\n")
    fences = scan(lines)
    for fence in fences:
        if fence.is_python and fence.option("skip") is None:
            lines[fence.start] = lines[fence.start].rstrip() + " skip"
            tally.add("python examples in Markdown marked skip")
    inside = {n for f in fences for n in range(f.start, f.end + 1)}
    prose = "\n".join(line for n, line in enumerate(lines) if n not in inside)
    targets = [markdown or html for markdown, html in _LINK.findall(prose)]
    relative = [t for t in targets if not _ABSOLUTE.match(t)]
    if relative:
        tally.add(RELATIVE_LINKS, len(relative))
    return "\n".join(lines)


def _raw(cell: dict[str, Any], text: str) -> str:
    """A raw cell meant as Markdown is Markdown; any other is shown as plain text."""
    mime = cell.get("metadata", {}).get("format") or cell.get("metadata", {}).get(
        "raw_mimetype", ""
    )
    if mime in ("text/markdown", "text/x-markdown"):
        return text
    lines = text.strip("\n").split("\n")
    marker = fence_marker(lines, "`")
    return "\n".join([marker, *lines, marker])


def _code_cell(
    cell: dict[str, Any], text: str, number: int, base: str, name: str, tally: Tally
) -> tuple[str, dict[str, bytes]]:
    tally.add("code cells")
    code, printing_magic = _without_magics(text.strip("\n"), tally)
    printed, shown_value, error, images = _outputs(cell, number, base, name, tally)
    output = _shown(printed)
    options = []
    tags = cell.get("metadata", {}).get("tags", [])
    if any(tag in SKIP_TAGS for tag in tags):
        options.append("skip")
        tally.add("cells tagged skip")
    elif not _parses(code) and not (error and error == "SyntaxError"):
        options.append("skip")
        tally.add("cells that are not Python, kept with skip")
    elif printing_magic and output:
        options.append("skip")
        tally.add("cells whose output an IPython magic printed, kept with skip")
    if error:
        options.append(f"raises={error}")
    if shown_value:
        options.append("show-last")
    lines = code.split("\n")
    marker = fence_marker(lines, "`")
    parts = ["\n".join([f"{marker}python{''.join(' ' + o for o in options)}", *lines, marker])]
    if output:
        out_lines = output.split("\n")
        out_marker = fence_marker(out_lines, "`")
        parts.append("\n".join([f"{out_marker}output", *out_lines, out_marker]))
        tally.add("output blocks")
    links = [f"![{ALT_TEXT.format(n=n)}]({url})" for n, url in enumerate(images, 1)]
    parts += links
    return "\n\n".join(parts), {Path(url).name: data for url, data in images.items()}


def _without_magics(code: str, tally: Tally) -> tuple[str, bool]:
    """The code with IPython magics and shell escapes (`%matplotlib inline`, `!pip install
    x`, `%timeit f()`) turned into comments, since they are not Python; and whether one
    of them prints (all but the quiet set-up ones in QUIET_MAGICS), in which case what
    the cell recorded is not all the Python's own output."""
    lines, printing = [], False
    for line in code.split("\n"):
        magic = _MAGIC.match(line)
        if magic:
            line = f"{magic[1]}# {magic[2]}"
            tally.add("IPython magics commented out")
            words = magic[2].lstrip("%").split(maxsplit=1) or ["%"]
            name = words[0] if magic[2][0] == "%" else "!"
            printing = printing or name not in QUIET_MAGICS
        lines.append(line)
    return "\n".join(lines), printing


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _outputs(
    cell: dict[str, Any], number: int, base: str, name: str, tally: Tally
) -> tuple[str, bool, str | None, dict[str, bytes]]:
    """(what the cell printed to stdout and its value's text, whether a value was shown,
    the name of the exception it raised, its images by site path)."""
    printed, shown_value, error = [], False, None
    images: dict[str, bytes] = {}
    for output in cell.get("outputs", []):
        kind = output["output_type"]
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        image = _image(data, f"{base}cell-{number}-{len(images) + 1}", number, name)
        if image is not None:
            images[image[0]] = image[1]
        elif kind == "stream" and output.get("name") == "stdout":
            printed.append(_text(output.get("text", "")) or "")
        elif kind == "stream":
            tally.add("stderr outputs left out")
        elif kind == "execute_result" and _text(data.get("text/plain")) is not None:
            value = _text(data["text/plain"]) or ""
            printed.append(value if value.endswith("\n") else value + "\n")
            shown_value = True
        elif kind == "error":
            ename = output.get("ename")
            error = ename if isinstance(ename, str) and ename.isidentifier() else "Exception"
        else:
            tally.add("display outputs without an image left out")
    return "".join(printed), shown_value, error, images


def _image(data: dict[str, Any], stem: str, number: int, name: str) -> tuple[str, bytes] | None:
    for mime, extension in IMAGE_TYPES.items():
        content = _text(data.get(mime))
        if content is None:
            continue
        if mime == "image/svg+xml":
            return f"{stem}.{extension}", content.encode("utf-8")
        try:
            image = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            image = b""
        if not image:
            raise _error(name, None, f"cell {number}: its {mime} output is not base64")
        return f"{stem}.{extension}", image
    return None


def _attachments(
    cell: dict[str, Any], text: str, number: int, base: str, name: str
) -> tuple[str, dict[str, bytes]]:
    """A Markdown cell's `attachment:NAME` images saved as files, the links rewritten."""
    attachments = cell.get("attachments")
    if not isinstance(attachments, dict):
        return text, {}
    images: dict[str, bytes] = {}
    urls: dict[str, str] = {}
    for index, (key, bundle) in enumerate(sorted(attachments.items()), 1):
        if not isinstance(bundle, dict):
            continue
        image = _image(bundle, f"{base}cell-{number}-attachment-{index}", number, name)
        if image is not None:
            urls[key] = image[0]
            images[Path(image[0]).name] = image[1]
    text = _ATTACHMENT.sub(lambda m: urls.get(m[1], m[0]), text)
    return text, images


def _shown(printed: str) -> str:
    """Printed text as a terminal shows it: each line from its last carriage return on,
    without colour escapes or other control characters (a post cannot hold them),
    trailing spaces and trailing blank lines."""
    text = _ANSI.sub("", printed.replace("\r\n", "\n"))
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(_CONTROL.sub("", line).rstrip() for line in lines).strip("\n")


def import_notebook(
    root: Path, notebook_path: Path, title: str | None = None
) -> tuple[Path, dict[str, int]]:
    """Write the post made of the notebook at `notebook_path` into the site at `root`,
    and its images under static/; never over a file that is there. The post's path and
    what the import counted."""
    config = load_config(root)
    name = str(notebook_path)
    notebook = read_notebook(notebook_path, name)
    now = dt.datetime.now(tz=config.tz)
    slug = slugify(title or notebook_title(notebook, name)) or "notebook"
    base = f"{config.base_path}{IMAGES_DIR}/{slug}/"
    post = notebook_post(notebook, name, now.strftime("%Y-%m-%d %H:%M"), base, title)
    path = new_post_file(root, now, slug)
    images = root / "static" / IMAGES_DIR / slug
    if images.exists():
        message = "exists already (blogkeeper never overwrites)"
        raise _error(str(images.relative_to(root)), None, message)
    if post.images:
        images.mkdir(parents=True)
        for file_name, data in sorted(post.images.items()):
            (images / file_name).write_bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(post.text, encoding="utf-8")
    return path, post.counts
