# aigc_np: every target runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LESSONS := $(sort $(wildcard lessons/[0-9][0-9]_*.py))
export MPLBACKEND ?= Agg

.PHONY: test demo lessons lessons-quick data-full bench clean venv

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) lessons/01_dense_and_backprop.py
	$(PY) lessons/02_mlp_classifier.py
	$(PY) lessons/03_cnn_classifier.py

lessons: $(STAMP)
	@set -e; for f in $(LESSONS); do echo "== $$f"; $(PY) $$f; done

lessons-quick: $(STAMP)
	@set -e; for f in $(LESSONS); do echo "== $$f --quick"; $(PY) $$f --quick; done

data-full: $(STAMP)
	$(PY) -m aigc_np.data.download --dest data

clean:
	rm -rf $(VENV) out build .pytest_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

bench: $(STAMP)
	$(PY) -m aigc_np.bench $(BENCH_ARGS)
