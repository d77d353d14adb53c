"""The data a build flows through: frozen values, made once and never filled in later.

`Post` is a post as its author wrote it (content.py makes it); `Rendering` is what the
one expensive step, rendering its Markdown, gives (build.py makes it, through the cache);
`RenderedPost` joins the two; `Site` is every post with its topics and series; `Output`
is one file of the built site, put into a `Sink` as soon as it is made; `Earlier` is what
a step made in a preview's last build.
This module imports no feature module: every other module may import it.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from blogkeeper.config import SiteConfig
from blogkeeper.errors import ContentError, DamagedCache

T = TypeVar("T")


@dataclass(frozen=True)
class Post:
    """A post as its author wrote it, validated; `body` is LF-normalised Markdown, kept
    packed (`pack`, as a rendering's HTML is): a blog's bodies then take a third to a half
    of the memory, and one is unpacked only where it is read (rendering, check-code)."""

    source: str  # the file, relative to the site folder: "posts/x.md"
    title: str
    date: dt.datetime
    updated: dt.datetime | None
    tags: tuple[str, ...]
    series: str | None
    part: int | None
    summary: str
    slug: str
    draft: bool
    check_code: bool | None
    llms: bool
    packed_body: bytes  # `body`, packed
    body_line: int  # the file line where `body` starts
    fold: int | None  # the index in `body.split("\n")` of the fold line
    path: str  # the site path of its page, relative to the site root: "2026/03/slug/"
    # Its social card: an https URL, or a site path ("assets/card.png"); None for none.
    image: str | None = None
    image_line: int | None = None  # the front-matter line of `image`
    aliases: tuple[str, ...] = ()  # old site paths that redirect here: "/2015/05/old/"
    extra: dict[str, Any] = field(default_factory=dict, hash=False)  # for templates
    # the line of each front-matter key, for errors found after loading (URL clashes)
    lines: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    @property
    def last_modified(self) -> dt.datetime:
        return self.updated or self.date

    @property
    def body(self) -> str:
        return unpack(self.packed_body, self.source)


@dataclass(frozen=True)
class Rendering:
    """What rendering a post's Markdown gives: a pure function of its body, its fold and
    its absolute URL (the twin's links resolve against it), kept in the cache under a
    digest of those and of the code.

    Besides the HTML, the facts later steps would otherwise parse the HTML again for. The
    HTML and the twin, which only a post's own page, its feed entries and llms-full.txt
    show, are kept packed (`pack`): a site's renderings then take a fifth of the memory
    (and of the cache), and each is unpacked only where it is used.
    """

    packed_html: bytes  # `html`, packed
    intro: str  # the part above the fold, ids removed
    folded: bool  # whether there is more below the intro
    links: tuple[str, ...]  # every link and image URL in `html`, as written, first seen first
    ids: tuple[str, ...]  # every id (and `<a name>`) in `html`, sorted
    packed_twin: bytes  # `twin`, packed
    intro_text: str  # the intro as one line of plain text (`render.plain_text`)
    # what the author should know but that does not stop the build (TeX shown as source),
    # with no file and each line counted from the body's first (0): a post renamed, or
    # with a longer front matter, keeps its rendering (`RenderedPost.warnings` places them)
    warnings: tuple[ContentError, ...] = ()

    @property
    def html(self) -> str:
        return unpack(self.packed_html)

    @property
    def twin(self) -> str:
        """The body of the post's Markdown twin, URLs absolute."""
        return unpack(self.packed_twin)


# The code whose output a post's `Rendering` holds (`build.render_post`): a change to any
# of them renders again (`content.ENTRY_CODE` holds them, and the parse's).
RENDER_CODE = ("blogkeeper", "markdown2", "pygments", "latex2mathml", "lxml")


def pack(text: str) -> bytes:
    """`text` compressed (zlib's fastest level: rendered HTML shrinks about five times)."""
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 1)


def unpack(data: bytes, source: str = "a post") -> str:
    """What `pack` made `data` from; `DamagedCache` if it did not (a cache entry `source`
    gave, written by another hand)."""
    try:
        return zlib.decompress(data).decode("utf-8", "surrogatepass")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise DamagedCache(f"the cache entry of {source} does not unpack ({exc})") from None


@dataclass(frozen=True)
class RenderedPost:
    post: Post
    rendering: Rendering

    @property
    def html(self) -> str:
        return self.rendering.html

    @property
    def warnings(self) -> tuple[ContentError, ...]:
        """The rendering's warnings, at their lines in the post's file."""
        body_line = self.post.body_line
        return tuple(
            replace(w, path=self.post.source, line=None if w.line is None else w.line + body_line)
            for w in self.rendering.warnings
        )

    @property
    def intro(self) -> str:
        return self.rendering.intro

    @property
    def folded(self) -> bool:
        return self.rendering.folded

    @property
    def description(self) -> str:
        """A one-line description: the summary, else the intro as plain text."""
        return self.post.summary or self.rendering.intro_text


@dataclass(frozen=True)
class Group:
    """A topic or a series: a name, its URL segment and its posts."""

    name: str
    slug: str
    posts: tuple[RenderedPost, ...]


@dataclass(frozen=True)
class BlockProof:
    """What check-code's record says about one python block of a post, as a build reads it.

    `status` is "checked" (its last check passed, and neither it nor a block before it
    changed since), "edited" (its code, options or shown output changed since), "after
    edit" (a block before it changed since, so its output may too), "failed" (its last
    check did not pass), "skipped" (marked `skip`: shown, never run) or "unchecked" (no
    record of it).
    """

    line: int  # the block's first code line in the post's file
    status: str
    output_index: int | None  # which ```output fence of the post, counted in document order
    date: str = ""  # the day of the check (ISO), in the site's time zone
    tools: str = ""  # what ran it: "torch 2.13.0", or "Python 3.11.7" for plain Python

    @property
    def note(self) -> str:
        """One sentence about the block's output, for the page and the Markdown twin."""
        if self.status == "checked":
            return f"Output checked with {self.tools} on {self.date}."
        return {
            "edited": "Output not checked since edited.",
            "after edit": "Output not checked since an earlier code block was edited.",
            "failed": f"Output not checked: the code failed check-code on {self.date}.",
            "skipped": "Output not checked: the block is marked skip.",
        }.get(self.status, "Output not checked.")


@dataclass(frozen=True)
class PostProof:
    """The proof of a post that check-code selects: one `BlockProof` per python block."""

    blocks: tuple[BlockProof, ...]
    outputs: int  # how many ```output fences the post has, its python blocks' or not

    @property
    def checked(self) -> int:
        return sum(b.status == "checked" for b in self.blocks)

    @property
    def ratio(self) -> str:
        """ "12 of 12": blocks checked, of all python blocks."""
        return f"{self.checked} of {len(self.blocks)}"

    @property
    def reasons(self) -> str:
        """How many blocks are not checked, and why: "1 skipped, 2 edited since"; or ""."""
        kinds = (
            ("skipped", ("skipped",)),
            ("edited since", ("edited", "after edit")),
            ("failed", ("failed",)),
            ("never checked", ("unchecked",)),
        )
        parts = []
        for label, statuses in kinds:
            count = sum(b.status in statuses for b in self.blocks)
            if count:
                parts.append(f"{count} {label}")
        return ", ".join(parts)

    @property
    def summary(self) -> str:
        """ "12 of 12 code blocks checked", or "10 of 12 code blocks checked (2 skipped)"."""
        why = f" ({self.reasons})" if self.reasons else ""
        return f"{self.ratio} code blocks checked{why}"

    @property
    def tools(self) -> str:
        """What ran the checked blocks: "torch 2.13.0"; empty when none is checked."""
        return ", ".join(sorted({b.tools for b in self.blocks if b.status == "checked"}))

    @property
    def last_date(self) -> str:
        """The day of the latest check of a checked block (ISO); empty when none is."""
        return max((b.date for b in self.blocks if b.status == "checked"), default="")


@dataclass(frozen=True)
class Site:
    config: SiteConfig
    posts: tuple[RenderedPost, ...]  # newest first
    topics: tuple[Group, ...]  # by name
    series: tuple[Group, ...]  # by name; posts in part order
    preview: bool = False
    now: dt.datetime | None = None  # set only in previews: marks future posts "Scheduled"
    drafts_left_out: int = 0  # drafts this build does not publish
    scheduled_left_out: int = 0  # posts dated after the build's "now", not published
    # check-code's record, read when the site is loaded: the proof of each selected post
    # with python blocks, by its source path
    proofs: Mapping[str, PostProof] = field(default_factory=dict)
    # every warning of the build: the posts' renderings', then those of _headers,
    # _redirects and the link check
    warnings: tuple[ContentError, ...] = ()


@dataclass(frozen=True)
class Output:
    """One file of the built site: its path relative to the output root (POSIX
    separators, no leading slash) and its bytes."""

    path: str
    data: bytes

    def __repr__(self) -> str:
        return f"Output({self.path!r}, <{len(self.data)} bytes>)"


class Sink(Protocol):
    """Where a build puts each output as soon as it is made, so that no step holds the
    whole site: a staging folder on disk (`writer.Staging`) or memory (`Kept`).

    A path put twice is a clash the build reports once everything is put (`build`); the
    sink need not notice it. `read` gives back what was put at a path."""

    shared: bool  # whether what a forked child puts reaches the sink (a folder does)
    reusing: bool  # whether `reuse` can answer True: worth computing keys for

    def put(self, output: Output) -> None: ...

    def put_parts(self, path: str, parts: Iterable[bytes]) -> None:
        """Put the file at `path` that holds `parts` one after another, taking each part
        as it comes (all of them, even where the file is not written): a file too big to
        hold at once (llms-full.txt) need not be."""

    def read(self, path: str) -> bytes: ...

    def reuse(self, path: str, key: str | None) -> bool:
        """Whether the sink has the output at `path` whose key is `key` already, from an
        earlier build (then it holds it, and it need not be made); the key is noted. With
        no key (what it is made from cannot be keyed), False: the output is to be made.
        Every output a forked child puts must have been asked for here first."""

    # What `reuse` goes by: `record` says what the keys noted are of, and `recall` takes
    # an earlier build's record of the same sink (`name`), kept in the cache.
    name: str
    keys: dict[str, str]  # the key noted for each output path

    def record(self) -> bytes: ...

    def recall(self, record: bytes | None) -> None: ...


class Kept:
    """A sink that keeps every output in memory: what a preview serves, and what
    `build.build_site` returns."""

    shared = False
    reusing = False
    name = ""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.keys: dict[str, str] = {}  # none: it reuses nothing

    def reuse(self, path: str, key: str | None) -> bool:
        return False

    def record(self) -> bytes:
        return b""

    def recall(self, record: bytes | None) -> None:
        pass

    def put(self, output: Output) -> None:
        self.files[output.path] = output.data

    def put_parts(self, path: str, parts: Iterable[bytes]) -> None:
        self.files[path] = b"".join(parts)

    def read(self, path: str) -> bytes:
        return self.files[path]

    def outputs(self) -> list[Output]:
        """Everything put, sorted by path."""
        return [Output(path, self.files[path]) for path in sorted(self.files)]


@dataclass(frozen=True)
class BuildOptions:
    drafts: bool = False
    future: bool = False
    now: dt.datetime | None = None
    preview: bool = False
    cache: bool = True  # False: read no cache entry; keep only what this build made
    require_checked: bool = False  # fail on a selected post's block check-code has not passed


class Earlier:
    """What a step made in the last build, by name, with the inputs it made it from; and
    what it makes in this build (`made`). A step is a pure function of its inputs, so a
    value made from inputs equal to this build's is the value it would make again.
    Unchanged posts keep their objects from build to build, so comparing is cheap.

    With `remember=False` (a build no other build follows), it keeps nothing: every value
    is made, and freed as soon as the step is done with it."""

    def __init__(
        self, before: dict[str, tuple[Any, Any]] | None = None, remember: bool = True
    ) -> None:
        self.before = before or {}
        self.now: dict[str, tuple[Any, Any]] = {}
        self.made = 0  # how many values this build made rather than took from the last
        self.remember = remember

    def value(self, name: str, inputs: Any, make: Callable[[], T]) -> T:
        """`make()`, or the value made under `name` from equal inputs in this build
        already or else in the last."""
        if not self.remember:
            self.made += 1
            return make()
        old = self.now.get(name) or self.before.get(name)
        if old is not None and old[0] == inputs:
            value: T = old[1]
        else:
            value = make()
            self.made += 1
        self.now[name] = (inputs, value)
        return value

    def next(self) -> Earlier:
        """What the next build starts from: what this one made."""
        return Earlier(self.now, self.remember)
