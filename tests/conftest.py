"""Shared test settings: deterministic hypothesis profiles and a seeded rng."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# CI (and by default everyone) runs a derandomized profile so the suite is
# reproducible; HYPOTHESIS_PROFILE=explore searches more widely.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ----------------------------------------------------------- coursework
# In the student edition, exercise code raises NotImplementedError("Exercise N: ...").
# A test that hits an exercise other than its own says so plainly, and
# `make progress` collects outcomes per exercise marker.
import json  # noqa: E402
import re  # noqa: E402

_EXERCISE = re.compile(r"Exercise (\d+): ([^.]*)")
_results = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        found = _EXERCISE.search(str(call.excinfo.value))
        if found:
            mine = sorted(int(m.name[2:]) for m in item.iter_markers() if re.fullmatch(r"ex\d+", m.name))
            n, title = int(found[1]), found[2]
            if n not in mine:
                report.longrepr = (f"{item.nodeid}: this test needs Exercise {n} ({title}), "
                                   f"which is not implemented yet; finish it first.")
            else:
                uses = ", ".join(map(str, mine))
                report.longrepr = (f"{item.nodeid}: Exercise {n} ({title}) is not implemented yet"
                                   + (f" (this test uses Exercises {uses})." if len(mine) > 1 else "."))
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _results.append({"nodeid": item.nodeid, "outcome": report.outcome,
                         "markers": sorted({m.name for m in item.iter_markers() if re.fullmatch(r"ex\d+", m.name)})})


def pytest_sessionfinish(session):
    path = os.environ.get("AIGC_NP_PROGRESS_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(_results, f)


def pytest_collection_modifyitems(config, items):
    """Attach the exercise markers listed in tests/exercise_marks.py (exN = uses Exercise N's code)."""
    from exercise_marks import MARKS

    for item in items:
        nodeid = item.nodeid.split("tests/", 1)[-1]
        for n in MARKS.get(nodeid, MARKS.get(nodeid.split("[")[0], ())):
            item.add_marker(getattr(pytest.mark, f"ex{n}"))
