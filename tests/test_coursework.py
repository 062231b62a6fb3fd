"""The student edition: markers, stripping, leak check, per-exercise test outcomes and progress."""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from exercise_marks import MARKS

from aigc_np.tools import coursework
from aigc_np.tools.coursework import (NOT_IN_EDITION, edition_files, exercise_status, exercises_as_they_finish,
                                      find_regions, list_exercises, make_student_edition, progress, strip_exercises,
                                      unstarted_exercises)

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


def test_the_library_has_exercises_1_to_14_in_lesson_order():
    # 1-9: lessons 01-08; 10-12: the language models (lessons 12-14); 13-14: diffusion (lessons 15-16)
    assert list(EXERCISES) == list(range(1, 15))


# --------------------------------------------------------- the edition
@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition")
    info = make_student_edition(ROOT, str(out / "student"), str(out / "student.zip"))
    return out / "student", out / "student.zip", info


def start_tests(edition_dir, marks, *extra, name="report"):
    """Start pytest inside the edition, in the background; finish_tests collects it.

    One BLAS thread each, so that two runs side by side share the cores
    instead of fighting over them. The plugin tests/stub_watch.py notes the
    exercise stubs each test raises.
    """
    report, stubs, log = (edition_dir / f"{name}{suffix}" for suffix in (".jsonl", ".stubs.jsonl", ".log"))
    env = {**os.environ, "AIGC_NP_PROGRESS_REPORT": str(report), "AIGC_NP_STUB_REPORT": str(stubs),
           "PYTHONPATH": os.pathsep.join([str(edition_dir), os.path.join(ROOT, "tests")]), "OPENBLAS_NUM_THREADS": "1",
           "HYPOTHESIS_PROFILE": "first_failure"}
    with open(log, "w") as out:  # a file, not a pipe: a long failure report cannot block the run
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "stub_watch",
                                 "-m", marks, *extra],
                                cwd=edition_dir, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    return proc, report, stubs, log


