"""`blogkeeper check-code`: run the Python blocks of opted-in posts and judge their output.

A post is checked when its front matter says `check_code: true`, or when it is in a series
or has a tag listed under `[check_code]` in blog.toml and does not say `check_code: false`.
Its python blocks (```python, ```py, ...: `Fence.is_python`) run in order in one
namespace, in a process of its own (see `sandbox`); an ```output block right after a
python block is what that block must print (see `compare`). Posts run in parallel; a
post whose code, options, expected output, Python and imported package versions all
match a cached pass is not run again. Each run writes its verdicts into the site's
record (`checkrecord`), which `build` reads to show readers what was checked (`proofs`).

This module never imports torch or any package the posts import: it reads their versions
from package metadata. It prints nothing; the CLI reports the `PostReport` values.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import json
import os
import platform
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from blogkeeper import checkrecord
from blogkeeper.cache import Cache
from blogkeeper.checkrecord import Entry, Key, Shown
from blogkeeper.compare import compare, normalise
from blogkeeper.config import CONTROL, SiteConfig, load_config
from blogkeeper.content import (
    POSTS_DIR,
    LoadOptions,
    decode_source,
    load_posts,
    parse_post,
    read_bytes,
)
from blogkeeper.errors import BuildError, ContentError
from blogkeeper.fences import Fence, fence_marker, output_options, run_options, scan
from blogkeeper.model import Post, PostProof
from blogkeeper.sandbox import JobBlock, JobResult, kill_all, run_job

PASSED = b"passed"
TRUNCATED = "[output truncated at 1 MiB]"
OUTPUT_DIFFERS = "output differs from the post"
UPDATED = "output block updated"
NOT_UPDATED = "changed while check-code ran; not updated (run check-code --update again)"


@dataclass(frozen=True)
class Block:
    """A python block and the output block that follows it; lines are 1-based post lines."""

    fence: Fence  # 0-based indexes into the post's body
    line: int  # first code line
    code: str
    options: tuple[str, ...]
    skip: bool
    raises: str | None
    timeout: float
    expected: str | None
    output_line: int | None  # first line inside the ```output fence
    output: Fence | None  # that fence, with 0-based indexes into the post's body
    output_open: str = ""  # its opening line without quote and indent ("```output")
    output_options: tuple[str, ...] = ()  # how the output is compared (`compare`)
    show_last: bool = False


@dataclass(frozen=True)
class Plan:
    post: Post
    blocks: tuple[Block, ...]
    data: bytes  # the file as read and run: --update writes only over exactly these bytes


@dataclass(frozen=True)
class Outcome:
    """What became of one block: passed, failed, skipped or not run."""

    block: Block
    status: str
    line: int
    message: str = ""
    details: str = ""
    actual: str | None = None  # what it printed, for --update


@dataclass(frozen=True)
class PostReport:
    source: str
    outcomes: tuple[Outcome, ...]
    cached: bool
    seconds: float

    @property
    def failed(self) -> bool:
        return any(o.status == "failed" for o in self.outcomes)


@dataclass(frozen=True)
class CheckOptions:
    posts: tuple[Path, ...] = ()
    jobs: int | None = None
    use_cache: bool = True
    update: bool = False
    today: dt.date | None = None  # the day the record gives new entries; None: today there


def selected(post: Post, config: SiteConfig) -> bool:
    """Whether check-code runs this post (an explicit `check_code` always wins)."""
    if post.check_code is not None:
        return post.check_code
    settings = config.check_code
    return post.series in settings.series or any(t in settings.tags for t in post.tags)


def code_checked(post: Post, config: SiteConfig) -> bool:
    """Whether check-code runs code in this post: it is selected and has python blocks."""
    return selected(post, config) and any(f.is_python for f in scan(post.body.split("\n")))


def plan_site(root: Path, only: Sequence[Path] = ()) -> tuple[SiteConfig, list[Plan], list[str]]:
    """The selected posts of the site (drafts and future posts too) and their blocks, and
    the posts named in `only` that are left out because they are not selected."""
    config = load_config(root)
    posts = load_posts(config, LoadOptions(drafts=True, future=True))
    chosen = [p for p in posts if selected(p, config)]
    left_out: list[str] = []
    if only:
        chosen, left_out = _limit(root, chosen, posts, only)
    errors: list[ContentError] = []
    plans = []
    for post in sorted(chosen, key=lambda p: p.source):
        try:
            post, data = _read_again(config, post)
            blocks = tuple(plan_blocks(post, config.check_code.timeout))
            plans.append(Plan(post, blocks, data))
        except BuildError as exc:
            errors.extend(exc.errors)
    if errors:
        raise BuildError(errors)
    return config, [p for p in plans if p.blocks], left_out


def _read_again(config: SiteConfig, post: Post) -> tuple[Post, bytes]:
    """The post parsed from its file's bytes read now, and those bytes: the blocks run
    and the text --update edits then come from the very same bytes."""
    path = config.root / post.source
    data = read_bytes(path, post.source, config.max_post_bytes)
    return parse_post(config, path, post.source, decode_source(data, post.source)), data


def _limit(
    root: Path, chosen: list[Post], posts: list[Post], only: Sequence[Path]
) -> tuple[list[Post], list[str]]:
    """The chosen posts among those named, and the named posts that are not chosen (a
    list of changed files names posts of every kind); a name that is no post is an error."""
    by_path = {(root / p.source).resolve(): p for p in posts}
    wanted, left_out, errors = [], [], []
    for given in only:
        post = by_path.get(given.resolve()) or by_path.get((root / given).resolve())
        if post is None:
            errors.append(ContentError(str(given), None, f"not a post in {POSTS_DIR}/"))
        elif post not in chosen:
            left_out.append(post.source)
        elif post not in wanted:
            wanted.append(post)
    if errors:
        raise BuildError(errors)
    return wanted, sorted(set(left_out))


def plan_blocks(post: Post, default_timeout: float) -> list[Block]:
    lines = post.body.split("\n")
    fences = scan(lines)
    blocks = []
    for index, fence in enumerate(fences):
        if not fence.is_python:
            continue
        output = _output_after(fence, fences[index + 1 : index + 2], lines)
        options = run_options(fence, post.source, post.body_line + fence.start)
        shown = output_options(output, post.source, post.body_line + output.start) if output else ()
        blocks.append(
            Block(
                fence=fence,
                line=post.body_line + fence.first_code_line,
                code=fence.code,
                options=fence.options,
                skip=options.skip,
                raises=options.raises,
                timeout=options.timeout or default_timeout,
                expected=output.code if output else None,
                output_line=post.body_line + output.first_code_line if output else None,
                output=output,
                output_open=_opening(lines, output) if output else "",
                output_options=shown,
                show_last=options.show_last,
            )
        )
    return blocks


def _opening(lines: list[str], fence: Fence) -> str:
    """The fence's opening line without its quote prefix and indent: marker and info."""
    return lines[fence.start][len(fence.quote) + len(fence.indent) :]


