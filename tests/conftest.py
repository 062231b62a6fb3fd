"""Shared test settings: deterministic hypothesis profiles and a seeded rng."""
import os

import numpy as np
import pytest
import region_watch
from hypothesis import HealthCheck, Phase, settings

region_watch.start()  # before aigc_np is imported: see tests/region_watch.py

# CI (and by default everyone) runs a derandomized profile so the suite is
# reproducible; HYPOTHESIS_PROFILE=explore searches more widely.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])
# Runs that only ask whether each test fails (tests/test_coursework.py, in the student edition)
# skip shrinking: a test stopped by an exercise stub fails on every example alike.
settings.register_profile("first_failure", parent=settings.get_profile("ci"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ----------------------------------------------------------- coursework
# tests/exercise_marks.py lists, for each test, the exercises whose code it
# executes. A test is *decided* by the latest of them: it carries the marker
# ex<latest>, so `make test EX=n` (pytest -m exN) runs exactly the tests that
# Exercise n completes once Exercises 1..n-1 are done. It also carries
# uses_ex<m> for every exercise it executes (pytest -m uses_ex3: everything
# that touches Exercise 3).
#
# In the student edition, exercise code raises NotImplementedError("Exercise N: ...").
# A test that stops at an earlier exercise than its own says which one, and
# with AIGC_NP_PROGRESS_REPORT set (`make progress`) every outcome is
# appended to that file as one JSON line, the tests running in exercise order.
import json  # noqa: E402
import re  # noqa: E402

_EXERCISE = re.compile(r"Exercise (\d+): ([^.]*)")


def _uses(nodeid):
    """The exercises a test executes, from tests/exercise_marks.py (by id, or by id without [params])."""
    from exercise_marks import MARKS

    nodeid = nodeid.split("tests/", 1)[-1]
    return tuple(sorted(MARKS.get(nodeid, MARKS.get(nodeid.split("[")[0], ()))))


def pytest_configure(config):
    """Register ex<n> and uses_ex<n> for every exercise in the table (setup.cfg may already name ex<n>),
    and the plugin that checks each test's marks against the regions it runs."""
    from exercise_marks import MARKS
    config.pluginmanager.register(region_watch, "region_watch")

    known = {line.split(":")[0].strip() for line in config.getini("markers")}
    for n in sorted({n for uses in MARKS.values() for n in uses}):
        if f"ex{n}" not in known:
            config.addinivalue_line("markers", f"ex{n}: Exercise {n}")
        config.addinivalue_line("markers", f"uses_ex{n}: the test executes Exercise {n}'s code")


def pytest_collection_modifyitems(config, items):
    """Attach ex<latest> and uses_ex<m> markers; for `make progress`, run the tests in exercise order."""
    for item in items:
        item.exercise_uses = _uses(item.nodeid)
        item.exercise = max(item.exercise_uses) if item.exercise_uses else None
        if item.exercise is not None:
            item.add_marker(getattr(pytest.mark, f"ex{item.exercise}"))
        for n in item.exercise_uses:
            item.add_marker(getattr(pytest.mark, f"uses_ex{n}"))
    if os.environ.get("AIGC_NP_PROGRESS_REPORT"):
        items.sort(key=lambda item: item.exercise if item.exercise is not None else float("inf"))
    # A test marked "last" collects what a background run started early (tests/test_coursework.py).
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    own, uses = getattr(item, "exercise", None), getattr(item, "exercise_uses", ())
    missing = None
    if call.excinfo is not None:
        found = _EXERCISE.search(str(call.excinfo.value))
        if found:
            missing, title = int(found[1]), found[2]
        if found and call.excinfo.errisinstance(NotImplementedError):
            if missing != own:
                checks = f"it checks Exercise {own}, but " if own is not None else ""
                report.longrepr = (f"{item.nodeid}: {checks}this test needs Exercise {missing} ({title}), "
                                   f"which is not implemented yet; finish it first (make test EX={missing}).")
            else:
                also = ", ".join(str(n) for n in uses if n != own)
                report.longrepr = (f"{item.nodeid}: Exercise {missing} ({title}) is not implemented yet"
                                   + (f" (this test also runs the code of Exercises {also})." if also else "."))
    path = os.environ.get("AIGC_NP_PROGRESS_REPORT")
    if path and (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        with open(path, "a") as f:
            f.write(json.dumps({"nodeid": item.nodeid, "outcome": report.outcome, "exercise": own,
                                "uses": list(uses), "missing": missing}) + "\n")