def read_records(path):
    """The JSON lines of ``path`` (removed after reading), or [] if there is none."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.unlink()
    return records


def finish_tests(started, output=False):
    """Wait for a start_tests run; return {nodeid: record} (and pytest's output if ``output``).

    A record is what tests/conftest.py writes for `make progress`: outcome,
    exercise (the one that decides the test), uses, and missing (the exercise
    whose NotImplementedError the test stopped at, if any); plus raised, the
    exercises whose stubs the test raised, caught or not, and stopped_at, the
    exercise whose stub it failed with (tests/stub_watch.py).
    Fails, naming the test, if a test raised the stub of an exercise that
    tests/exercise_marks.py does not list for it: its marks are wrong.
    """
    proc, report, stubs, log = started
    proc.wait()
    outcomes = {r["nodeid"]: r for r in read_records(report)}
    for r in read_records(stubs):
        if r["nodeid"] in outcomes:
            outcomes[r["nodeid"]].update(raised=r["raised"], stopped_at=r["stopped_at"])
    unmarked = {k: (r["raised"], r["uses"]) for k, r in outcomes.items()
                if not set(r.get("raised", ())) <= set(r["uses"])}
    assert not unmarked, f"tests that ran exercise stubs their marks do not list, (raised, marks): {unmarked}"
    return (outcomes, log.read_text()) if output else outcomes


def run_tests(edition_dir, marks, *extra, output=False):
    """start_tests and finish_tests in one."""
    return finish_tests(start_tests(edition_dir, marks, *extra), output)


def files_using(n):
    """The test files with a test that runs Exercise n's code: pytest need collect no others."""
    return sorted({"tests/" + nodeid.split("::")[0] for nodeid, uses in MARKS.items() if n in uses})


def edition_keeping(tmp_path, keep):
    """A fresh student edition in which the exercises in ``keep`` are solved (about 0.1 s)."""
    make_student_edition(ROOT, str(tmp_path / "student"), keep=keep)
    return tmp_path / "student"


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
        # exactly the files git tracks, less the instructor's
        assert sorted(z.namelist()) == sorted(f"aigc_np-student/{rel}" for rel in edition_files(ROOT)
                                              if rel not in NOT_IN_EDITION)
    # The markers shown in the coursework tool's docstring are not an exercise region.
    tool = os.path.join("aigc_np", "tools", "coursework.py")
    assert (student / tool).read_text() == open(os.path.join(ROOT, tool), encoding="utf-8").read()
    assert "(part" not in re.search(r"Exercise 3: .*", (student / "aigc_np" / "optimizers" / "__init__.py").read_text())[0]


def make_tiny_project(root, tracked, untracked):
    """A project with one exercise region: ``tracked`` files are added to a git index, ``untracked`` are not."""
    files = {"README.md": "instructor README\n", "aigc_np/__init__.py": "",
             "aigc_np/tools/student_readme.md": "student README\n{exercises}\n",
             "aigc_np/m.py": "def f(x):\n    # BEGIN EXERCISE 1: add one\n    return x + 1\n    # END EXERCISE 1\n"}
    for rel, text in {**files, **{rel: "private\n" for rel in tracked + untracked}}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return sorted([*files, *tracked])


def test_the_edition_holds_the_tracked_files_and_no_untracked_one(tmp_path):
    """Notes, figures or private solutions lying untracked in the tree stay out of the edition and its zip."""
    project = tmp_path / "project"
    tracked = make_tiny_project(project, ["lessons/01_a.py", "data/d.txt"],
                                ["notes.txt", "solutions/ex1.py", "aigc_np/scratch.py"])
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "add", *tracked], check=True)
    info = make_student_edition(str(project), str(tmp_path / "student"), str(tmp_path / "student.zip"))
    expected = sorted(rel for rel in tracked if rel != "aigc_np/tools/student_readme.md")
    written = sorted(str(p.relative_to(tmp_path / "student")) for p in (tmp_path / "student").rglob("*")
                     if p.is_file())
    assert written == expected and info["exercises"] == {1: "add one"}
    with zipfile.ZipFile(tmp_path / "student.zip") as z:
        assert sorted(z.namelist()) == [f"aigc_np-student/{rel}" for rel in expected]
    assert (tmp_path / "student" / "README.md").read_text().startswith("student README")


def test_outside_git_the_edition_needs_a_manifest(tmp_path):
    project = tmp_path / "project"
    tracked = make_tiny_project(project, ["lessons/01_a.py"], ["notes.txt"])
    with pytest.raises(ValueError, match="is not a git checkout.*--manifest"):
        make_student_edition(str(project), str(tmp_path / "student"))
    manifest = tmp_path / "files.txt"
    manifest.write_text("# the files of the edition\n" + "\n".join(tracked) + "\n")
    make_student_edition(str(project), str(tmp_path / "student"), manifest=str(manifest))
    assert not (tmp_path / "student" / "notes.txt").exists()
    assert (tmp_path / "student" / "lessons" / "01_a.py").exists()
    stripped = (tmp_path / "student" / "aigc_np" / "m.py").read_text()
    assert "raise NotImplementedError('Exercise 1: add one.')" in stripped
    manifest.write_text("../outside.txt\n")
    with pytest.raises(ValueError, match=r"files.txt: expected paths inside .*got '../outside.txt'"):
        make_student_edition(str(project), str(tmp_path / "student"), manifest=str(manifest))


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


@pytest.fixture(scope="session", autouse=True)
def edition_exercise_run(request, tmp_path_factory):
    """The edition's marked tests, started with this file's first test and run beside the rest of
    the suite (on the other core); the test marked last collects the run (if it was selected)."""
    if not any(item.get_closest_marker("last") for item in request.session.items):
        yield None
        return
    student = tmp_path_factory.mktemp("exercise_run") / "student"
    make_student_edition(ROOT, str(student))
    run = start_tests(student, ALL, name="exercises")
    yield run
    if run[0].poll() is None:
        run[0].kill()
        run[0].wait()


