"""Guards on the shape of the course: a short front page, chapter-sized lessons, docs that exist.

These are guards against laboratory logs creeping back into the README and
the lessons (their home is docs/experiments.md), not targets to write up to.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250
LESSON_MAX_LINES = 300
DOCS = ("design.md", "cli.md", "evaluation.md", "instructors.md", "performance.md", "experiments.md")
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_readme_is_a_front_page():
    n = line_count(ROOT / "README.md")
    assert n <= README_MAX_LINES, (f"README.md has {n} lines, the limit is {README_MAX_LINES}: move records "
                                   "of experiments to docs/experiments.md and reference material to docs/")


def test_there_are_lessons():
    assert LESSONS, "expected lessons/NN_*.py files, found none"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_lesson_is_chapter_sized(lesson):
    n = line_count(lesson)
    assert n <= LESSON_MAX_LINES, (f"{lesson.name} has {n} lines, the limit is {LESSON_MAX_LINES}: move "
                                   "tuning tables and 'what we tried' logs to docs/experiments.md")


@pytest.mark.parametrize("name", DOCS)
def test_docs_file_exists(name):
    path = ROOT / "docs" / name
    assert path.is_file(), f"expected docs/{name}"
    assert path.read_text(encoding="utf-8").lstrip().startswith("# "), f"docs/{name}: expected a '# ' title"


def markdown_links(text: str) -> list:
    """Targets of [text](target) links, without #anchors."""
    return [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)]


def test_markdown_links_finds_targets():
    text = "see [a](docs/a.md), [b](docs/b.md#part), ![pic](docs/p.png) and [web](https://x.org)"
    assert markdown_links(text) == ["docs/a.md", "docs/b.md", "docs/p.png", "https://x.org"]


def test_readme_links_to_docs_that_exist():
    linked = [t for t in markdown_links((ROOT / "README.md").read_text(encoding="utf-8"))
              if t.startswith("docs/") and t.endswith(".md")]
    missing = sorted({t for t in linked if not (ROOT / t).is_file()})
    assert not missing, f"README.md links to docs that do not exist: {missing}"


def test_docs_link_to_docs_that_exist():
    for path in sorted((ROOT / "docs").glob("*.md")):
        targets = [t for t in markdown_links(path.read_text(encoding="utf-8")) if t.endswith(".md")
                   and "://" not in t]
        missing = sorted({t for t in targets if not (path.parent / t).is_file()})
        assert not missing, f"docs/{path.name} links to files that do not exist: {missing}"
