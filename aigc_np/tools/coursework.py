"""Coursework: the student edition and the per-exercise progress table.

Teaching-critical code in the library is wrapped in marker comments::

    # BEGIN EXERCISE 3: the Adam step
    # Hint: keep m and v per parameter; correct their bias with the step counter t.
    ...solution...
    # END EXERCISE 3

``python -m aigc_np.tools.coursework student`` (``make student``) copies the
project to ``build/student/`` with every region replaced by::

    raise NotImplementedError("Exercise 3: the Adam step. Hint: keep m and v ...")

(the signature and docstring around it stay; an exercise with several
regions says "(part 2 of 4)" after its title), checks that no line of a
removed region survives anywhere in the edition, writes the student README
(``aigc_np/tools/student_readme.md``) in place of README.md, and zips it to
``build/aigc_np-student.zip``. The edition holds only the files git tracks
(``git ls-files``), so notes, outputs and private solutions lying untracked in
the tree stay out; outside a git checkout, ``--manifest FILE`` lists the files.

tests/exercise_marks.py lists the exercises each test executes; a test is
decided by the latest of them and carries its marker ``exN``, so after
Exercises 1..N a student runs ``make test EX=N``. ``python -m aigc_np.tools.coursework
progress`` (``make progress``) runs the exercise tests in exercise order and
prints each exercise's line as soon as its tests finish; it exits 0 whatever
the tests say, unless ``--grade`` asks for status 1 when an exercise is not done.
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
import time
import zipfile
from dataclasses import dataclass

__all__ = ["Region", "find_regions", "strip_exercises", "edition_files", "make_student_edition", "student_readme",
           "list_exercises", "unstarted_exercises", "progress"]

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN EXERCISE (?P<n>\d+): (?P<title>.+?)\s*$")
END = re.compile(r"^[ \t]*# END EXERCISE (?P<n>\d+)\s*$")
HINT = re.compile(r"^[ \t]*# Hint: (?P<hint>.+?)\s*$")
SKIP_DIRS = {".git", ".venv", "build", "out", "runs", "notebooks", "__pycache__", ".pytest_cache", ".hypothesis"}
# This module: its docstring shows the markers, which must not count as an exercise region.
THIS_MODULE = os.path.join("aigc_np", "tools", "coursework.py")
# Instructor-only files that the student edition leaves out (README.md is replaced by the student README).
NOT_IN_EDITION = {os.path.join("aigc_np", "tools", "student_readme.md"), os.path.join("tests", "test_coursework.py"),
                  os.path.join("tests", "stub_watch.py")}
STUB = re.compile(r"""NotImplementedError\(\s*['"]Exercise (?P<n>\d+): [^'"]*?(?:\(part \d+ of (?P<parts>\d+)\))?[.'"]""")


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


def strip_exercises(text: str, keep=(), where: str = "<text>", parts: dict | None = None) -> tuple[str, list[str]]:
    """Replace every region (except those numbered in ``keep``) by a NotImplementedError.

    An exercise with several regions numbers them "(part k of K)"; ``parts``
    maps n to (the number of n's regions before this text, K) when an exercise
    spans several files (default: count within ``text``). Returns the new text
    and the removed solution lines (without markers).
    """
    lines = text.splitlines(keepends=True)
    removed: list[str] = []
    regions = find_regions(text, where)
    for region in reversed(regions):
        if region.n in keep:
            continue
        same = [r for r in regions if r.n == region.n]
        before, total = (parts or {}).get(region.n, (0, len(same)))
        part = f" (part {before + same.index(region) + 1} of {total})" if total > 1 else ""
        message = f"Exercise {region.n}: {region.title}{part}."
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


def edition_files(root: str, manifest: str | None = None) -> list[str]:
    """The files (relative paths, sorted) that the student edition of ``root`` is made from.

    In a git checkout: the files git tracks (``git ls-files``), so anything
    untracked in the tree stays out. Outside one: the paths listed in
    ``manifest``, one a line relative to ``root`` (blank lines and ``#``
    comments skipped). A listed or tracked file missing from the tree is left out.
    """
    root = os.path.abspath(root)
    if manifest is not None:
        with open(manifest, encoding="utf-8") as f:
            listed = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        outside = [rel for rel in listed if os.path.isabs(rel) or os.path.normpath(rel).startswith(os.pardir)]
        if outside:
            raise ValueError(f"manifest {manifest}: expected paths inside {root}, got {outside[0]!r}")
    else:
        try:
            run = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True, text=True)
        except FileNotFoundError:
            run = None
        if run is None or run.returncode != 0:
            raise ValueError(f"student edition: {root} is not a git checkout (git ls-files failed), so the "
                             f"tracked files are unknown; pass --manifest FILE listing the files to include")
        listed = [rel for rel in run.stdout.split("\0") if rel]
    files = {os.path.normpath(rel) for rel in listed}
    return sorted(rel for rel in files if os.path.isfile(os.path.join(root, rel)))


def _exercise_sources(root: str, files=None):
    """(relative path, text, regions) of every package module that may hold exercise regions
    (among ``files``; default: every file in the tree at ``root``)."""
    for rel in (_project_files(root) if files is None else files):
        if rel.startswith("aigc_np" + os.sep) and rel.endswith(".py") and rel != THIS_MODULE:
            text = open(os.path.join(root, rel), encoding="utf-8").read()
            yield rel, text, find_regions(text, rel)


def make_student_edition(root: str, out_dir: str, zip_path: str | None = None, keep=(),
                         manifest: str | None = None) -> dict:
    """Write the student edition of the project at ``root`` to ``out_dir`` (replaced).

    The edition is made from ``edition_files(root, manifest)``: the files git
    tracks, or those the manifest lists. Returns ``{"exercises": {n: title},
    "files": [...changed files]}``. Raises ValueError if any removed solution
    line can still be found in the edition.
    """
    root, out_dir = os.path.abspath(root), os.path.abspath(out_dir)
    files = [rel for rel in edition_files(root, manifest) if rel not in NOT_IN_EDITION]
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    sources = {rel: (text, regions) for rel, text, regions in _exercise_sources(root, files)}
    exercises, where, total = {}, {}, {}
    for rel, (_, regions) in sources.items():
        for region in regions:
            exercises.setdefault(region.n, region.title)
            where.setdefault(region.n, set()).add(rel)
            total[region.n] = total.get(region.n, 0) + 1
    changed, removed, seen = [], set(), {}
    for rel in files:
        src, dst = os.path.join(root, rel), os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if rel in sources:
            text, regions = sources[rel]
            parts = {n: (seen.get(n, 0), total[n]) for n in total}  # regions of n in the files before this one
            for region in regions:
                seen[region.n] = seen.get(region.n, 0) + 1
            new, lost = strip_exercises(text, keep, rel, parts)
            if new != text:
                changed.append(rel)
                removed.update(ln.strip() for ln in lost if ln.strip() and not ln.strip().startswith("#"))
            with open(dst, "w", encoding="utf-8") as f:
                f.write(new)
        elif rel == "README.md":
            with open(dst, "w", encoding="utf-8") as f:
                f.write(student_readme(root, exercises, where))
        else:
            shutil.copy2(src, dst)
    leaks = _find_leaks(out_dir, removed)
    if leaks:
        raise ValueError(f"student edition leaks solution lines: {leaks[:5]}")
    if zip_path:
        os.makedirs(os.path.dirname(os.path.abspath(zip_path)), exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
            for rel in files:
                z.write(os.path.join(out_dir, rel), os.path.join("aigc_np-student", rel))
    return {"exercises": dict(sorted(exercises.items())), "files": changed}


def student_readme(root: str, exercises: dict, where: dict) -> str:
    """The student edition's README.md: aigc_np/tools/student_readme.md with its exercise table filled in.

    ``exercises`` maps n to its title and ``where`` maps n to the files holding its regions.
    """
    rows = [f"| {n} | {exercises[n]} | {', '.join(f'`{p}`' for p in sorted(where[n]))} |" for n in sorted(exercises)]
    table = "\n".join(["| # | exercise | where |", "|---|---|---|", *rows])
    template = open(os.path.join(root, "aigc_np", "tools", "student_readme.md"), encoding="utf-8").read()
    return template.replace("{exercises}", table)


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
        if rel.endswith(".py") and os.path.join("aigc_np", rel) != THIS_MODULE:
            for region in find_regions(open(os.path.join(root, "aigc_np", rel), encoding="utf-8").read(), rel):
                exercises.setdefault(region.n, region.title)
    return dict(sorted(exercises.items()))


def unstarted_exercises(root: str = ".") -> set:
    """Exercises not attempted yet: every one of their regions still raises the stub NotImplementedError.

    An exercise of K regions says "(part k of K)" in each stub, so it counts
    as attempted as soon as one of its stubs is gone.
    """
    stubs, parts = {}, {}
    for rel, text, _ in _exercise_sources(os.path.abspath(root)):
        for m in STUB.finditer(text):
            n = int(m["n"])
            stubs[n] = stubs.get(n, 0) + 1
            parts[n] = int(m["parts"] or 1)
    return {n for n, count in stubs.items() if count >= parts[n]}


def _follow(path: str, proc: subprocess.Popen, poll: float = 0.2):
    """Yield the JSON records appended to ``path`` (one a line) while ``proc`` runs, then the rest."""
    offset, pending = 0, ""
    while True:
        running = proc.poll() is None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                f.seek(offset)
                pending += f.read()
                offset = f.tell()
            *lines, pending = pending.split("\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
        if not running:
            return
        time.sleep(poll)


def exercises_as_they_finish(records, numbers):
    """Yield (n, n's records) for each exercise in ``numbers``, as soon as its tests are all reported.

    The tests run in exercise order (tests/conftest.py sorts them), so
    exercise n is finished when a record of a later exercise arrives, or when
    the records end.
    """
    pending = sorted(numbers)
    collected = {n: [] for n in pending}
    for record in records:
        n = record["exercise"]
        while pending and n is not None and pending[0] < n:
            done = pending.pop(0)
            yield done, collected[done]
        if n in collected:
            collected[n].append(record)
    for done in pending:
        yield done, collected[done]


def exercise_status(n: int, records: list, started: bool) -> str:
    """done / in progress / needs Exercise m first / not started, from the tests that Exercise n decides."""
    failed = [r for r in records if r["outcome"] != "passed"]
    if not started:
        return "not started"
    if not records:
        return "no tests"
    if not failed:
        return "done"
    blocked = sorted({r["missing"] for r in failed if r.get("missing") not in (None, n)})
    if blocked and all(r.get("missing") not in (None, n) for r in failed):
        return f"needs Exercise {blocked[0]} first"
    return "in progress"


def progress(root: str = ".", extra_args=(), exercises=None, out=None) -> dict:
    """Run the tests of ``exercises`` (default: all) once, in exercise order.

    Prints each exercise's line (passed, failed, status) as soon as its tests
    finish, and returns {n: (passed, failed, status)}. A test counts towards
    the exercise it is decided by, the latest one it needs (tests/exercise_marks.py).
    """
    out = out or sys.stdout
    known = list_exercises(root)
    numbers = sorted(exercises) if exercises else sorted(known)
    unknown = [n for n in numbers if n not in known]
    if unknown:
        raise ValueError(f"progress: no exercise {unknown[0]}; the exercises are {sorted(known)}")
    unstarted = unstarted_exercises(root)
    table = {}
    print(f"running the tests of {len(numbers)} exercise(s); each line appears when its tests finish", file=out)
    print(f"{'exercise':<48}{'passed':>8}{'failed':>8}  status", file=out, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.jsonl")
        env = {**os.environ, "AIGC_NP_PROGRESS_REPORT": report,
               "PYTHONPATH": os.pathsep.join(filter(None, [os.path.abspath(root), os.environ.get("PYTHONPATH")]))}
        marks = " or ".join(f"ex{n}" for n in numbers)
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks,
                                 *extra_args], cwd=root, env=env, stdout=subprocess.DEVNULL)
        try:
            for n, records in exercises_as_they_finish(_follow(report, proc), numbers):
                ok = sum(r["outcome"] == "passed" for r in records)
                table[n] = (ok, len(records) - ok, exercise_status(n, records, n not in unstarted))
                print(f"{f'{n}: {known[n]}':<48}{ok:>8}{len(records) - ok:>8}  {table[n][2]}", file=out, flush=True)
        finally:
            proc.wait()
    done = sum(status == "done" for _, _, status in table.values())
    print(f"{done} of {len(table)} exercise(s) done", file=out, flush=True)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_np.tools.coursework", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write the student edition")
    s.add_argument("--out", default="build/student")
    s.add_argument("--zip", default="build/aigc_np-student.zip")
    s.add_argument("--manifest", help="outside a git checkout: a file listing the files to include, one a line")
    p = sub.add_parser("progress", help="print which exercises pass")
    p.add_argument("exercises", nargs="*", type=int, help="only these exercises (default: all)")
    p.add_argument("--grade", action="store_true",
                   help="exit with status 1 unless every exercise reported is done (a report alone exits 0)")
    args = parser.parse_args(argv)
    if args.command == "student":
        try:
            info = make_student_edition(".", args.out, args.zip, manifest=args.manifest)
        except ValueError as e:
            parser.error(str(e))
        print(f"wrote {args.out} and {args.zip}: exercises")
        for n, title in info["exercises"].items():
            print(f"  {n}: {title}")
        return 0
    try:
        table = progress(".", exercises=args.exercises)
    except ValueError as e:
        parser.error(str(e))
    if args.grade:
        return 0 if all(status == "done" for _, _, status in table.values()) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
