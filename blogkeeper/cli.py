"""The `blogkeeper` command line: the only place that prints errors and sets exit codes.

Exit codes: 0 success, 1 content errors (each printed as `path:line: message`), 2 usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from blogkeeper import __version__
from blogkeeper.errors import BuildError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except BuildError as exc:
        report(exc)
        return 1
    except KeyboardInterrupt:
        return 130


def report(exc: BuildError) -> None:
    for error in exc.errors:
        print(error, file=sys.stderr)
    count = len(exc.errors)
    print(f"build failed: {count} error{'s' if count != 1 else ''}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blogkeeper", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"blogkeeper {__version__}")
    commands = parser.add_subparsers(title="commands")

    build = _command(commands, "build", "build the site into public/", _run_build)
    build.add_argument("--out", type=Path, help="output folder (default: SITE/public)")
    build.add_argument("--drafts", action="store_true", help="include drafts")
    build.add_argument("--future", action="store_true", help="include future-dated posts")
    build.add_argument("--now", type=_datetime, help="the time to build at (ISO 8601), for tests")
    build.add_argument("--force", action="store_true", help="replace an output folder blogkeeper did not make")
    build.add_argument(
        "--no-cache", action="store_true", help="render every post; use no render cache"
    )

    init = _command(commands, "init", "create a new blog in DIR", _run_init, site=False)
    init.add_argument("dir", type=Path)

    new = _command(commands, "new", "create a new draft post", _run_new)
    new.add_argument("title")
    return parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    run: object,
    site: bool = True,
) -> argparse.ArgumentParser:
    command = commands.add_parser(name, help=help_text, description=help_text)
    if site:
        command.add_argument("--site", type=Path, default=Path("."), help="site folder (default: .)")
    command.set_defaults(run=run)
    return command


def _datetime(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _run_build(args: argparse.Namespace) -> int:
    from blogkeeper.cache import CACHE_DIR
    from blogkeeper.site import BuildOptions, build_site
    from blogkeeper.writer import check_output_dir, write_site

    root = args.site.resolve()
    started = time.perf_counter()
    out = check_output_dir(args.out or root / "public", root, force=args.force)
    options = BuildOptions(args.drafts, args.future, args.now, cache=not args.no_cache)
    outputs = build_site(root, options)
    write_site(outputs, out, spare=root / CACHE_DIR / "previous-site")
    elapsed = time.perf_counter() - started
    print(f"built {len(outputs)} files into {out} in {elapsed:.2f} s")
    return 0


def _run_init(args: argparse.Namespace) -> int:
    from blogkeeper.skeleton import create_site

    create_site(args.dir)
    print(f"created a new blog in {args.dir}; build it with: blogkeeper build --site {args.dir}")
    return 0


def _run_new(args: argparse.Namespace) -> int:
    from blogkeeper.skeleton import create_post

    path = create_post(args.site.resolve(), args.title)
    print(f"created {path}")
    return 0
