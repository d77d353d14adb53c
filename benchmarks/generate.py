"""Generate the same synthetic blog of N posts for blogkeeper, Hugo, Pelican and Eleventy.

Deterministic: the same N and seed always give the same files. Each post is about 10 KB of
Markdown with prose, lists, links, a table, footnotes, math, one to three fenced code blocks
(python, bash, json), tags, a series for some posts and a `<!--more-->` fold. The three
sites carry the same posts with the same work switched on: highlighting, a full-text feed
of 20 items, tag pages, 10 posts per list page.

    python benchmarks/generate.py 1000 /tmp/bench   # blogkeeper/, hugo/, pelican/, eleventy/

Writes only inside the folder it is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

WORDS = (  # noqa: SIM905
    "tensor gradient batch layer token embedding attention weight matrix vector model "
    "training loss optimizer kernel cache buffer stream request response server client schema "
    "query index table column record parser lexer compiler runtime thread process queue "
    "socket packet header payload feed post reader writer build output input value shape "
    "dimension softmax dropout mask head projection residual norm scale bias update"
).split()
VERBS = (  # noqa: SIM905
    "computes returns transforms stores reads writes checks measures splits merges normalises "
    "projects sorts filters renders caches streams parses compiles loads"
).split()
ADJECTIVES = (  # noqa: SIM905
    "small large fast slow careful simple hidden final first causal sparse dense noisy stable "
    "shared local global fresh stale"
).split()
TAGS = (  # noqa: SIM905
    "Python PyTorch AI Rust Databases Networking Testing Performance Blogging Linux Web "
    "Security Compilers Math Tooling Career Writing Hardware Go Statistics"
).split()
SERIES = ("LLM from scratch", "Database internals", "Packets by hand", "Compilers for fun")
LINKS = (
    "https://example.org/docs/",
    "https://pytorch.org/docs/stable/",
    "https://docs.python.org/3/library/",
    "https://en.wikipedia.org/wiki/Attention_(machine_learning)",
)
START = dt.datetime(2015, 1, 1, 9, 0)


@dataclass(frozen=True)
class BenchPost:
    number: int
    title: str
    date: dt.datetime
    tags: tuple[str, ...]
    series: str | None
    part: int | None
    body: str  # Markdown with `<!--more-->` after the intro

    @property
    def stem(self) -> str:
        return f"{self.number:05d}-{slug(self.title)}"


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    words.insert(2, rng.choice(VERBS))
    words.insert(1, rng.choice(ADJECTIVES))
    roll = rng.random()
    if roll < 0.15:
        words[4] = f"`{words[4]}_{rng.randint(1, 99)}`"
    elif roll < 0.25:
        words[3] = f"[{words[3]}]({rng.choice(LINKS)}{words[3]})"
    elif roll < 0.35:
        words[5] = f"**{words[5]}**"
    elif roll < 0.42:
        words[5] = f"${rng.choice('xyzW')}_{rng.randint(1, 9)}^{rng.randint(2, 4)}$"
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random, sentences: int | None = None) -> str:
    return " ".join(sentence(rng) for _ in range(sentences or rng.randint(3, 5)))


def python_block(rng: random.Random) -> str:
    name = rng.choice(WORDS)
    lines = ["import torch", "", f"def {name}_step(x, scale={rng.randint(2, 9)}):"]
    for i in range(rng.randint(6, 14)):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        lines.append(
            f"    {a}_{i} = torch.{rng.choice(['relu', 'tanh', 'sigmoid'])}(x * {rng.random():.4f})  # {b}"
        )
    lines += [
        "    return x / scale",
        "",
        f"out = {name}_step(torch.rand({rng.randint(2, 8)}, 4))",
        "print(out.shape)",
    ]
    return "```python\n" + "\n".join(lines) + "\n```"


def bash_block(rng: random.Random) -> str:
    lines = [f"# {sentence(rng)[:60]}", "set -euo pipefail"]
    for _ in range(rng.randint(3, 8)):
        word = rng.choice(WORDS)
        lines.append(
            f'for f in {word}/*.txt; do grep -c "{rng.choice(WORDS)}" "$f" | sort -n; done'
        )
        lines.append(f"export {word.upper()}_DIR=/var/lib/{word}/{rng.randint(1, 999)}")
    return "```bash\n" + "\n".join(lines) + "\n```"


def json_block(rng: random.Random) -> str:
    data = {
        rng.choice(WORDS) + str(i): {
            "size": rng.randint(1, 4096),
            "ok": rng.random() < 0.5,
            "tags": rng.sample(WORDS, 3),
        }
        for i in range(rng.randint(3, 7))
    }
    return "```json\n" + json.dumps(data, indent=2) + "\n```"


def table(rng: random.Random) -> str:
    rows = ["| setting | value | note |", "|---|---:|---|"]
    for _ in range(rng.randint(3, 7)):
        rows.append(
            f"| `{rng.choice(WORDS)}` | {rng.randint(1, 10000)} | {rng.choice(ADJECTIVES)} {rng.choice(WORDS)} |"
        )
    return "\n".join(rows)


def bullet_list(rng: random.Random) -> str:
    marker = rng.choice(["-", "1."])
    return "\n".join(f"{marker} {sentence(rng)}" for _ in range(rng.randint(3, 6)))


def body(rng: random.Random) -> str:
    blocks = [paragraph(rng), paragraph(rng), "<!--more-->"]
    code = [rng.choice([python_block, bash_block, json_block]) for _ in range(rng.randint(1, 3))]
    notes = rng.randint(1, 3)
    for section in range(6):
        blocks.append(f"## {rng.choice(ADJECTIVES).title()} {rng.choice(WORDS)} {section + 1}")
        blocks += [paragraph(rng), paragraph(rng)]
        if section == 1:
            blocks.append(bullet_list(rng))
        if section == 2:
            blocks.append(table(rng))
        if section == 3:
            blocks.append(
                f"$$\n\\sum_{{i=1}}^{{n}} {rng.choice('xyz')}_i^2 = \\frac{{{rng.randint(1, 9)}}}{{n}}\n$$"
            )
        if code and section in (1, 3, 5):
            blocks.append(code.pop()(rng))
        if section < notes:
            blocks[-1] += f"[^n{section}]"
        blocks.append(paragraph(rng))
    for code_block in code:
        blocks.append(code_block(rng))
    blocks += [f"[^n{i}]: {sentence(rng)}" for i in range(notes)]
    return "\n\n".join(blocks) + "\n"


def make_posts(count: int, seed: int = 1) -> list[BenchPost]:
    rng = random.Random(seed)
    posts = []
    parts: dict[str, int] = {}
    step = (dt.datetime(2025, 12, 31) - START) / max(count, 1)
    for number in range(1, count + 1):
        title = f"{rng.choice(ADJECTIVES).title()} {rng.choice(WORDS)} {rng.choice(VERBS)} {rng.choice(WORDS)} {number}"
        series = rng.choice(SERIES) if rng.random() < 0.3 else None
        part = None
        if series:
            parts[series] = parts.get(series, 0) + 1
            part = parts[series]
        date = (START + step * number).replace(microsecond=0, second=0)
        tags = tuple(sorted(set(rng.sample(TAGS, rng.randint(1, 4)))))
        posts.append(BenchPost(number, title, date, tags, series, part, body(rng)))
    return posts


def write_blogkeeper(posts: list[BenchPost], root: Path) -> None:
    (root / "posts").mkdir(parents=True)
    (root / "blog.toml").write_text(
        'title = "Bench blog"\nurl = "https://bench.example.org/"\n'
        'description = "A synthetic blog for benchmarks."\nauthor = "Bench"\n'
        'timezone = "UTC"\nposts_per_page = 10\n\n[feed]\nfull_text = true\nitems = 20\n'
    )
    for post in posts:
        meta = [
            f'title: "{post.title}"',
            f"date: {post.date:%Y-%m-%d %H:%M}",
            f"tags: [{', '.join(post.tags)}]",
        ]
        if post.series:
            meta += [f"series: {post.series}", f"part: {post.part}"]
        text = "---\n" + "\n".join(meta) + "\n---\n" + post.body
        (root / "posts" / f"{post.stem}.md").write_text(text)


HUGO_CONFIG = """\
baseURL = "https://bench.example.org/"
title = "Bench blog"
languageCode = "en"
paginate = 10
disableKinds = ["robotsTXT"]

