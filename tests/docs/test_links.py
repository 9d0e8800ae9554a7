"""Every relative link of README.md and docs/*.md reaches a file, and its ``#anchor`` a heading
of that file (anchors made as GitHub makes them)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from .snippets import ROOT, doc_pages

_CODE = re.compile(r"^```.*?^```[ \t]*$|`[^`\n]*`", re.S | re.M)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", re.M)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _prose(path: Path) -> str:
    """The page without its code (links and headings inside code are not links)."""
    return _CODE.sub("", path.read_text(encoding="utf-8"))


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped, spaces to hyphens, repeats
    numbered (``-1``, ``-2``)."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", path.read_text(encoding="utf-8"),
                  flags=re.S | re.M)
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in _HEADING.findall(text):
        anchor = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        anchors.add(f"{anchor}-{seen[anchor]}" if seen[anchor] else anchor)
        seen[anchor] += 1
    return anchors


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: page.name)
def test_relative_links_reach_a_file_and_a_heading(page: Path) -> None:
    broken = []
    for link in _LINK.findall(_prose(page)):
        if re.match(r"[a-z]+:", link):  # http:, https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in heading_anchors(target):
            broken.append(f"{link}: {target.relative_to(ROOT)} has no heading #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)
