"""A pytest plugin for tests/test_coursework.py: the exercise stubs each test raised, caught or not.

In the student edition every exercise region is ``raise NotImplementedError("Exercise N: ...")``.
A test that catches such an error -- in ``pytest.raises(NotImplementedError, match=...)``, say --
can pass or fail without naming the exercise it stopped at, so a wrong entry in
tests/exercise_marks.py would go unnoticed. This plugin gives each edition module that holds a stub
its own ``NotImplementedError``: a subclass (caught wherever the builtin is) that notes the
exercise number when a stub raises it. After each test it appends one JSON line to the file
named by $AIGC_NP_STUB_REPORT: ``{"nodeid": ..., "raised": [n, ...], "stopped_at": n or null}``,
where ``stopped_at`` is the exercise whose stub the test failed with -- its own error, or the
``error: Exercise n: ...`` line or traceback of a command it ran -- and null when it passed or
failed some other way (a ``pytest.raises`` whose match a stub's message did not fit, say).

Load it with ``-p stub_watch`` (this folder on PYTHONPATH). The student edition leaves it out.
"""
import builtins
import importlib
import json
import os
import re

import pytest

_STUB = re.compile(r"""raise NotImplementedError\(\s*['"]Exercise \d+: """)
_EXERCISE = re.compile(r"Exercise (\d+): ")
_raised: set = set()


class NotImplementedError(builtins.NotImplementedError):  # same name, so failure reports read the same
    def __init__(self, *args):
        super().__init__(*args)
        found = _EXERCISE.match(str(args[0])) if args else None
        if found:
            _raised.add(int(found[1]))


def _stub_modules(package_dir: str):
    """Dotted names of the modules under ``package_dir`` (the aigc_np folder) that hold a stub."""
    root = os.path.dirname(package_dir)
    for folder, _, files in os.walk(package_dir):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.endswith(".py") and _STUB.search(open(path, encoding="utf-8").read()):
                yield os.path.relpath(path, root)[:-3].replace(os.sep, ".").removesuffix(".__init__")


def pytest_configure(config):
    import aigc_np

    for name in _stub_modules(os.path.dirname(aigc_np.__file__)):
        importlib.import_module(name).NotImplementedError = NotImplementedError


def stopped_at(error: BaseException, stderr: str = ""):
    """The exercise whose stub ``error`` comes from, or None. ``stderr``: what the test printed there."""
    if isinstance(error, BaseExceptionGroup):  # hypothesis reports several distinct failures as a group
        return next((n for n in (stopped_at(e, stderr) for e in error.exceptions) if n is not None), None)
    if isinstance(error, builtins.NotImplementedError):
        found = _EXERCISE.match(str(error))
    else:  # a command it ran stopped at a stub: aigc_np's one-line error, or a Python traceback's last line
        found = re.search(r"^[ \t]*(?:error|NotImplementedError): Exercise (\d+): ", f"{error}\n{stderr}", re.M)
    return int(found[1]) if found else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.excinfo is not None and not hasattr(item, "stub_stopped_at"):  # the first phase that failed
        error = call.excinfo.value
        if not hasattr(error, "stub_stopped_at"):  # a module fixture's error is raised again, without its stderr
            stderr = "\n".join(text for name, text in outcome.get_result().sections if "stderr" in name)
            error.stub_stopped_at = stopped_at(error, stderr)
        item.stub_stopped_at = error.stub_stopped_at


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _raised.clear()
    yield
    path = os.environ.get("AIGC_NP_STUB_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"nodeid": item.nodeid, "raised": sorted(_raised),
                                "stopped_at": getattr(item, "stub_stopped_at", None)}) + "\n")