@pytest.mark.last
def test_in_the_edition_every_exercise_test_fails_at_one_of_its_exercises(edition_exercise_run):
    """In the edition, each test marked with exercises fails with the stub of one of them.

    Every other test passes there, and a test whose only mark is n passes once Exercise n
    is solved: tests/region_watch.py checks, in every `make test` of the library, that each
    test enters exactly the regions its marks allow, so those tests run the library's own code.
    """
    exercise_tests = finish_tests(edition_exercise_run)
    assert len(exercise_tests) > 50
    assert all(r["outcome"] == "failed" for r in exercise_tests.values()), \
        [k for k, r in exercise_tests.items() if r["outcome"] != "failed"]
    # Each fails with the stub of an exercise it is marked with, which tests/conftest.py names for the
    # student, and not some other way -- a pytest.raises(match=...) that caught the stub, say.
    unclear = {k: r.get("stopped_at") for k, r in exercise_tests.items() if r.get("stopped_at") not in r["uses"]}
    assert not unclear, f"exercise tests that fail without stopping at an exercise they are marked with: {unclear}"


@pytest.mark.parametrize("n", list(EXERCISES))
def test_solving_one_exercise_restores_exactly_its_regions(tmp_path, n):
    """With Exercise n solved, the edition holds n's regions as the library does and a stub for every other.

    So a test that enters only region n (tests/region_watch.py) runs the library's code there, and passes.
    """
    make_student_edition(ROOT, str(tmp_path / "student"), keep={n})
    stubs, kept = set(), 0
    for rel, text, regions in coursework._exercise_sources(ROOT):
        edited = (tmp_path / "student" / rel).read_text(encoding="utf-8")
        stubs |= {int(m["n"]) for m in coursework.STUB.finditer(edited)}
        lines = text.splitlines(keepends=True)
        for region in (r for r in regions if r.n == n):
            assert "".join(lines[region.begin:region.end + 1]) in edited, (rel, region)
            kept += 1
    assert kept and stubs == set(EXERCISES) - {n}


# -------------------------------------- the marks checked in every make test
PROBE = """
import subprocess, sys
import numpy as np
from aigc_np.layers import ReLU

RELU_BACKWARD = "import numpy as np; from aigc_np.layers import ReLU; r = ReLU(); r.forward(np.ones(3)); r.backward(np.ones(3))"


def relu_backward():
    exec(RELU_BACKWARD)


def test_unmarked_but_runs_exercise_2():
    relu_backward()


def test_marked_but_runs_nothing():
    pass


def test_marked_and_runs_exercise_2():
    relu_backward()


def test_unmarked_command_runs_exercise_2():
    subprocess.run([sys.executable, "-c", RELU_BACKWARD], check=True)


def test_marked_command_runs_exercise_2():
    subprocess.run([sys.executable, "-c", RELU_BACKWARD], check=True)
"""


def test_a_test_whose_marks_miss_a_region_it_runs_fails_in_the_library(tmp_path):
    """tests/region_watch.py fails a passing test whose marks miss a region it enters (itself or in a
    command it runs), or is marked with an exercise it does not enter; right marks pass."""
    tests = tmp_path / "tests"
    shutil.copytree(os.path.join(ROOT, "tests", "regions"), tests / "regions")
    for name in ("conftest.py", "region_watch.py"):
        shutil.copy(os.path.join(ROOT, "tests", name), tests / name)
    marked = ("test_marked_but_runs_nothing", "test_marked_and_runs_exercise_2", "test_marked_command_runs_exercise_2")
    (tests / "exercise_marks.py").write_text("MARKS = %r\n" % {f"test_probe.py::{t}": (2,) for t in marked})
    (tests / "test_probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": ROOT}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rA",
                          "tests/test_probe.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    outcomes = {name: word for word, name in re.findall(r"^(PASSED|ERROR|FAILED) tests/test_probe.py::(\w+)",
                                                         run.stdout, re.M)}
    assert outcomes == {"test_unmarked_but_runs_exercise_2": "ERROR", "test_marked_but_runs_nothing": "ERROR",
                        "test_marked_and_runs_exercise_2": "PASSED", "test_unmarked_command_runs_exercise_2": "ERROR",
                        "test_marked_command_runs_exercise_2": "PASSED"}, run.stdout + run.stderr
    assert "runs the code of Exercise(s) [2], which its entry in tests/exercise_marks.py (none) does not list" in run.stdout
    assert "marks it with Exercise(s) (2,), but it runs no code of Exercise(s) [2]" in run.stdout


