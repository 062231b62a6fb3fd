# aigc_np: every target runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LESSONS := $(sort $(wildcard lessons/[0-9][0-9]_*.py))
export MPLBACKEND ?= Agg

.PHONY: test demo lessons lessons-quick data-full bench clean venv student progress notebooks

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# make test EX=3 runs only Exercise 3's tests
test: $(STAMP)
	$(PY) -m pytest $(if $(EX),-m ex$(EX))

# The main job: lessons 01-03, then a VAE and a GAN trained briefly, with sample grids.
demo: $(STAMP)
	$(PY) lessons/01_dense_and_backprop.py
	$(PY) lessons/02_mlp_classifier.py
	$(PY) lessons/03_cnn_classifier.py
	$(PY) -m aigc_np train vae --out out/demo/vae --epochs 30
	$(PY) -m aigc_np sample out/demo/vae/best.npz --n 100 --out out/demo/vae_samples.png
	$(PY) -m aigc_np train gan --out out/demo/gan --epochs 20
	$(PY) -m aigc_np sample out/demo/gan/best.npz --n 100 --out out/demo/gan_samples.png

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

student: $(STAMP)
	$(PY) -m aigc_np.coursework student --out build/student --zip build/aigc_np-student.zip

# make progress EX=3 reports only Exercise 3
progress: $(STAMP)
	$(PY) -m aigc_np.coursework progress $(EX)

# notebooks/NN_*.ipynb from the lessons' # %% cells (not committed: regenerate them)
notebooks: $(STAMP)
	$(PY) -m aigc_np.notebooks --out notebooks $(LESSONS)
