"""The sample blog at the repository root builds, and its pages parse."""

from pathlib import Path

from conftest import REPO, build
from lxml import html


def test_sample_blog_builds(tmp_path: Path) -> None:
    result = build(REPO, "--out", tmp_path / "public")
    assert result.code == 0, result.err
    index = html.parse(str(tmp_path / "public" / "index.html")).getroot()
    assert index.findtext(".//title") == "Tensors & Tea"
    assert index.xpath("//link[@rel='alternate'][@type='application/rss+xml']")
