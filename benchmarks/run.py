"""Build the same synthetic blog with blogkeeper, Hugo, Pelican and Eleventy, side by side.

For each size, the blog is generated once (benchmarks/generate.py) and each tool builds its
own copy; repetitions are interleaved (tool order rotates every repetition) so that a
noisy machine hurts every tool alike. Measured per tool and repetition:

- cold: an empty output folder and, for blogkeeper, an empty render cache;
- unchanged: the same build again, nothing edited;
- one edit: one post's text changed (a different post each repetition), then rebuilt;
- CPU time: user + system seconds of the build and all its processes and threads;
- peak memory: the largest memory of the build's whole process tree (all pool workers
  added up), over all three builds, twice: resident sets added up (sampled every 20 ms;
  counts a page that forked workers share with their parent once per process), and
  proportional sets (PSS) added up (every 200 ms; counts each page once).

Prints medians and blogkeeper/peer ratios as Markdown tables, with the machine it ran on.

    python benchmarks/run.py --sizes 1000,10000 --reps 3
    python benchmarks/run.py --sizes 10000 --skip pelican@10000   # a peer at one size

Pelican pins an older Pygments than blogkeeper, so install it in a venv of its own:
`python3 -m venv /work/venv-pelican && /work/venv-pelican/bin/pip install pelican markdown`
and pass `--pelican PATH` if it lives elsewhere. Hugo: `apt-get install hugo`. Eleventy 3
with its syntax-highlight and RSS plugins: `npm install --prefix /work/bench-tools
@11ty/eleventy@3 @11ty/eleventy-plugin-syntaxhighlight @11ty/eleventy-plugin-rss` (pass
`--eleventy-modules PATH/node_modules` if elsewhere; each Eleventy site links to it).
Run with the blogkeeper to measure importable (e.g. `PYTHONPATH=. python benchmarks/run.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

NOW = "2026-01-01T00:00:00+00:00"
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Tool:
    name: str
    command: Callable[[Path], list[str]]
    clean: Callable[[Path], None]  # what "cold" removes
    post: Callable[[Path, int], Path]  # the source file of post number N


@dataclass
class Samples:
    cold: list[float] = field(default_factory=list)
    unchanged: list[float] = field(default_factory=list)
    edit: list[float] = field(default_factory=list)
    cold_cpu: list[float] = field(default_factory=list)
    unchanged_cpu: list[float] = field(default_factory=list)
    edit_cpu: list[float] = field(default_factory=list)
    memory: list[int] = field(default_factory=list)
    memory_pss: list[int] = field(default_factory=list)


def _remove(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _nth(folder: Path, number: int) -> Path:
    return next(folder.glob(f"{number:05d}-*.md"))


def tools(args: argparse.Namespace) -> dict[str, Tool]:
    python = [sys.executable, "-m", "blogkeeper", "build", "--now", NOW]
    return {
        "blogkeeper": Tool(
            "blogkeeper",
            lambda d: [*python, "--site", str(d)],
            lambda d: _remove(d / "public", d / ".blogkeeper-cache"),
            lambda d, n: _nth(d / "posts", n),
        ),
        "hugo": Tool(
            "hugo",
            lambda d: [args.hugo, "--quiet", "-s", str(d)],
            lambda d: _remove(d / "public", d / "resources"),
            lambda d, n: _nth(d / "content" / "posts", n),
        ),
        "pelican": Tool(
            "pelican",
            lambda d: [
                args.pelican,
                "-q",
                "-s",
                str(d / "pelicanconf.py"),
                "-o",
                str(d / "output"),
                str(d / "content"),
            ],
            lambda d: _remove(d / "output", d / "cache", d / "__pycache__"),
            lambda d, n: _nth(d / "content", n),
        ),
        "eleventy": Tool(
            "eleventy",
            lambda d: ["node", str(args.eleventy_modules / "@11ty/eleventy/cmd.cjs"), "--quiet"],
            lambda d: _remove(d / "_site", d / ".cache"),
            lambda d, n: _nth(d / "posts", n),
        ),
    }


def _tree_memory(root: int, proportional: bool = True) -> tuple[int, int]:
    """(resident, proportional) bytes of `root` and all its descendants, from /proc.

    Resident set sizes added up count a page shared by forked processes once per process;
    the proportional set size (PSS) splits each shared page between the processes that
    share it, so its sum is the memory the tree really holds.
    """
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                parents[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(kids)
        frontier += kids
    rss = pss = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss += int(f.read().split()[1]) * PAGE
            if not proportional:
                continue
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                pss += next(int(line.split()[1]) * 1024 for line in f if line.startswith(b"Pss:"))
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    return rss, pss


def measure(command: list[str], cwd: Path) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, peak resident bytes, peak proportional bytes of the
    process tree) of one build.

    CPU seconds (user + system, the build's process and every descendant it waited for,
    threads included) are what a busy, shared machine distorts least.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        # PSS makes the kernel walk every page table: for a 3 GB process that is
        # milliseconds, so it is read every 10th sample only, not to slow the build measured.
        nonlocal peak, peak_pss
        tick = 0
        while not done.wait(0.02):
            rss, pss = _tree_memory(proc.pid, proportional=tick % 10 == 0)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            tick += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(
            f"{command[0]} failed:\n{proc.stderr.read().decode() if proc.stderr else ''}"
        )
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, max(peak, usage.ru_maxrss * 1024), peak_pss


def run_size(size: int, args: argparse.Namespace, chosen: list[Tool]) -> dict[str, Samples]:
    base = args.work / str(size)
    print(f"\ngenerating {size} posts in {base} ...", flush=True)
    generate(size, base)
    (base / "eleventy" / "node_modules").symlink_to(args.eleventy_modules)
    results = {tool.name: Samples() for tool in chosen}
    for rep in range(args.reps):
        order = chosen[rep % len(chosen) :] + chosen[: rep % len(chosen)]
        for tool in order:
            site, samples = base / tool.name, results[tool.name]
            tool.clean(site)
            cold, cold_cpu, mem1, pss1 = measure(tool.command(site), site)
            unchanged, unchanged_cpu, mem2, pss2 = measure(tool.command(site), site)
            post = tool.post(site, 1 + (rep * 7919) % size)
            post.write_text(post.read_text() + f"\nEdited in repetition {rep}.\n")
            edit, edit_cpu, mem3, pss3 = measure(tool.command(site), site)
            samples.cold.append(cold)
            samples.unchanged.append(unchanged)
            samples.edit.append(edit)
            samples.cold_cpu.append(cold_cpu)
            samples.unchanged_cpu.append(unchanged_cpu)
            samples.edit_cpu.append(edit_cpu)
            samples.memory.append(max(mem1, mem2, mem3))
            samples.memory_pss.append(max(pss1, pss2, pss3))
            print(
                f"  {size} rep {rep + 1} {tool.name:10} cold {cold:6.2f} s  unchanged {unchanged:6.2f} s  "
                f"edit {edit:6.2f} s  peak {max(mem1, mem2, mem3) / 2**20:6.0f} MB "
                f"(PSS {max(pss1, pss2, pss3) / 2**20:.0f} MB)  "
                f"(CPU {cold_cpu:.2f} / {unchanged_cpu:.2f} / {edit_cpu:.2f} s)",
                flush=True,
            )
    return results


def table(size: int, results: dict[str, Samples]) -> str:
    names = list(results)
    peers = [n for n in names if n != "blogkeeper"]
    head = ["", *names, *(f"blogkeeper/{p}" for p in peers)]
    rows = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
    metrics = [
        ("cold build", "cold", "s"),
        ("unchanged rebuild", "unchanged", "s"),
        ("one post edited", "edit", "s"),
        ("cold build, CPU time", "cold_cpu", "s"),
        ("unchanged rebuild, CPU time", "unchanged_cpu", "s"),
        ("one post edited, CPU time", "edit_cpu", "s"),
        ("peak memory (resident sets added up)", "memory", "MB"),
        ("peak memory (proportional sets added up)", "memory_pss", "MB"),
    ]
    for label, attr, unit in metrics:
        medians = {n: statistics.median(getattr(results[n], attr)) for n in names}
        if unit == "MB":
            medians = {n: v / 2**20 for n, v in medians.items()}
        cells = [
            f"{medians[n]:.2f} {unit}" if unit == "s" else f"{medians[n]:.0f} {unit}" for n in names
        ]
        if "blogkeeper" in medians:
            cells += [f"{medians['blogkeeper'] / medians[p]:.2f}" for p in peers]
        rows.append(f"| {label} | {' | '.join(cells)} |")
    return (
        f"\n### {size:,} posts (median of {len(next(iter(results.values())).cold)})\n\n"
        + "\n".join(rows)
    )


def machine(args: argparse.Namespace) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 2**20
    peers = []
    if "hugo" in args.tools:
        version = subprocess.run([args.hugo, "version"], capture_output=True, text=True)
        peers.append(f"hugo {' '.join(version.stdout.split()[1:2])}")
    if "pelican" in args.tools:
        version = subprocess.run([args.pelican, "--version"], capture_output=True, text=True)
        peers.append(f"pelican {version.stdout.strip()}")
    if "eleventy" in args.tools:
        package = args.eleventy_modules / "@11ty/eleventy/package.json"
        peers.append(f"eleventy {json.loads(package.read_text())['version']}")
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, {memory} GB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; {', '.join(peers)}; "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated post counts")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per tool and size")
    parser.add_argument("--tools", default="blogkeeper,hugo,pelican,eleventy")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="TOOL[@SIZE]",
        help="leave a tool out (at one size only with @SIZE); repeatable",
    )
    parser.add_argument("--hugo", default=shutil.which("hugo") or "/usr/bin/hugo")
    parser.add_argument("--pelican", default="/work/venv-pelican/bin/pelican")
    parser.add_argument(
        "--eleventy-modules", type=Path, default=Path("/work/bench-tools/node_modules")
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/blogkeeper-bench"))
    args = parser.parse_args()
    started = time.perf_counter()
    print(machine(args))
    available = tools(args)
    for size in (int(s) for s in args.sizes.split(",")):
        skipped = {s.split("@")[0] for s in args.skip if "@" not in s or s.endswith(f"@{size}")}
        chosen = [available[n] for n in args.tools.split(",") if n not in skipped]
        print(table(size, run_size(size, args, chosen)), flush=True)
    print(
        f"\ntotal run time {time.perf_counter() - started:.0f} s; "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
