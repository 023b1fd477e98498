"""Every citation of our notes and theory pages resolves inside the repository: the file exists,
and so does the cited section (§ 2.1) or anchor (#lemma-7)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"(docs/(?:references|theory)/[\w.-]+\.md)(#[\w-]+)?(?:,?\s*§\s*(\d+(?:\.\d+)*))?")
OLD = re.compile(r"(?<![\w/])(?:shared/)?reference/[\w.-]+\.md")


def _files():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in out if f.endswith((".py", ".md", ".toml")) and (ROOT / f).is_file()]


def _targets(path: Path) -> tuple[set[str], set[str]]:
    """(anchors, section numbers) of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([^"]+)"', text))
    sections = set()
    for h in re.findall(r"^#+\s+(.*)$", text, flags=re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-"))
        m = re.match(r"§?\s*(\d+(?:\.\d+)*)", h.strip())
        if m:
            sections.add(m.group(1))
    return anchors, sections


def _citations():
    for f in _files():
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in CITE.finditer(text):
            yield f.relative_to(ROOT).as_posix(), m.group(1), m.group(2) or "", m.group(3) or ""


def test_no_citation_points_outside_the_repository():
    old = [(f.relative_to(ROOT).as_posix(), m.group(0)) for f in _files() if "docs/references" not in str(f)
           for m in OLD.finditer(f.read_text(encoding="utf-8", errors="replace"))]
    assert not old, f"citations of notes outside the repository (use docs/references/...): {old[:10]}"


@pytest.mark.parametrize("where,target,anchor,section", sorted(set(_citations())))
def test_citation_resolves(where, target, anchor, section):
    path = ROOT / target
    assert path.is_file(), f"{where} cites {target}, which does not exist"
    anchors, sections = _targets(path)
    if anchor:
        assert anchor[1:] in anchors, f"{where} cites {target}{anchor}: no such anchor"
    if section:
        assert section in sections, f"{where} cites {target} §{section}: no such section"