[taxonomies]
tag = "tags"
series = "series"

[outputs]
home = ["HTML", "RSS"]
section = ["HTML"]
taxonomy = ["HTML"]
term = ["HTML"]

[services.rss]
limit = 20

[markup.highlight]
codeFences = true
noClasses = false

[markup.goldmark.renderer]
unsafe = true
"""

HUGO_LAYOUTS = {
    "_default/baseof.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }} · {{ site.Title }}</title>
<link rel="alternate" type="application/rss+xml" href="{{ "index.xml" | absURL }}">
<link rel="stylesheet" href="{{ "style.css" | relURL }}"></head>
<body><header><a href="{{ "/" | relURL }}">{{ site.Title }}</a></header>
<main>{{ block "main" . }}{{ end }}</main></body></html>
""",
    "_default/single.html": """{{ define "main" }}<article><h1>{{ .Title }}</h1>
<time datetime="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">{{ .Date.Format "2 January 2006" }}</time>
<ul>{{ range .Params.tags }}<li><a href="{{ (print "/tags/" (. | urlize) "/") | relURL }}">{{ . }}</a></li>{{ end }}</ul>
{{ .Content }}</article>{{ end }}
""",
    "_default/list.html": """{{ define "main" }}<h1>{{ .Title }}</h1>
{{ $pages := .Pages }}{{ if .IsHome }}{{ $pages = where site.RegularPages "Type" "posts" }}{{ end }}
{{ $paginator := .Paginate $pages }}
{{ range $paginator.Pages }}<article><h2><a href="{{ .RelPermalink }}">{{ .Title }}</a></h2>
{{ .Summary }}<p><a href="{{ .RelPermalink }}">Read more</a></p></article>{{ end }}
{{ if $paginator.HasPrev }}<a href="{{ $paginator.Prev.URL }}">Newer</a>{{ end }}
{{ if $paginator.HasNext }}<a href="{{ $paginator.Next.URL }}">Older</a>{{ end }}
{{ end }}
""",
    "_default/terms.html": """{{ define "main" }}<h1>{{ .Title }}</h1><ul>
{{ range .Data.Terms.Alphabetical }}<li><a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a> ({{ .Count }})</li>{{ end }}
</ul>{{ end }}
""",
    "_default/rss.xml": """<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<rss version="2.0"><channel><title>{{ site.Title }}</title><link>{{ .Permalink }}</link>
<description>A synthetic blog for benchmarks.</description>
{{ range first 20 (where site.RegularPages "Type" "posts") }}<item><title>{{ .Title }}</title>
<link>{{ .Permalink }}</link><guid>{{ .Permalink }}</guid>
<pubDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" }}</pubDate>
<description>{{ .Content | html }}</description></item>
{{ end }}</channel></rss>
""",
}


