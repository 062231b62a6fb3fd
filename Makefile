# aigc_np: every target runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LESSONS := $(sort $(wildcard lessons/[0-9][0-9]_*.py))
export MPLBACKEND ?= Agg

.PHONY: test demo demo-lane-1 demo-lane-2 serve lessons lessons-quick data-full bench clean venv student progress notebooks

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# make test EX=3 runs only Exercise 3's tests
test: $(STAMP)
	$(PY) -m pytest $(if $(EX),-m ex$(EX))

# Every image model trained briefly with its "demo" recipe (aigc_np/kinds), in two lanes of one BLAS
# thread each so that both cores train at once; one montage of all of them; then a small GPT on names
# (about a minute) that prints 20 new names.
DEMO := out/demo
DEMO_TRAIN := $(PY) -m aigc_np train --threads 1 --overwrite --recipe demo
demo: $(STAMP)
	@$(MAKE) --no-print-directory -j2 demo-lane-1 demo-lane-2
	$(PY) -m aigc_np.tools.montage $(DEMO)/vae/best.npz $(DEMO)/gan/best.npz $(DEMO)/dcgan/best.npz \
		$(DEMO)/cvae/best.npz $(DEMO)/ldm/best.npz --out $(DEMO)/montage.png
	$(PY) -m aigc_np train gpt --corpus names --steps 2000 --out $(DEMO)/names --overwrite
	@echo "20 names from the GPT (lesson 14's model on data/names.txt, 2,000 steps):"
	@$(PY) -m aigc_np sample $(DEMO)/names/best.npz --prompt . --n 300 | tr '.' '\n' | sed -n '2,21p'
	@echo "make demo: the montage is $(DEMO)/montage.png; each run's folder holds its per-epoch grids"

demo-lane-1: $(STAMP)
	$(DEMO_TRAIN) dcgan --out $(DEMO)/dcgan
	$(DEMO_TRAIN) vae --out $(DEMO)/vae
	$(DEMO_TRAIN) cvae --out $(DEMO)/cvae

demo-lane-2: $(STAMP)
	$(DEMO_TRAIN) ldm --out $(DEMO)/ldm
	$(DEMO_TRAIN) gan --out $(DEMO)/gan

# The demo's models on a local web page (docs/serve.md): http://127.0.0.1:8000/ after `make demo`; Ctrl-C stops it.
serve: $(STAMP)
	@test -n "$(wildcard $(DEMO)/*/best.npz)" || { echo "make serve: no $(DEMO)/*/best.npz; run make demo first"; exit 1; }
	$(PY) -m aigc_np serve $(sort $(dir $(wildcard $(DEMO)/*/best.npz))) $(SERVE_ARGS)

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
	$(PY) -m aigc_np.tools.bench $(BENCH_ARGS)

student: $(STAMP)
	$(PY) -m aigc_np.tools.coursework student --out build/student --zip build/aigc_np-student.zip $(if $(MANIFEST),--manifest $(MANIFEST))

# make progress EX=3 reports only Exercise 3; GRADE=1 makes it exit 1 unless every exercise reported is done
progress: $(STAMP)
	$(PY) -m aigc_np.tools.coursework progress $(EX) $(if $(GRADE),--grade)

# notebooks/NN_*.ipynb from the lessons' # %% cells (not committed: regenerate them)
notebooks: $(STAMP)
	$(PY) -m aigc_np.tools.notebooks --out notebooks $(LESSONS)
