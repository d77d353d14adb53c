"""The sample blog at the repository root builds, and its pages parse."""

from pathlib import Path

from conftest import build, copy_sample
from lxml import html


def test_sample_blog_builds(tmp_path: Path) -> None:
    result = build(copy_sample(tmp_path / "site"), "--out", tmp_path / "public")
    assert result.code == 0, result.err
    index = html.parse(str(tmp_path / "public" / "index.html")).getroot()
    assert index.findtext(".//title") == "Tensors & Tea"
    assert index.xpath("//link[@rel='alternate'][@type='application/rss+xml']")