def test_the_watched_regions_are_the_editions_regions():
    """region_hook puts its call on exactly the BEGIN lines the student edition replaces."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "regions"))
    import region_hook
    for rel, text, regions in coursework._exercise_sources(ROOT):
        changed = [i for i, (a, b) in enumerate(zip(text.splitlines(), region_hook.with_calls(text).splitlines()))
                   if a != b]
        assert changed == [r.begin for r in regions], rel
        assert region_hook.holds_regions(os.path.join(ROOT, rel)) == bool(regions), rel


# ------------------------------------------- what a student sees (issue 15)
def test_a_marker_selects_the_tests_its_exercise_decides_the_latest_one_they_need():
    """ex<n> goes on the tests whose latest exercise is n; uses_ex<n> on every test that runs n's code."""
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "-m", "ex2",
                          "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    selected = {line.split("tests/", 1)[-1] for line in run.stdout.splitlines() if "::" in line}
    uses = {nodeid: MARKS.get(nodeid, MARKS.get(nodeid.split("[")[0])) for nodeid in selected}
    assert selected and all(u is not None and max(u) == 2 for u in uses.values()), uses
    assert {(1, 2), (2,)} <= set(uses.values())  # both kinds: Exercise 2 alone, and 1 then 2
    expected = {k for k, v in MARKS.items() if max(v) == 2}
    assert expected <= {nodeid.split("[")[0] for nodeid in selected} | selected


def test_after_exercise_1_make_test_ex1_reports_no_failure(tmp_path):
    """The student's first success: Exercise 1 done, `make test EX=1` is all green."""
    results = run_tests(edition_keeping(tmp_path, {1}), "ex1", *files_using(1))
    assert results and all(r["outcome"] == "passed" and r["uses"] == [1] for r in results.values()), results


def test_a_test_needing_an_earlier_exercise_says_which_and_passes_once_both_are_done(tmp_path):
    """Exercise 2 done but not Exercise 1: the ex2 tests that also run Dense backward fail naming
    Exercise 1; with both done, all of ex2 passes."""
    files = ("tests/test_every_layer.py",)  # it has both kinds, and runs quickly
    results, out = run_tests(edition_keeping(tmp_path / "a", {2}), "ex2", *files, output=True)
    alone = {k: r for k, r in results.items() if r["uses"] == [2]}
    both = {k: r for k, r in results.items() if r["uses"] == [1, 2]}
    assert alone and all(r["outcome"] == "passed" for r in alone.values())
    assert both and all(r["outcome"] == "failed" and r["missing"] == 1 for r in both.values())
    assert "it checks Exercise 2, but this test needs Exercise 1 (Dense backward)" in out
    results = run_tests(edition_keeping(tmp_path / "b", {1, 2}), "ex2", *files)
    assert results.keys() == alone.keys() | both.keys()
    assert all(r["outcome"] == "passed" for r in results.values())


def test_progress_says_not_started_until_an_exercise_is_attempted(tmp_path):
    """Exercise 1 done, Exercise 2 attempted (one stub replaced by a wrong body), Exercise 5
    untouched: done, in progress, not started; each line printed as its exercise finishes."""
    student = edition_keeping(tmp_path, {1})
    path = student / "aigc_np" / "layers" / "activations.py"
    text = path.read_text()
    stubs = re.findall(r"^ *raise NotImplementedError\('Exercise 2: .*$", text, re.M)
    assert len(stubs) > 1 and "(part 1 of" in stubs[0]
    assert unstarted_exercises(str(student)) >= {2, 5}
    path.write_text(text.replace(stubs[0].strip(), "return dy  # wrong: ignores the mask", 1))
    assert 2 not in unstarted_exercises(str(student)) and 5 in unstarted_exercises(str(student))
    out = io.StringIO()
    # quick files: every layer's gradient check (Exercises 1 and 2), BatchNorm's reference checks (Exercise 5)
    files = ["tests/test_every_layer.py", "tests/test_layers.py"]
    table = progress(str(student), files, exercises=[1, 2, 5], out=out)
    assert [status for _, _, status in table.values()] == ["done", "in progress", "not started"]
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines[2:5]] == ["1", "2", "5"] and "1 of 3 exercise(s) done" in lines[-1]
    assert table[1][0] > 0 and table[1][1] == 0 and table[2][1] > 0 and table[5][1] > 0


