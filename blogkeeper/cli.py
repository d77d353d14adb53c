"""The `blogkeeper` command line: the only place that prints errors and sets exit codes.

Exit codes: 0 success, 1 content errors (each printed as `path:line: message`), 2 usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import select
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from blogkeeper import __version__
from blogkeeper.errors import BuildError, ContentError, DamagedCache

if TYPE_CHECKING:
    from blogkeeper.model import BuildOptions, Site

DESCRIPTION = """\
blogkeeper turns a folder of Markdown posts into a static blog: HTML pages, a full-text
RSS feed, llms.txt and a Markdown twin of every post; and it runs the code in posts to
prove that the output they show is what the code prints."""

EXAMPLES = """\
examples:
  blogkeeper init myblog                 make a new blog in myblog/
  blogkeeper --site myblog new "Title"   start a draft post
  blogkeeper --site myblog serve         preview at http://127.0.0.1:8000/, reload on save
  blogkeeper --site myblog build         build into myblog/public/
  blogkeeper --site myblog check-code    run the code in the opted-in posts

Every command takes --site DIR (before or after the command; default: the current
folder). Run `blogkeeper COMMAND --help` for a command's options. The documentation is in
the docs/ folder of blogkeeper's repository (start with README.md)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    args.site = args.site or args.site_before or Path(".")
    try:
        return int(args.run(args))
    except BuildError as exc:
        report(exc, args.command, args.site.resolve())
        return 1
    except BrokenPipeError as exc:
        if not _stdout_closed():
            return _failed(exc)  # another pipe: a child process's
        return 0  # `blogkeeper templates | head -1`: the reader has all it wanted
    except OSError as exc:  # the disk said no: a full disk, a file where a folder should be
        return _failed(exc)
    except KeyboardInterrupt:
        return 130


def _failed(exc: OSError) -> int:
    where = f"{exc.filename}: " if exc.filename else ""
    print(f"{where}{exc.strerror or exc}", file=sys.stderr)
    return 1


