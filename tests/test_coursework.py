"""The student edition: markers, stripping, leak check, and per-exercise test outcomes."""
import json
import os
import subprocess
import sys
import zipfile

import pytest

from aigc_np.coursework import find_regions, list_exercises, make_student_edition, strip_exercises

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXERCISES = list_exercises(ROOT)

SAMPLE = '''def f(x):
    """Doc stays."""
    y = x + 1
    # BEGIN EXERCISE 2: double it
    # Hint: multiply by two.
    z = 2 * y
    return z
    # END EXERCISE 2
'''


def test_strip_replaces_the_region_and_keeps_signature_and_docstring():
    new, removed = strip_exercises(SAMPLE)
    assert new.splitlines() == ['def f(x):', '    """Doc stays."""', '    y = x + 1',
                                "    raise NotImplementedError('Exercise 2: double it. Hint: multiply by two.')"]
    assert [line.strip() for line in removed] == ["z = 2 * y", "return z"]
    assert strip_exercises(SAMPLE, keep={2})[0] == SAMPLE
    namespace = {}
    exec(new, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 2: double it"):
        namespace["f"](1)


@pytest.mark.parametrize("text,message", [
    ("# BEGIN EXERCISE 1: a\n# BEGIN EXERCISE 2: b\n", "2: BEGIN EXERCISE inside exercise 1"),
    ("# END EXERCISE 1\n", "1: END EXERCISE 1 without a matching BEGIN"),
    ("x = 1\n# BEGIN EXERCISE 3: c\n", "2: EXERCISE 3 is never ENDed"),
])
def test_bad_markers_are_reported_with_file_and_line(text, message):
    with pytest.raises(ValueError, match=f"f.py:{message}"):
        find_regions(text, "f.py")


def test_the_library_has_its_exercises_in_lesson_order():
    # 1-9: lessons 01-08; 13-14: the diffusion lessons 15-16 (GroupNormalization backward, the DDIM update)
    assert set(range(1, 10)) | {13, 14} <= set(EXERCISES) and list(EXERCISES) == sorted(EXERCISES)


# --------------------------------------------------------- the edition
@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition")
    info = make_student_edition(ROOT, str(out / "student"), str(out / "student.zip"))
    return out / "student", out / "student.zip", info


def run_tests(edition_dir, marks, *extra):
    """Run pytest inside the edition; return {nodeid: outcome}."""
    report = edition_dir / "report.json"
    env = {**os.environ, "AIGC_NP_PROGRESS_REPORT": str(report), "PYTHONPATH": str(edition_dir)}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks,
                    "--ignore=tests/test_coursework.py", *extra],
                   cwd=edition_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    results = json.loads(report.read_text())
    report.unlink()
    return {r["nodeid"]: r["outcome"] for r in results}


def test_edition_imports_its_own_package(edition):
    student, _, _ = edition
    out = subprocess.run([sys.executable, "-c", "import aigc_np; print(aigc_np.__file__)"], cwd=student,
                         env={**os.environ, "PYTHONPATH": str(student)}, capture_output=True, text=True)
    assert out.stdout.strip().startswith(str(student))


def test_edition_contents_and_zip(edition):
    student, archive, info = edition
    assert info["exercises"] == EXERCISES
    assert list_exercises(str(student)) == EXERCISES  # `make progress` still knows them (from setup.cfg)
    for folder in ("aigc_np", "tests", "lessons", "data"):
        assert (student / folder).is_dir()
    assert (student / "Makefile").exists() and (student / "data" / "mnist_5k.npz").exists()
    text = (student / "aigc_np" / "layers" / "dense.py").read_text()
    assert "raise NotImplementedError('Exercise 1: Dense backward. Hint:" in text and "BEGIN EXERCISE" not in text
    with zipfile.ZipFile(archive) as z:
        assert "aigc_np-student/aigc_np/layers/dense.py" in z.namelist()


def test_no_solution_line_survives_anywhere(edition):
    student, _, _ = edition
    removed = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "aigc_np")):
        for name in files:
            if name.endswith(".py") and name != "coursework.py":
                _, lost = strip_exercises(open(os.path.join(folder, name)).read())
                removed |= {ln.strip() for ln in lost if ln.strip() and not ln.strip().startswith("#")}
    assert len(removed) > 20
    for folder, _, files in os.walk(student):
        for name in files:
            try:
                lines = open(os.path.join(folder, name), encoding="utf-8").read().splitlines()
            except UnicodeDecodeError:
                continue
            leaked = [ln.strip() for ln in lines if ln.strip() in removed]
            assert not leaked, f"{name}: {leaked}"


ALL = " or ".join(f"ex{n}" for n in EXERCISES)


def test_in_the_edition_every_exercise_test_fails_and_every_other_test_passes(edition):
    student, _, _ = edition
    exercise_tests = run_tests(student, ALL)
    assert exercise_tests and all(outcome == "failed" for outcome in exercise_tests.values()), \
        [k for k, v in exercise_tests.items() if v != "failed"]
    others = run_tests(student, f"not ({ALL})")
    assert len(others) > 50
    assert all(outcome == "passed" for outcome in others.values()), [k for k, v in others.items() if v != "passed"]


@pytest.mark.parametrize("n", list(EXERCISES))
def test_restoring_one_region_makes_exactly_that_exercise_pass(edition, n):
    student, _, _ = edition
    changed = []
    for folder, _, files in os.walk(os.path.join(ROOT, "aigc_np")):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and name != "coursework.py":
                text = open(path).read()
                if any(r.n == n for r in find_regions(text)):
                    target = student / os.path.relpath(path, ROOT)
                    changed.append((target, target.read_text()))
                    target.write_text(strip_exercises(text, keep={n})[0])
    try:
        others = " or ".join(f"ex{m}" for m in EXERCISES if m != n)
        own = run_tests(student, f"ex{n} and not ({others})")
        assert own and all(outcome == "passed" for outcome in own.values()), own
        # Tests that also carry another exercise's marker still fail: each marker
        # was traced to a region that test executes, and those regions stay stripped.
    finally:
        for target, text in changed:
            target.write_text(text)