def test_a_solved_single_region_exercise_counts_as_started(tmp_path):
    student = edition_keeping(tmp_path, {3})
    assert 3 not in unstarted_exercises(str(student)) and {1, 2, 4} <= unstarted_exercises(str(student))


def test_progress_exits_0_with_unfinished_exercises_and_grade_exits_1(monkeypatch, capsys):
    """A report is not a failure: `make progress` exits 0; `--grade` (make progress GRADE=1) exits 1
    unless every exercise reported is done."""
    tables = {"unfinished": {1: (3, 0, "done"), 2: (1, 2, "in progress")}, "finished": {1: (3, 0, "done")}}
    for name, table in tables.items():
        monkeypatch.setattr(coursework, "progress", lambda *args, table=table, **kwargs: table)
        assert coursework.main(["progress"]) == 0
        assert coursework.main(["progress", "--grade"]) == (1 if name == "unfinished" else 0)


def test_progress_prints_an_exercise_as_soon_as_its_tests_have_reported():
    """exercises_as_they_finish yields exercise 1 before it reads past the first record of a later one."""
    def records():
        yield {"exercise": 1, "outcome": "passed"}
        yield {"exercise": 1, "outcome": "failed"}
        yield {"exercise": 3, "outcome": "passed"}
        raise AssertionError("read past exercise 3's first record before reporting exercises 1 and 2")

    stream = exercises_as_they_finish(records(), [1, 2, 3])
    assert next(stream) == (1, [{"exercise": 1, "outcome": "passed"}, {"exercise": 1, "outcome": "failed"}])
    assert next(stream) == (2, [])
    with pytest.raises(AssertionError, match="read past"):
        next(stream)


def test_exercise_status():
    passed, failed = {"outcome": "passed", "missing": None}, {"outcome": "failed", "missing": None}
    blocked = {"outcome": "failed", "missing": 1}
    assert exercise_status(5, [failed, failed], started=False) == "not started"
    assert exercise_status(5, [passed, failed], started=True) == "in progress"
    assert exercise_status(5, [passed, passed], started=True) == "done"
    assert exercise_status(5, [passed, blocked], started=True) == "needs Exercise 1 first"
    assert exercise_status(5, [blocked, failed], started=True) == "in progress"


def test_a_failed_cli_run_in_a_fixture_names_the_command_and_shows_its_stderr(edition):
    student, _, _ = edition
    _, out = run_tests(student, "ex9", "tests/test_cli.py::test_train_writes_the_run_folder", "-x", output=True)
    assert "`python -m aigc_np train vae --out " in out and "exited with 1; its stderr:" in out
    assert re.search(r"error: Exercise \d+: ", out) and "assert 1 == 0" not in out


def test_the_edition_has_a_student_readme_without_the_instructor_material(edition):
    student, _, info = edition
    readme = (student / "README.md").read_text()
    for must in ("make test", "make test EX=", "make progress", "source .venv/bin/activate", "lessons/",
                 "make notebooks", "pip install notebook"):
        assert must in readme, must
    introduction = readme.split("\n## ")[0]  # names the models of every exercise, 10-14 too
    for model in ("VAE", "GAN", "diffusion", "DDIM", "LSTM", "GPT", "attention"):
        assert model in introduction, model
    for n, title in info["exercises"].items():
        assert f"| {n} | {title} |" in readme
    instructor = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "make student" not in readme and "BEGIN EXERCISE" not in readme and "For instructors" not in readme
    assert readme != instructor and "{exercises}" not in readme
    assert not (student / "tests" / "test_coursework.py").exists()  # instructor tooling stays out