def _stdout_closed() -> bool:
    """Whether standard output's reader has gone (a pipe whose reading end is closed
    polls as an error); if so, what is still buffered for it is sent nowhere, which
    Python would complain of at exit."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        closed = any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no such file; no poll() here
        return False
    if closed:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return closed


def report(exc: BuildError, command: str = "build", root: Path | None = None) -> None:
    """Every error, then one line saying which command failed and how often; under
    GitHub Actions, each error also as an annotation on its file and line."""
    for error in exc.errors:
        print(error, file=sys.stderr)
    count = len(exc.errors)
    print(f"{command} failed: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
    _annotate(exc.errors, command, root, "error")


def report_warnings(
    warnings: Sequence[ContentError], command: str = "build", root: Path | None = None
) -> None:
    """Every warning as `path:line: warning: message`, then how many; under GitHub
    Actions, each also as a warning annotation. Warnings never change the exit code."""
    for warning in warnings:
        print(warning.as_warning(), file=sys.stderr)
    if warnings:
        count = len(warnings)
        print(f"{command}: {count} warning{'s' if count != 1 else ''}", file=sys.stderr)
    _annotate(warnings, command, root, "warning")


def _annotate(errors: Sequence[ContentError], command: str, root: Path | None, level: str) -> None:
    if root is not None and os.environ.get("GITHUB_ACTIONS") == "true":
        from blogkeeper.checkreport import annotation

        for error in errors:
            path = _in_workspace(root, error.path)
            message = error.message + (f" ({error.hint})" if error.hint else "")
            print(annotation(path, error.line, f"blogkeeper {command}", message, level), end="")


def _in_workspace(root: Path, path: str) -> str:
    """A path as GitHub names files: relative to the repository (`GITHUB_WORKSPACE`, else
    the current folder); `path` is relative to the site folder `root`, or absolute."""
    workspace = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    return os.path.relpath(root / path, workspace).replace(os.sep, "/")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blogkeeper",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"blogkeeper {__version__}")
    parser.add_argument(
        "--site", dest="site_before", type=Path, metavar="DIR", help="the blog's folder"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    build = _command(commands, "build", "build the site into public/", _run_build)
    build.add_argument("--out", type=Path, help="output folder (default: SITE/public)")
    build.add_argument("--drafts", action="store_true", help="include drafts")
    build.add_argument("--future", action="store_true", help="include future-dated posts")
    build.add_argument("--now", type=_datetime, help="the time to build at (ISO 8601), for tests")
    build.add_argument(
        "--force", action="store_true", help="replace an output folder blogkeeper did not make"
    )
    build.add_argument(
        "--no-cache", action="store_true", help="render every post; use no render cache"
    )
    build.add_argument(
        "--require-checked",
        action="store_true",
        help="fail on each code block of a selected post that check-code has not passed "
        "since it was last edited (for CI, after check-code)",
    )

    serve = _command(commands, "serve", "preview the site, rebuilding on save", _run_serve)
    serve.add_argument(
        "--host", "--bind", type=_host, default="127.0.0.1", help="address (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0: any free)")
    serve.add_argument("--no-drafts", action="store_true", help="hide drafts (future posts stay)")
    serve.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME", help="also accept this Host"
    )
    serve.add_argument("--now", type=_datetime, help="the time to build at (ISO 8601), for tests")

    init = _command(commands, "init", "create a new blog in DIR", _run_init, site=False)
    init.add_argument("dir", type=Path, metavar="DIR", help="a new or empty folder")
    deploy = _command(
        commands, "deploy-files", "add the files that publish the blog to a host", _run_deploy
    )
    deploy.add_argument(
        "host",
        choices=("github", "netlify", "cloudflare"),
        metavar="HOST",
        help="github (Pages, with a workflow), netlify or cloudflare (Pages)",
    )

    imp = _command(
        commands,
        "import",
        "make a blogkeeper site from a Jekyll or Hugo site's source folder",
        _run_import,
        site=False,
    )
    imp.add_argument("source", type=Path, metavar="SOURCE", help="the old site's source folder")
    imp.add_argument("dir", type=Path, metavar="DIR", help="a new or empty folder")
    imp.add_argument(
        "--from",
        dest="kind",
        choices=("jekyll", "hugo"),
        help="the old generator (default: detected)",
    )

    new = _command(commands, "new", "create a new draft post in posts/", _run_new)
    new.add_argument(
        "title", metavar="TITLE", nargs="?", help='the post\'s title, quoted: "My post"'
    )
    new.add_argument(
        "--from",
        dest="notebook",
        type=Path,
        metavar="NOTEBOOK",
        help="make the post from a Jupyter notebook (.ipynb), opted in to check-code",
    )
    new.set_defaults(usage=new.format_usage())

    templates = _command(
        commands,
        "templates",
        "list the built-in templates, or copy one to override",
        _run_templates,
    )
    templates.add_argument(
        "--copy", metavar="NAME", help="copy this built-in template into the site's templates/"
    )

    check = _command(
        commands, "check-code", "run the code in posts and compare its output", _run_check_code
    )
    check.add_argument("posts", nargs="*", type=Path, metavar="POST", help="only these posts")
    check.add_argument("--jobs", type=_positive, help="posts run at once (default: cores)")
    check.add_argument("--no-cache", action="store_true", help="run posts that passed before")
    check.add_argument(
        "--update", action="store_true", help="write what blocks print into their output blocks"
    )
    check.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more: {text!r}")
    return int(text)


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    run: object,
    site: bool = True,
) -> argparse.ArgumentParser:
    command = commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=COMMAND_EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if site:
        command.add_argument(
            "--site", type=Path, metavar="DIR", help="the blog's folder (default: .)"
        )
    command.set_defaults(run=run, command=name, site=None)
    return command


COMMAND_EXAMPLES = {
    "build": "example:\n  blogkeeper build --site myblog    # writes myblog/public/",
    "serve": "example:\n  blogkeeper serve --site myblog    # then open http://127.0.0.1:8000/",
    "init": "example:\n  blogkeeper init myblog           # blog.toml, posts/, templates/, static/",
    "deploy-files": (
        "examples:\n  blogkeeper deploy-files github   # .github/workflows/blog.yml and more\n"
        "  blogkeeper deploy-files netlify  # netlify.toml, requirements.txt"
    ),
    "import": (
        "example:\n  blogkeeper import ~/old-blog myblog   # then: blogkeeper serve --site myblog"
    ),
    "new": (
        'examples:\n  blogkeeper new "Counting with Python"   # posts/YYYY-MM-DD-counting-....md\n'
        "  blogkeeper new --from attention.ipynb   # the notebook as a post check-code checks"
    ),
    "templates": (
        "examples:\n  blogkeeper templates                   # what each built-in template makes\n"
        "  blogkeeper templates --copy post.html  # templates/post.html, yours to edit"
    ),
    "check-code": (
        "examples:\n  blogkeeper check-code                       # every opted-in post\n"
        "  blogkeeper check-code posts/a.md posts/b.md  # only these (others are skipped)"
    ),
}


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {port}")
    return port


def _host(text: str) -> str:
    if not text.strip():  # the socket would listen on every address, and say nothing
        raise argparse.ArgumentTypeError("an empty address; write 0.0.0.0 for every one")
    return text


def _datetime(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _build_into(out: Path, root: Path, options: BuildOptions) -> tuple[Site, list[str]]:
    """`build` of the site at `root` into a staging folder swapped in for `out` when it
    is done; on any failure the old site is left as it was."""
    from blogkeeper.build import build
    from blogkeeper.writer import Staging, Sweep

    staging = Staging(out)  # first: it updates a site the last build set aside
    sweep = Sweep(out)  # any other one is deleted meanwhile
    try:
        site, paths = build(root, staging, options)
        staging.commit()
    except BaseException:
        staging.discard()
        raise
    finally:
        sweep.wait()
    return site, paths


def _run_build(args: argparse.Namespace) -> int:
    from blogkeeper.config import load_config
    from blogkeeper.model import BuildOptions
    from blogkeeper.writer import check_output_dir, keep_foreign

    root = args.site.resolve()
    started = time.perf_counter()
    load_config(root)  # first: a wrong --site must not get a public/ folder made in it
    out = check_output_dir(args.out or root / "public", root, force=args.force)
    if args.force and (kept := keep_foreign(out)) is not None:
        print(f"moved {out}, which blogkeeper did not make, to {kept}: delete it when done")
    options = BuildOptions(
        args.drafts,
        args.future,
        args.now,
        cache=not args.no_cache,
        require_checked=args.require_checked,
    )
    # A build makes millions of objects that live until it ends, and little cyclic
    # garbage: Python's collector would walk them all again and again (0.6 s at 10,000
    # posts) to find next to nothing.
    gc.disable()
    try:
        try:
            site, paths = _build_into(out, root, options)
        except DamagedCache as damaged:  # a build that reads no entry cannot meet one
            print(f"warning: {damaged}: building again without reading the cache", file=sys.stderr)
            site, paths = _build_into(out, root, replace(options, cache=False))
    finally:
        gc.enable()
    report_warnings(site.warnings, "build", root)
    elapsed = time.perf_counter() - started
    print(f"built {len(paths)} files into {out} in {elapsed:.2f} s")
    left_out = _left_out(site.drafts_left_out, site.scheduled_left_out)
    if left_out:
        print(left_out)
    return 0


def _left_out(drafts: int, scheduled: int) -> str:
    """ "2 drafts and 1 scheduled post not published (...)", or "" when there are none."""
    parts = []
    if drafts:
        parts.append(f"{drafts} draft{'s' if drafts != 1 else ''}")
    if scheduled:
        parts.append(f"{scheduled} scheduled post{'s' if scheduled != 1 else ''}")
    if not parts:
        return ""
    how = [flag for flag, count in (("--drafts", drafts), ("--future", scheduled)) if count]
    return (
        f"{' and '.join(parts)} not published "
        f"(`blogkeeper serve` shows them; `build {' '.join(how)}` includes them)"
    )


def _run_serve(args: argparse.Namespace) -> int:
    from blogkeeper.serve import ServeOptions, serve

    drafts = not args.no_drafts
    options = ServeOptions(args.host, args.port, drafts, tuple(args.allow_host), args.now)
    try:
        return serve(args.site.resolve(), options, lambda line: print(line, flush=True))
    except OSError as exc:  # most often: the port is taken
        print(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _run_init(args: argparse.Namespace) -> int:
    from blogkeeper.skeleton import create_site

    create_site(args.dir)
    shown = shlex.quote(str(args.dir))  # a command to paste: a space in the path stays one
    print(f"created a new blog in {args.dir}; build it with: blogkeeper build --site {shown}")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    from blogkeeper.build import build
    from blogkeeper.importer import import_site, warn_on_broken_links
    from blogkeeper.model import Kept

    try:
        result = import_site(args.source, args.dir, args.kind)
    except ValueError as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 1
    print(result.text(), flush=True)
    root = args.dir.resolve()
    try:
        try:
            site, paths = build(root, Kept())
        except BuildError as exc:
            # Links the import's own look missed: the build's verdict is the one that counts.
            if not all(e.message.startswith("link to `") for e in exc.errors):
                raise
            if not warn_on_broken_links(root):
                raise
            print(
                f'blog.toml: [build] broken_links = "warn" written: the build found '
                f"{len(exc.errors)} more links that lead nowhere (the warnings below); fix "
                'them, then delete the setting (the default is "error")',
                flush=True,
            )
            site, paths = build(root, Kept())
    except BuildError as exc:
        report(exc, "build of the imported site", root)
        print(
            f"the posts are in {args.dir}; fix the errors above, then run: "
            f"blogkeeper build --site {shlex.quote(str(args.dir))}",
            file=sys.stderr,
        )
        return 1
    report_warnings(site.warnings, "build", root)
    print(
        f"the imported site builds ({len(paths)} files); "
        f"preview it with: blogkeeper serve --site {shlex.quote(str(args.dir))}"
    )
    return 0


def _run_deploy(args: argparse.Namespace) -> int:
    from blogkeeper.deploy import SETTINGS, write_deploy_files

    root = args.site.resolve()
    for name, written in write_deploy_files(root, args.host):
        print(f"wrote {name}" if written else f"kept {name}: it is there already")
    print(f"then {SETTINGS[args.host]}")
    return 0


def _run_new(args: argparse.Namespace) -> int:
    from blogkeeper.skeleton import create_post

    root = args.site.resolve()
    if args.notebook is not None:
        return _run_new_from(root, args.notebook, args.title)
    if not (args.title or "").strip():
        print(
            args.usage + "blogkeeper new: error: give a TITLE or --from NOTEBOOK", file=sys.stderr
        )
        return 2
    path = create_post(root, args.title.strip())
    print(f"created {path.relative_to(root)}, a draft: `blogkeeper serve` shows it;")
    print("delete its `draft: true` line to publish it with `blogkeeper build`")
    return 0


def _run_new_from(root: Path, notebook: Path, title: str | None) -> int:
    from blogkeeper.notebook import import_notebook

    path, counts = import_notebook(root, notebook, title)
    print(f"created {path.relative_to(root)} from {notebook}, a draft opted in to check-code:")
    for what, count in sorted(counts.items()):
        print(f"  {count} {what}")
    if counts.get("images"):
        print("  give each image alt text that says what it shows (the notebook has none)")
    print("run `blogkeeper check-code` on it; delete its `draft: true` line to publish it")
    return 0


def _run_templates(args: argparse.Namespace) -> int:
    from blogkeeper.skeleton import TEMPLATES, copy_template

    root = args.site.resolve()
    if args.copy:
        path = copy_template(root, args.copy)
        print(f"copied the built-in {args.copy} to {path.relative_to(root)}: edit it there;")
        print("it now overrides the built-in one (delete it to go back)")
        return 0
    local = root / "templates"
    for name, what in TEMPLATES.items():
        mark = "  (overridden by templates/" + name + ")" if (local / name).is_file() else ""
        print(f"{name:<18} {what}{mark}")
    print("\ncopy one to start an override: blogkeeper templates --copy NAME")
    return 0


def _run_check_code(args: argparse.Namespace) -> int:
    from blogkeeper import checkreport
    from blogkeeper.checkcode import CheckOptions, check_site

    root = args.site.resolve()
    options = CheckOptions(tuple(args.posts), args.jobs, not args.no_cache, args.update)
    started = time.perf_counter()
    reports, left_out = check_site(root, options, _CheckProgress())
    for source in left_out:
        print(f"{source}: skipped: not selected for check-code", file=sys.stderr)
    print(checkreport.report_text(reports), end="")
    if not reports and not args.posts:
        print(NOTHING_CHECKED, file=sys.stderr)
    for source in checkreport.updated(reports):
        print(f"updated output blocks in {source}", file=sys.stderr)
    if args.junit:
        args.junit.write_bytes(checkreport.junit_xml(reports))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        prefix = _in_workspace(root, ".") + "/"
        print(checkreport.github_annotations(reports, "" if prefix == "./" else prefix), end="")
    elapsed = time.perf_counter() - started
    posts = f"{len(reports)} post{'s' if len(reports) != 1 else ''}"
    print(f"checked {posts} in {elapsed:.2f} s", file=sys.stderr)
    return 1 if any(r.failed for r in reports) else 0


NOTHING_CHECKED = """\
NOTHING WAS CHECKED: no post of this site is opted in to check-code (or none has a
python block). Opt a post in with `check_code: true` in its front matter, or a whole
series or topic in blog.toml:
    [check_code]
    series = ["My series"]
    tags = ["Python"]"""


class _CheckProgress:
    """One line per finished post on stderr; on a terminal, a counter that rewrites itself."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, report: object, done: int, total: int) -> None:
        from blogkeeper.checkcode import UPDATED, PostReport

        assert isinstance(report, PostReport)
        state = "cached" if report.cached else "FAILED" if report.failed else "ok"
        if state == "ok" and any(o.message == UPDATED for o in report.outcomes):
            state = "updated"
        line = f"[{done}/{total}] {report.source} {state} ({report.seconds:.1f} s)"
        if self.tty:
            end = "\n" if done == total else ""
            print(f"\r\x1b[K{line}", end=end, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)