def write_hugo(posts: list[BenchPost], root: Path) -> None:
    (root / "content" / "posts").mkdir(parents=True)
    (root / "hugo.toml").write_text(HUGO_CONFIG)
    for name, text in HUGO_LAYOUTS.items():
        (root / "layouts" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "layouts" / name).write_text(text)
    for post in posts:
        meta = [
            f'title = "{post.title}"',
            f"date = {post.date:%Y-%m-%dT%H:%M:%S}Z",
            "tags = [" + ", ".join(f'"{t}"' for t in post.tags) + "]",
        ]
        if post.series:
            meta.append(f'series = ["{post.series}"]')
        text = "+++\n" + "\n".join(meta) + "\n+++\n" + post.body
        (root / "content" / "posts" / f"{post.stem}.md").write_text(text)


PELICAN_CONFIG = """\
AUTHOR = "Bench"
SITENAME = "Bench blog"
SITEURL = "https://bench.example.org"
PATH = "content"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
DEFAULT_PAGINATION = 10
FEED_DOMAIN = SITEURL
FEED_ALL_RSS = "feeds/all.rss.xml"
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
FEED_MAX_ITEMS = 20
RSS_FEED_SUMMARY_ONLY = False
ARTICLE_URL = "{date:%Y}/{date:%m}/{slug}/"
ARTICLE_SAVE_AS = "{date:%Y}/{date:%m}/{slug}/index.html"
MARKDOWN = {
    "extension_configs": {
        "markdown.extensions.codehilite": {"css_class": "highlight"},
        "markdown.extensions.extra": {},
        "markdown.extensions.meta": {},
    },
    "output_format": "html5",
}
"""


def write_pelican(posts: list[BenchPost], root: Path) -> None:
    (root / "content").mkdir(parents=True)
    (root / "pelicanconf.py").write_text(PELICAN_CONFIG)
    for post in posts:
        meta = [
            f"Title: {post.title}",
            f"Date: {post.date:%Y-%m-%d %H:%M}",
            f"Tags: {', '.join(post.tags)}",
            f"Category: {post.series or 'Notes'}",
            f"Slug: {slug(post.title)}",
        ]
        text = "\n".join(meta) + "\n\n" + post.body
        (root / "content" / f"{post.stem}.md").write_text(text)


