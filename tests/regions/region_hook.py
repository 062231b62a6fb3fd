"""Load aigc_np with a call on every exercise region's first line, to see which regions run.

In the student edition, each region ``# BEGIN EXERCISE n: ...`` ... ``# END EXERCISE n``
becomes ``raise NotImplementedError("Exercise n: ...")`` at the same place. So code raises
Exercise n's stub in the edition exactly when, in the library, it enters region n. After
``install(on_enter)``, every aigc_np module that holds a region is compiled with its BEGIN
lines read as::

    __aigc_np_region__(n)  # BEGIN EXERCISE n: ...

which calls ``on_enter(n)`` each time that line runs. Line numbers are unchanged, the files
on disk are untouched, and no bytecode is cached from the changed text. The hook must be
installed before aigc_np is first imported.
"""
import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN EXERCISE (?P<n>\d+)\b", re.M)
# The coursework tool describes the markers in its docstring; it holds no region.
NOT_REGIONS = os.path.join("tools", "coursework.py")


def with_calls(text: str) -> str:
    """``text`` with ``__aigc_np_region__(n)`` put before every ``# BEGIN EXERCISE n`` line's comment."""
    return BEGIN.sub(lambda m: f"{m['indent']}__aigc_np_region__({m['n']})  # BEGIN EXERCISE {m['n']}", text)


def holds_regions(path: str) -> bool:
    if not path or not path.endswith(".py") or path.endswith(NOT_REGIONS):
        return False
    with open(path, encoding="utf-8") as f:
        return BEGIN.search(f.read()) is not None


class RegionLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module from its text with the region calls put in (and caches no bytecode)."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        with open(path, encoding="utf-8") as f:
            return compile(with_calls(f.read()), path, "exec", dont_inherit=True)


class RegionFinder(importlib.abc.MetaPathFinder):
    """Finds aigc_np's modules as usual, and gives the ones holding a region the RegionLoader."""

    def find_spec(self, name, path=None, target=None):
        if name != "aigc_np" and not name.startswith("aigc_np."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not holds_regions(spec.origin):
            return spec
        return importlib.util.spec_from_file_location(
            name, spec.origin, loader=RegionLoader(name, spec.origin),
            submodule_search_locations=spec.submodule_search_locations)


def install(on_enter) -> None:
    """Call ``on_enter(n)`` whenever code enters a region of Exercise n (before aigc_np is imported)."""
    loaded = sorted(m for m in sys.modules if m == "aigc_np" or m.startswith("aigc_np."))
    if loaded:
        raise RuntimeError(f"region_hook.install: aigc_np is already imported ({loaded[:3]}...), "
                           f"so its regions cannot be watched")
    builtins.__aigc_np_region__ = on_enter
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, RegionFinder)]  # one watcher at a time
    sys.meta_path.insert(0, RegionFinder())