def _output_after(fence: Fence, following: list[Fence], lines: list[str]) -> Fence | None:
    """The ```output fence right after `fence`, in the same blockquote, only blank lines
    (or empty quote lines) between."""
    if not following or following[0].lang != "output" or not fence.closed:
        return None
    candidate = following[0]
    if candidate.quote.replace(" ", "") != fence.quote.replace(" ", ""):
        return None
    between = lines[fence.end + 1 : candidate.start]
    return candidate if all(_EMPTY_QUOTE_LINE.match(line) for line in between) else None


_EMPTY_QUOTE_LINE = re.compile(r"^[>\s]*$")


def check_site(
    root: Path,
    options: CheckOptions,
    progress: Callable[[PostReport, int, int], None] | None = None,
) -> tuple[list[PostReport], list[str]]:
    """Check every selected post: the reports sorted by post path, and the posts named in
    `options.posts` that were left out because they are not selected."""
    config, plans, left_out = plan_site(root, options.posts)
    old = checkrecord.read_record(root)  # first: a damaged record stops the run before it starts
    cache = Cache.for_site(root)
    keys = {plan.post.source: cache_key(plan) for plan in plans}
    reports: list[PostReport] = []
    pending = []
    for plan in plans:
        if options.use_cache and not options.update and cache.get(keys[plan.post.source]) == PASSED:
            reports.append(_cached_report(plan))
        else:
            pending.append(plan)
    done = 0
    for report in reports:
        done += 1
        if progress:
            progress(report, done, len(plans))
    by_source = {plan.post.source: plan for plan in plans}
    for report in _run_all(pending, options.jobs):
        if options.update:  # written now, so that the progress line says what became of it
            report = update_post(root, by_source[report.source], report)
        reports.append(report)
        done += 1
        if progress:
            progress(report, done, len(plans))
    for report in reports:
        if not report.cached and not report.failed and not options.update:
            cache.put(keys[report.source], PASSED)
    today = options.today or dt.datetime.now(tz=config.tz).date()
    runs = {r.source: _entries(by_source[r.source], r, today) for r in reports}
    checkrecord.write_record(root, checkrecord.merged(old, runs, complete=not options.posts))
    return sorted(reports, key=lambda r: r.source), left_out


