"""Wall time of loading every post of a site (`content.select_posts`) in one process.

    PYTHONPATH=. python benchmarks/load_speed.py SITE [--reps 5] [--profile]

Prints the median of `--reps` runs, in seconds and microseconds per post, after one
untimed run that imports the parsers and warms the file system cache; `--profile`
prints a cProfile of one run instead.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import statistics
import time
from pathlib import Path

from blogkeeper.config import SiteConfig, load_config
from blogkeeper.content import LoadOptions, find_post_files, select_posts


def _run(config: SiteConfig, options: LoadOptions) -> float:
    start = time.perf_counter()
    select_posts(config, options)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("site", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    config = load_config(args.site)
    options = LoadOptions(drafts=True, future=True, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    count = len(find_post_files(config.root)[0])
    _run(config, options)  # warm up: imports, the file system cache
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(select_posts, config, options)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    runs = [_run(config, options) for _ in range(args.reps)]
    median = statistics.median(runs)
    print(
        f"{count} posts: {median:.3f} s median, {median / count * 1e6:.0f} us/post"
        f" (runs: {', '.join(f'{r:.3f}' for r in runs)} s)"
    )


if __name__ == "__main__":
    main()
