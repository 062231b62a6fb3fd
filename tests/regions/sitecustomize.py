"""In a command a test runs (python -m aigc_np ...), report the exercise regions it enters.

tests/region_watch.py puts this folder on PYTHONPATH, so Python imports this file at start.
Each region entered is appended once, as "test id<TAB>n", to the file $AIGC_NP_REGION_LOG.
"""
import os

if os.environ.get("AIGC_NP_REGION_LOG"):
    import region_hook

    _seen = set()

    def _report(n):
        if n not in _seen:
            _seen.add(n)
            with open(os.environ["AIGC_NP_REGION_LOG"], "a") as f:
                f.write(f"{os.environ.get('AIGC_NP_REGION_TEST', '')}\t{n}\n")

    region_hook.install(_report)