def _entries(plan: Plan, report: PostReport, today: dt.date) -> tuple[Entry, ...]:
    modules = sorted({m for b in plan.blocks for m in imported_modules(b.code)})
    packages = tuple((m, v) for m in modules if (v := _module_version(m)))
    where = f"{platform.system()} {platform.machine()}"
    entries = []
    for outcome in report.outcomes:
        block = outcome.block
        # After --update, the post shows what the block printed.
        shown = normalise(outcome.actual or "") if outcome.message == UPDATED else block.expected
        key = Key.of(block.code, block.options, shown, block.output_options)
        if outcome.status == "skipped":
            entries.append(Entry(key, "skipped"))
        else:
            python = platform.python_version()
            entries.append(Entry(key, outcome.status, today.isoformat(), python, where, packages))
    return tuple(entries)


def _module_version(module: str) -> str:
    """The version of the distribution providing `module`; "" when it is not installed."""
    import importlib.metadata

    for dist in sorted(_distributions().get(module, [module])):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(dist)
    return ""


def proofs(config: SiteConfig, posts: Sequence[Post], root: Path) -> dict[str, PostProof]:
    """What the site's record says about each selected post with python blocks, by its
    source: read once when the site loads; what the pages show then follows from it."""
    found = checkrecord.read_record(root)
    chosen = [p for p in posts if code_checked(p, config)]
    return {p.source: _proof(p, found.get(p.source, ())) for p in chosen}


def _proof(post: Post, entries: Sequence[Entry]) -> PostProof:
    outputs = sum(f.lang == "output" for f in scan(post.body.split("\n")))
    return checkrecord.proof(shown_blocks(post), entries, outputs)


def shown_blocks(post: Post) -> list[Shown]:
    """The post's python blocks as `plan_blocks` finds them, keyed as the record keys
    them, each with the place of its output block among the post's output fences."""
    lines = post.body.split("\n")
    fences = scan(lines)
    places = {f.start: n for n, f in enumerate(x for x in fences if x.lang == "output")}
    shown = []
    for index, fence in enumerate(fences):
        if not fence.is_python:
            continue
        output = _output_after(fence, fences[index + 1 : index + 2], lines)
        shown_options = output.options if output else ()
        key = Key.of(fence.code, fence.options, output.code if output else None, shown_options)
        place = places[output.start] if output else None
        line = post.body_line + fence.first_code_line
        shown.append(Shown(line, key, place, fence.option("skip") is not None))
    return shown


def _run_all(plans: list[Plan], jobs: int | None) -> Iterator[PostReport]:
    """Reports in the order posts finish; on Ctrl-C every running process group is killed."""
    if not plans:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs or os.cpu_count() or 1, len(plans))))
    try:
        for future in as_completed([pool.submit(check_post, p) for p in plans]):
            yield future.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        kill_all()
        raise
    pool.shutdown()


def _updated(report: PostReport) -> PostReport:
    """After --update, a block whose output block was written or rewritten has passed."""
    outcomes = tuple(
        replace(o, status="passed", message=UPDATED) if _edit(o) is not None else o
        for o in report.outcomes
    )
    return replace(report, outcomes=outcomes)


def _not_updated(report: PostReport) -> PostReport:
    """A post --update refused to write fails, once, at its first line."""
    index = next(i for i, o in enumerate(report.outcomes) if _edit(o) is not None)
    outcomes = list(report.outcomes)
    outcomes[index] = replace(
        outcomes[index], status="failed", line=1, message=NOT_UPDATED, details=""
    )
    return replace(report, outcomes=tuple(outcomes))


def _cached_report(plan: Plan) -> PostReport:
    outcomes = tuple(
        Outcome(b, "skipped" if b.skip else "passed", b.line, "cached") for b in plan.blocks
    )
    return PostReport(plan.post.source, outcomes, cached=True, seconds=0.0)


def check_post(plan: Plan) -> PostReport:
    """Run one post's blocks in a fresh process and judge each block."""
    started = time.perf_counter()
    runnable = [b for b in plan.blocks if not b.skip]
    blocks = [JobBlock(b.line, b.code, b.raises, b.timeout, b.show_last) for b in runnable]
    job = run_job(plan.post.source, blocks) if blocks else JobResult((), False, None, "")
    outcomes = judge(plan, job)
    return PostReport(plan.post.source, tuple(outcomes), False, time.perf_counter() - started)


