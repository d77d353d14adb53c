"""Save-to-reload latency of `blogkeeper serve`, measured in a real headless Chromium.

For each site (the sample blog at the repository root, copied; and a generated blog of
1,000 posts), the script starts `python -m blogkeeper serve --port 0`, opens a post,
then 20 times rewrites that post's Markdown file and waits for the open tab to show the
new text. Latency = from just before the write to the reloaded page's DOMContentLoaded,
both read from the same wall clock. Prints median and p90 per site, and the server's own
rebuild times. A script, not a test:

    PYTHONPATH=. python benchmarks/serve_latency.py [--edits 20] [--posts 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from live_server import live_server  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SAMPLE_POST = ("posts/full-text-rss.md", "2025/10/full-text-rss/")
STAMP = "addEventListener('DOMContentLoaded', () => { window.__loadedAt = Date.now(); });"
SHOWS = "t => document.body && document.body.innerText.includes(t)"
TOPICS = ["Attention", "PyTorch", "Blogging", "Feeds", "Tokenizers", "Training"]


def sample_site(into: Path) -> tuple[Path, str, str]:
    root = into / "sample"
    root.mkdir()
    shutil.copy(REPO / "blog.toml", root / "blog.toml")
    for name in ("posts", "templates", "static"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
    return root, *SAMPLE_POST


def generated_site(into: Path, count: int) -> tuple[Path, str, str]:
    """`count` simple posts with prose, a code block, a fold and tags."""
    root = into / f"generated-{count}"
    (root / "posts").mkdir(parents=True)
    (root / "blog.toml").write_text('title = "Generated"\nurl = "https://gen.example.org/"\n')
    for n in range(count):
        day = 1 + n % 28
        month = 1 + (n // 28) % 12
        year = 2020 + n // (28 * 12)
        tags = f"[{TOPICS[n % len(TOPICS)]}, {TOPICS[(n * 7) % len(TOPICS)]}]"
        body = (
            f"Post number {n} introduces an idea in a paragraph or two.\n\n<!--more-->\n\n"
            + f"## Details\n\nSome *emphasis*, a [link](https://example.org/{n}) and a list:\n\n"
            + f"- one\n- two\n- three\n\n```python\nimport math\nprint(math.sqrt({n}))\n```\n\n"
            + "Closing words with a footnote.[^1]\n\n[^1]: A note.\n"
        )
        text = f'---\ntitle: "Post {n}"\ndate: {year}-{month:02d}-{day:02d}\ntags: {tags}\n---\n'
        (root / "posts" / f"post-{n:04d}.md").write_text(text + body)
    return root, "posts/post-0000.md", "2020/01/post-0000/"


def measure(root: Path, post: str, url_path: str, edits: int) -> tuple[list[float], list[float]]:
    source = root / post
    original = source.read_text()
    latencies: list[float] = []
    rebuilds: list[float] = []
    # The first build of 10,000 posts takes minutes when the cache is cold.
    with live_server(root, first_build=900) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(STAMP)
        page.goto(server.url + url_path)
        page.wait_for_function("window.__loadedAt !== undefined")
        time.sleep(1.0)  # let the reload channel connect
        for n in range(edits):
            token = f"Latency probe {n} {time.time_ns()}"
            saved_at = time.time() * 1000
            source.write_text(original.rstrip("\n") + f"\n\n{token}\n")
            page.wait_for_function(SHOWS, arg=token, timeout=60_000)
            latencies.append(page.evaluate("window.__loadedAt") - saved_at)
            rebuilt = server.wait_for(r"rebuilt in")
            rebuilds.append(float(rebuilt.split(" in ")[1].split()[0]) * 1000)
            time.sleep(0.3)
        browser.close()
    source.write_text(original)
    return latencies, rebuilds


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-latency-") as tmp:
        sites = [
            ("sample blog", *sample_site(Path(tmp))),
            (f"{args.posts} posts", *generated_site(Path(tmp), args.posts)),
        ]
        for name, root, post, url_path in sites:
            latencies, rebuilds = measure(root, post, url_path, args.edits)
            print(
                f"{name:>12}: save-to-reload median {statistics.median(latencies):7.0f} ms, "
                f"p90 {p90(latencies):7.0f} ms over {len(latencies)} edits; "
                f"server rebuild median {statistics.median(rebuilds):6.0f} ms"
            )


if __name__ == "__main__":
    main()
