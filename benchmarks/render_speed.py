"""CPU time of rendering the first N posts of a site in one process.

    PYTHONPATH=. python benchmarks/render_speed.py SITE [N] [--reps 3] [--profile]

Two figures, median of `--reps` each (CPU time of this process), as ms/post and MB/s of
Markdown: "cold memo" clears render.py's per-block highlighting memo before each run, as
a build's first render in a fresh process meets it; "warm memo" renders the same posts
again with the memo kept, as a rebuild in `serve` does. Lexers and the formatter are made
once, before timing, in both.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import statistics
import time
from pathlib import Path

from blogkeeper import render
from blogkeeper.config import load_config
from blogkeeper.content import LoadOptions, Post, load_posts


def _run(posts: list[Post], clear: bool) -> float:
    if clear:
        render._highlight.cache_clear()
    start = time.process_time()
    for post in posts:
        render.render_markdown(post.body, post.fold, post.source, post.body_line)
    return time.process_time() - start


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
    _run(posts[:5], clear=True)  # warm up: lexers, the formatter, markdown2's regexes
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(_run, posts, True)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    times: dict[str, list[float]] = {"cold memo": [], "warm memo": []}
    for _ in range(args.reps):
        times["cold memo"].append(_run(posts, clear=True))
        times["warm memo"].append(_run(posts, clear=False))
    for name, runs in times.items():
        cpu = statistics.median(runs)
        print(
            f"{name:9} {len(posts)} posts: {cpu / len(posts) * 1000:.2f} ms/post CPU,"
            f" {size / cpu / 1e6:.2f} MB/s (runs: {', '.join(f'{r:.2f}' for r in runs)} s)"
        )


if __name__ == "__main__":
    main()