def judge(plan: Plan, job: JobResult) -> list[Outcome]:
    results = iter(job.results)
    outcomes: list[Outcome] = []
    stopped: Outcome | None = None
    for block in plan.blocks:
        if block.skip:
            outcomes.append(Outcome(block, "skipped", block.line, "skip"))
        elif stopped is not None:
            outcomes.append(Outcome(block, "not run", block.line, "not run: " + stopped.message))
        elif (result := next(results, None)) is not None:
            outcome = judge_block(block, result)
            outcomes.append(outcome)
            error = result["error"]
            if error is not None and not error["expected"]:
                stopped = outcome
        else:
            stopped = _died(block, job, plan.post.source)
            outcomes.append(stopped)
    return outcomes


def _died(block: Block, job: JobResult, source: str) -> Outcome:
    details = job.log.strip()[-4000:]
    if job.timed_out:
        message = f"timed out after {block.timeout:g} s"
        return Outcome(block, "failed", _running_line(job.log, source) or block.line, message)
    message = f"the block did not finish: {job.exit_status or 'the process ended'}"
    return Outcome(block, "failed", block.line, message, details)


def _running_line(log: str, source: str) -> int | None:
    """The post line a timed-out block was running, from the runner's last traceback dump."""
    dump = log.rpartition("Timeout (")[2]
    match = re.search(rf'File "{re.escape(source)}", line (\d+)', dump)
    return int(match[1]) if match else None


def judge_block(block: Block, result: dict[str, Any]) -> Outcome:
    actual = result["stdout"] + (f"\n{TRUNCATED}\n" if result["truncated"] else "")
    error = result["error"]
    if error is not None and not error["expected"]:
        # A line before the post's first is no line of it (a forged result can say -5).
        where = error["line"] if error["line"] and error["line"] > 0 else block.line
        message = f"{error['type']}: {error['message']}".strip().rstrip(":").splitlines()[0]
        if block.raises:
            message = f"expected {block.raises}, got {message}"
        message += _install_hint(error)
        return Outcome(block, "failed", where, message, error["traceback"], actual)
    if block.raises and error is None:
        message = f"expected {block.raises} to be raised"
        return Outcome(block, "failed", block.line, message, "", actual)
    if block.expected is not None and block.output_line is not None:
        verdict = compare(block.expected, actual, block.output_options)
        if not verdict.matches:
            line = block.output_line + verdict.line
            message = OUTPUT_DIFFERS
            return Outcome(block, "failed", line, message, verdict.diff, actual)
    return Outcome(block, "passed", block.line, actual=actual)


def _install_hint(error: dict[str, Any]) -> str:
    """For a module the block imports that is not installed, how to install it."""
    found = re.match(r"No module named '([^'.]+)", str(error["message"]))
    if error["type"] != "ModuleNotFoundError" or found is None:
        return ""
    if found.group(1) == "torch":
        return " (install it with: pip install 'blogkeeper[check]')"
    return f" (install {found.group(1)} where check-code runs: {sys.executable} -m pip install …)"


def cache_key(plan: Plan) -> str:
    """A hash of everything that can change whether this post passes."""
    blocks = [
        [b.code, list(b.options), b.timeout, b.expected, list(b.output_options)]
        for b in plan.blocks
    ]
    modules = sorted({m for b in plan.blocks for m in imported_modules(b.code)} | {"torch"})
    payload = {
        "python": sys.version,
        "executable": sys.executable,
        "packages": {m: package_version(m) for m in modules},
        "blocks": blocks,
    }
    return Cache.key("check-code pass", ("blogkeeper",), json.dumps(payload, sort_keys=True))


