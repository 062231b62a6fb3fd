"""Coursework: the student edition and the per-exercise progress table.

Teaching-critical code in the library is wrapped in marker comments::

    # BEGIN EXERCISE 3: the Adam step
    # Hint: keep m and v per parameter; correct their bias with the step counter t.
    ...solution...
    # END EXERCISE 3

``python -m aigc_np.coursework student`` (``make student``) copies the
project to ``build/student/`` with every region replaced by::

    raise NotImplementedError("Exercise 3: the Adam step. Hint: keep m and v ...")

(the signature and docstring around it stay), checks that no line of a
removed region survives anywhere in the edition, and zips it to
``build/aigc_np-student.zip``. Tests carry pytest markers ``ex1`` ... so a
student runs ``make test EX=3``; ``python -m aigc_np.coursework progress``
(``make progress``) prints which exercises pass.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass

__all__ = ["Region", "find_regions", "strip_exercises", "make_student_edition", "list_exercises", "progress"]

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN EXERCISE (?P<n>\d+): (?P<title>.+?)\s*$")
END = re.compile(r"^[ \t]*# END EXERCISE (?P<n>\d+)\s*$")
HINT = re.compile(r"^[ \t]*# Hint: (?P<hint>.+?)\s*$")
SKIP_DIRS = {".git", ".venv", "build", "out", "runs", "__pycache__", ".pytest_cache", ".hypothesis"}


@dataclass(frozen=True)
class Region:
    n: int
    title: str
    hint: str
    begin: int  # 0-based line index of the BEGIN marker
    end: int    # 0-based line index of the END marker
    indent: str


def find_regions(text: str, where: str = "<text>") -> list[Region]:
    """All exercise regions in ``text``; ValueError (naming ``where`` and the line) on bad markers."""
    regions, open_region = [], None
    for i, line in enumerate(text.splitlines()):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_region:
                raise ValueError(f"{where}:{i + 1}: BEGIN EXERCISE inside exercise {open_region[0]} "
                                 f"(opened on line {open_region[3] + 1})")
            open_region = (int(begin["n"]), begin["title"], begin["indent"], i)
        elif end:
            if not open_region or int(end["n"]) != open_region[0]:
                raise ValueError(f"{where}:{i + 1}: END EXERCISE {end['n']} without a matching BEGIN")
            n, title, indent, start = open_region
            hint_match = HINT.match(text.splitlines()[start + 1]) if start + 1 < i else None
            regions.append(Region(n, title, hint_match["hint"] if hint_match else "", start, i, indent))
            open_region = None
    if open_region:
        raise ValueError(f"{where}:{open_region[3] + 1}: EXERCISE {open_region[0]} is never ENDed")
    return regions


def strip_exercises(text: str, keep=(), where: str = "<text>") -> tuple[str, list[str]]:
    """Replace every region (except those numbered in ``keep``) by a NotImplementedError.

    Returns the new text and the removed solution lines (without markers).
    """
    lines = text.splitlines(keepends=True)
    removed: list[str] = []
    for region in reversed(find_regions(text, where)):
        if region.n in keep:
            continue
        message = f"Exercise {region.n}: {region.title}."
        if region.hint:
            message += f" Hint: {region.hint}"
        removed += [ln for ln in lines[region.begin + 1:region.end] if not HINT.match(ln)]
        lines[region.begin:region.end + 1] = [f"{region.indent}raise NotImplementedError({message!r})\n"]
    return "".join(lines), removed


def _project_files(root: str):
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if not name.endswith((".pyc", ".part")):
                yield os.path.relpath(os.path.join(folder, name), root)


def make_student_edition(root: str, out_dir: str, zip_path: str | None = None, keep=()) -> dict:
    """Write the student edition of the project at ``root`` to ``out_dir`` (replaced).

    Returns ``{"exercises": {n: title}, "files": [...changed files]}``. Raises
    ValueError if any removed solution line can still be found in the edition.
    """
    root, out_dir = os.path.abspath(root), os.path.abspath(out_dir)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    exercises, changed, removed = {}, [], set()
    for rel in _project_files(root):
        src, dst = os.path.join(root, rel), os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if rel.startswith("aigc_np" + os.sep) and rel.endswith(".py") and rel != os.path.join("aigc_np", "coursework.py"):
            text = open(src, encoding="utf-8").read()
            for region in find_regions(text, rel):
                exercises.setdefault(region.n, region.title)
            new, lost = strip_exercises(text, keep, rel)
            if new != text:
                changed.append(rel)
                removed.update(ln.strip() for ln in lost if ln.strip() and not ln.strip().startswith("#"))
            with open(dst, "w", encoding="utf-8") as f:
                f.write(new)
        else:
            shutil.copy2(src, dst)
    leaks = _find_leaks(out_dir, removed)
    if leaks:
        raise ValueError(f"student edition leaks solution lines: {leaks[:5]}")
    if zip_path:
        os.makedirs(os.path.dirname(os.path.abspath(zip_path)), exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
            for rel in _project_files(out_dir):
                z.write(os.path.join(out_dir, rel), os.path.join("aigc_np-student", rel))
    return {"exercises": dict(sorted(exercises.items())), "files": changed}


def _find_leaks(out_dir: str, removed: set) -> list[str]:
    """(file, line) pairs where a removed solution line appears in the edition."""
    leaks = []
    for rel in _project_files(out_dir):
        try:
            text = open(os.path.join(out_dir, rel), encoding="utf-8").read()
        except UnicodeDecodeError:
            continue  # binary data files
        for line in text.splitlines():
            if line.strip() in removed:
                leaks.append(f"{rel}: {line.strip()}")
    return leaks


def list_exercises(root: str = ".") -> dict:
    """{n: title} of the exercises: the regions in the package at ``root`` or, in
    a student edition (where the regions are gone), the ``exN`` markers in setup.cfg."""
    exercises = {}
    cfg = os.path.join(root, "setup.cfg")
    if os.path.exists(cfg):
        for m in re.finditer(r"^\s*ex(\d+): Exercise \d+, (.+?)\s*$", open(cfg, encoding="utf-8").read(), re.M):
            exercises[int(m[1])] = m[2]
    for rel in _project_files(os.path.join(root, "aigc_np")):
        if rel.endswith(".py") and rel != "coursework.py":
            for region in find_regions(open(os.path.join(root, "aigc_np", rel), encoding="utf-8").read(), rel):
                exercises.setdefault(region.n, region.title)
    return dict(sorted(exercises.items()))


def progress(root: str = ".", extra_args=()) -> dict:
    """Run the exercise tests once; return {n: (passed, failed)} and print a table."""
    exercises = list_exercises(root)
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        marks = " or ".join(f"ex{n}" for n in sorted(exercises))
        env = {**os.environ, "AIGC_NP_PROGRESS_REPORT": report}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks,
                        *extra_args], cwd=root, env=env, stdout=subprocess.DEVNULL, check=False)
        results = json.load(open(report)) if os.path.exists(report) else []
    table = {}
    for n in sorted(exercises):
        outcomes = [r["outcome"] for r in results if f"ex{n}" in r["markers"]]
        table[n] = (outcomes.count("passed"), len(outcomes) - outcomes.count("passed"))
    print(f"{'exercise':<48}{'passed':>8}{'failed':>8}  status")
    for n, (ok, bad) in table.items():
        status = "done" if ok and not bad else ("not started" if not ok else "in progress")
        print(f"{f'{n}: {exercises[n]}':<48}{ok:>8}{bad:>8}  {status}")
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_np.coursework", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write the student edition")
    s.add_argument("--out", default="build/student")
    s.add_argument("--zip", default="build/aigc_np-student.zip")
    sub.add_parser("progress", help="print which exercises pass")
    args = parser.parse_args(argv)
    if args.command == "student":
        info = make_student_edition(".", args.out, args.zip)
        print(f"wrote {args.out} and {args.zip}: exercises")
        for n, title in info["exercises"].items():
            print(f"  {n}: {title}")
        return 0
    table = progress(".")
    return 0 if all(bad == 0 and ok for ok, bad in table.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
