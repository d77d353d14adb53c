"""CPU time of rendering the first N posts of a site, with and without blogkeeper.highlight.

    PYTHONPATH=. python benchmarks/render_speed.py SITE [N] [--reps 3] [--profile]

Runs the fast highlighter and plain Pygments alternately (median of `--reps` each, CPU time
of this process) and prints ms/post and MB/s of Markdown for both.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import statistics
import time
from functools import lru_cache
from pathlib import Path

import pygments

from blogkeeper import highlight, render
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, load_posts
from blogkeeper.highlight import lexer_for


def _plain(code: str, lexer: object, formatter: object) -> str:
    return str(pygments.highlight(code, lexer, formatter))


@lru_cache(maxsize=256)
def _plain_lexer(lang: str) -> object:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None


def _run(posts: list, engine: str) -> float:
    fast = (highlight.highlight, highlight.lexer_for)
    if engine == "pygments":
        highlight.highlight, highlight.lexer_for = _plain, _plain_lexer  # type: ignore[assignment]
    render._highlight.cache_clear()
    try:
        start = time.process_time()
        for post in posts:
            render.render_markdown(post.body, post.fold, post.source, post.body_line)
        return time.process_time() - start
    finally:
        highlight.highlight, highlight.lexer_for = fast


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("site", type=Path)
    parser.add_argument("n", type=int, nargs="?", default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    posts = load_posts(load_config(args.site), LoadOptions(False, False, now))[: args.n]
    size = sum(len(p.body) for p in posts)
    for lang in ("python", "bash", "json"):
        lexer_for(lang)
    _run(posts[:5], "fast")
    _run(posts[:5], "pygments")  # warm up both (lexer set-up, regex compilation)
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(_run, posts, "fast")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    times: dict[str, list[float]] = {"pygments": [], "fast": []}
    for _ in range(args.reps):
        for engine in times:
            times[engine].append(_run(posts, engine))
    for engine, runs in times.items():
        cpu = statistics.median(runs)
        print(
            f"{engine:9} {len(posts)} posts: {cpu / len(posts) * 1000:.2f} ms/post CPU,"
            f" {size / cpu / 1e6:.2f} MB/s (runs: {', '.join(f'{r:.2f}' for r in runs)} s)"
        )


if __name__ == "__main__":
    main()