def imported_modules(code: str) -> set[str]:
    """Top-level names of the modules a block imports (found with ast, never imported)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


def package_version(module: str) -> str:
    """The installed version of the distribution providing `module`, from its metadata."""
    import importlib.metadata  # here: a build imports this module, and needs no metadata

    versions = []
    for dist in sorted(_distributions().get(module, [module])):
        try:
            versions.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} not installed")
    return ", ".join(versions)


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return {k: list(v) for k, v in importlib.metadata.packages_distributions().items()}


def _write_atomic(path: Path, data: bytes, expected: bytes | None = None) -> bool:
    """Replace the file at `path` with `data` through a temp file beside it; with
    `expected`, only if it still holds exactly those bytes just before the rename.
    Whether it was written. A link (to the file or a folder above it) is followed to
    the file it leads to, the one a post is read from, and that file is replaced: the
    link stays a link, as when an editor saves through it."""
    path = Path(os.path.realpath(path))
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        if expected is not None and not _holds(path, expected):
            Path(temp).unlink()
            return False
        with contextlib.suppress(FileNotFoundError):  # keep the post's mode, not mkstemp's 0600
            os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


def _holds(path: Path, expected: bytes) -> bool:
    try:
        return path.read_bytes() == expected
    except OSError:  # deleted or replaced by something unreadable: changed all the same
        return False


def update_post(root: Path, plan: Plan, report: PostReport) -> PostReport:
    """Write what each block printed into its output block, and the report after it: the
    blocks written have passed; a block whose output a UTF-8 file cannot hold has failed;
    a post whose file changed since it was read is not written and fails at line 1."""
    report = replace(report, outcomes=tuple(_writable(o) for o in report.outcomes))
    edits = [e for o in report.outcomes if (e := _edit(o)) is not None]
    if not edits:
        return report
    new = apply_edits(plan.data.decode("utf-8"), plan.post.body_line, edits).encode("utf-8")
    if new != plan.data and not _write_atomic(root / plan.post.source, new, plan.data):
        return _not_updated(report)
    return _updated(report)


def _writable(outcome: Outcome) -> Outcome:
    """The outcome, failed if --update would have to write text UTF-8 cannot encode, or a
    control character, which `build` and `check-code` refuse in a post."""
    if _edit(outcome) is None or outcome.actual is None:
        return outcome
    where = outcome.block.output_line or outcome.block.line
    surrogate = _SURROGATE.search(outcome.actual)
    if surrogate is not None:
        message = f"{UNWRITABLE} (U+{ord(surrogate[0]):04X}); output block not updated"
        return replace(outcome, status="failed", line=where, message=message)
    control = CONTROL.search(normalise(outcome.actual))
    if control is not None:
        message = f"{CONTROL_UNWRITABLE.format(ord(control[0]))}; output block not updated"
        return replace(outcome, status="failed", line=where, message=message)
    return outcome


UNWRITABLE = "it printed a lone surrogate, which a UTF-8 post cannot hold"
CONTROL_UNWRITABLE = "it printed control character U+{:04X}, which a post cannot hold"
_SURROGATE = re.compile("[\ud800-\udfff]")


Edit = tuple[int, int, str, list[str]]  # (first body index, end index, prefix, new lines)


def _edit(outcome: Outcome) -> Edit | None:
    """The replacement for an outcome's output block, or None to leave the post alone.
    Its fence is made longer than any run of its marker that begins a printed line, so
    that what the block printed cannot close it (CommonMark allows a longer fence)."""
    block, actual = outcome.block, outcome.actual
    if actual is None or outcome.status not in ("passed", "failed"):
        return None
    if outcome.status == "failed" and outcome.message != OUTPUT_DIFFERS:
        return None
    shown = normalise(actual)
    new_lines = shown.split("\n") if shown else []
    fence = block.output
    if fence is not None:
        if not fence.closed or outcome.status == "passed":
            return None
        prefix = fence.quote + fence.indent
        opening = block.output_open
        marker = opening[: len(opening) - len(opening.lstrip(opening[:1]))]
        needed = fence_marker(new_lines, marker[0])
        if len(needed) <= len(marker):
            return fence.first_code_line, fence.end, prefix, new_lines
        fenced = [needed + opening[len(marker) :], *new_lines, needed]
        return fence.start, fence.end + 1, prefix, fenced
    if not shown or not block.fence.closed:
        return None
    after = block.fence.end + 1
    prefix = block.fence.quote + block.fence.indent
    marker = fence_marker(new_lines, "`")
    return after, after, prefix, ["", marker + "output", *new_lines, marker]


def apply_edits(text: str, body_line: int, edits: list[Edit]) -> str:
    """Replace body lines [start, end) by new lines, each after its edit's prefix (quote
    and indent; an empty line keeps only the quote), keeping every other byte as it was."""
    lines = _split_keep_ends(text)
    offset = body_line - 1
    for start, end, prefix, new in sorted(edits, reverse=True):
        ending = _line_end(lines, offset + start)
        before = offset + start - 1
        if 0 <= before < len(lines) and not lines[before].endswith(("\n", "\r")):
            lines[before] += ending
        replacement = [(prefix + line if line else prefix.rstrip()) + ending for line in new]
        lines[offset + start : offset + end] = replacement
    return "".join(lines)


def _split_keep_ends(text: str) -> list[str]:
    """Lines with their own endings (LF, CRLF or CR), counted as content.normalise_text does."""
    return [m.group(0) for m in _LINE.finditer(text)]


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _line_end(lines: list[str], index: int) -> str:
    """The line ending the file uses around `index` (LF when it cannot tell)."""
    for line in lines[max(0, index - 1) : index + 1] + lines:
        stripped = line.rstrip("\r\n")
        if stripped != line:
            return line[len(stripped) :]
    return "\n"