ELEVENTY_CONFIG = """\
import syntaxHighlight from "@11ty/eleventy-plugin-syntaxhighlight";
import { feedPlugin } from "@11ty/eleventy-plugin-rss";

export default function (eleventyConfig) {
  eleventyConfig.addPlugin(syntaxHighlight);
  eleventyConfig.addPlugin(feedPlugin, {
    type: "rss",
    outputPath: "/feed.xml",
    collection: { name: "posts", limit: 20 },
    metadata: {
      language: "en",
      title: "Bench blog",
      subtitle: "A synthetic blog for benchmarks.",
      base: "https://bench.example.org/",
      author: { name: "Bench" },
    },
  });
  eleventyConfig.addFilter("newestFirst", (posts) => [...posts].reverse());
  eleventyConfig.addFilter("topics", (collections) =>
    Object.keys(collections).filter((t) => t !== "all" && t !== "posts").sort());
  eleventyConfig.setFrontMatterParsingOptions({ excerpt: true, excerpt_separator: "<!--more-->" });
  return { dir: { input: ".", output: "_site" }, markdownTemplateEngine: false };
}
"""

ELEVENTY_TEMPLATES = {
    "_includes/base.njk": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · Bench blog</title>
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
<link rel="stylesheet" href="/style.css"></head>
<body><header><a href="/">Bench blog</a></header>
<main>{{ content | safe }}</main></body></html>
""",
    "_includes/post.njk": """---
layout: base.njk
---
<article><h1>{{ title }}</h1>
<time datetime="{{ page.date.toISOString() }}">{{ page.date.toDateString() }}</time>
<ul>{% for tag in tags %}{% if tag != "posts" %}<li><a href="/tags/{{ tag | slugify }}/">{{ tag }}</a></li>{% endif %}{% endfor %}</ul>
{{ content | safe }}</article>
""",
    "index.njk": """---
layout: base.njk
title: Home
pagination:
  data: collections.posts
  size: 10
  reverse: true
  alias: posts
permalink: "/{% if pagination.pageNumber > 0 %}page/{{ pagination.pageNumber + 1 }}/{% endif %}"
---
{% for post in posts %}<article><h2><a href="{{ post.url }}">{{ post.data.title }}</a></h2>
{{ post.page.excerpt | safe }}<p><a href="{{ post.url }}">Read more</a></p></article>{% endfor %}
{% if pagination.href.previous %}<a href="{{ pagination.href.previous }}">Newer</a>{% endif %}
{% if pagination.href.next %}<a href="{{ pagination.href.next }}">Older</a>{% endif %}
""",
    "tags.njk": """---
layout: base.njk
pagination:
  data: collections
  size: 1
  alias: tag
  filter: [all, posts]
permalink: "/tags/{{ tag | slugify }}/"
eleventyComputed:
  title: "{{ tag }}"
---
<h1>{{ tag }}</h1>
{% for post in collections[tag] | newestFirst %}<article><h2><a href="{{ post.url }}">{{ post.data.title }}</a></h2></article>{% endfor %}
""",
    "tags-index.njk": """---
layout: base.njk
title: Tags
permalink: /tags/
---
<h1>Tags</h1><ul>{% for tag in collections | topics %}<li><a href="/tags/{{ tag | slugify }}/">{{ tag }}</a> ({{ collections[tag].length }})</li>{% endfor %}</ul>
""",
    "posts/posts.json": """{"layout": "post.njk", "tags": ["posts"]}
""",
}


def write_eleventy(posts: list[BenchPost], root: Path) -> None:
    """An Eleventy 3 site; `node_modules` is linked in by benchmarks/run.py."""
    (root / "posts").mkdir(parents=True)
    (root / "eleventy.config.mjs").write_text(ELEVENTY_CONFIG)
    for name, text in ELEVENTY_TEMPLATES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for post in posts:
        meta = [
            f'title: "{post.title}"',
            f"date: {post.date:%Y-%m-%dT%H:%M:%S}Z",
            "tags: [" + ", ".join(f'"{t}"' for t in post.tags) + "]",
            f"permalink: /{post.date:%Y/%m}/{slug(post.title)}/",
        ]
        if post.series:
            meta.append(f'series: "{post.series}"')
        text = "---\n" + "\n".join(meta) + "\n---\n" + post.body
        (root / "posts" / f"{post.stem}.md").write_text(text)


def generate(count: int, out: Path, seed: int = 1) -> None:
    """Write `out/blogkeeper`, `out/hugo`, `out/pelican` and `out/eleventy` with `count`
    posts each."""
    posts = make_posts(count, seed)
    for name, writer in (
        ("blogkeeper", write_blogkeeper),
        ("hugo", write_hugo),
        ("pelican", write_pelican),
        ("eleventy", write_eleventy),
    ):
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        writer(posts, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="number of posts")
    parser.add_argument("out", type=Path, help="folder to write the three sites into")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    generate(args.count, args.out, args.seed)


if __name__ == "__main__":
    main()
