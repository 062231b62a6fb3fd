"""Every test's exercise marks checked against the regions it runs, in every `make test`.

tests/exercise_marks.py says which exercises' code each test executes; the student
edition and `make test EX=n` rely on it. This plugin watches the library itself
(tests/regions/region_hook.py): after each test that passed, the regions it entered
-- in its own process, in the fixtures it used, and in the commands it ran -- are
compared with its marks, and the test fails at teardown, naming it, when

- it entered a region of an exercise its marks do not list, or
- its marks list an exercise whose regions it did not enter.

Together with the library's tests passing, this is what the student edition needs:
a test raises Exercise n's stub there exactly when it enters region n here. So a test
with no marks runs the same code in both and passes in both, and a test whose only
mark is n passes in an edition where just Exercise n is solved.

With $AIGC_NP_REGION_RECORD set to a file, one JSON line per test is appended to it,
``{"nodeid": ..., "entered": [n, ...]}``: the table's entries for new tests.
"""
import importlib.util
import json
import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "regions"))
import region_hook  # noqa: E402

_entered: set = set()   # regions entered in this process since the current test began
_fixture_regions = {}   # id(fixturedef) -> regions entered while setting up that (shared) fixture
_log = None             # the file that commands the tests run append their regions to
active = False          # True once the library's regions are watched (the student edition has none)


def start() -> None:
    """Watch the regions (call before aigc_np is imported). Does nothing where no module holds one."""
    global active, _log
    package = os.path.dirname(importlib.util.find_spec("aigc_np").origin)  # finds it without importing it
    if not any(region_hook.holds_regions(os.path.join(folder, name))
               for folder, _, files in os.walk(package) for name in files):
        return
    region_hook.install(_entered.add)
    fd, _log = tempfile.mkstemp(prefix="aigc_np_regions_", suffix=".log")
    os.close(fd)
    os.environ["AIGC_NP_REGION_LOG"] = _log
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.join(HERE, "regions"),
                                                            os.environ.get("PYTHONPATH")) if p)
    active = True


def _commands_entered(nodeid: str) -> set:
    """Regions the test's commands entered (read from the log, which is then emptied)."""
    with open(_log, "r+") as f:
        lines = f.read().splitlines()
        f.seek(0)
        f.truncate()
    return {int(n) for test, n in (line.split("\t") for line in lines) if test == nodeid}


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    before = set(_entered)
    yield
    if fixturedef.scope != "function":
        _fixture_regions[id(fixturedef)] = set(_entered) - before | _fixture_regions.get(id(fixturedef), set())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _entered.clear()
    os.environ["AIGC_NP_REGION_TEST"] = item.nodeid
    yield


def entered_by(item) -> set:
    """Every region the test entered: its own, its shared fixtures', its commands'."""
    shared = set()
    for defs in item._fixtureinfo.name2fixturedefs.values():
        for fixturedef in defs:
            shared |= _fixture_regions.get(id(fixturedef), set())
    return set(_entered) | shared | _commands_entered(item.nodeid)


def mismatch(entered: set, marks) -> str | None:
    """Why ``marks`` are wrong for a test that entered ``entered``, or None."""
    unmarked = sorted(entered - set(marks))
    if unmarked:
        return (f"it runs the code of Exercise(s) {unmarked}, which its entry in tests/exercise_marks.py "
                f"{tuple(marks) or '(none)'} does not list")
    unused = sorted(set(marks) - entered)
    if unused:
        return (f"tests/exercise_marks.py marks it with Exercise(s) {tuple(marks)}, but it runs no code of "
                f"Exercise(s) {unused}")
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not active:
        return
    if report.when != "teardown":
        item.region_ok = getattr(item, "region_ok", True) and report.passed
        return
    entered = entered_by(item)
    if os.environ.get("AIGC_NP_REGION_RECORD"):
        with open(os.environ["AIGC_NP_REGION_RECORD"], "a") as f:
            f.write(json.dumps({"nodeid": item.nodeid, "entered": sorted(entered)}) + "\n")
    why = mismatch(entered, getattr(item, "exercise_uses", ())) if getattr(item, "region_ok", False) else None
    if why and report.passed:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: wrong exercise marks: {why}"


def pytest_unconfigure(config):
    if _log and os.path.exists(_log):
        os.unlink(_log)
