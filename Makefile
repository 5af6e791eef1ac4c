# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv, install torch==2.13.0 (CPU build) there when no torch is importable, then the package.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test lint demo reproduce release bench setup clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

demo: $(VENV)/.installed
	$(VENV)/bin/handvae demo --out demo --overwrite

# The paper's experiments on the synthetic benchmark (about 2.5 hours on a 2-core CPU; resumable), then docs/RESULTS.md.
reproduce: $(VENV)/.installed
	$(VENV)/bin/handvae reproduce --out results/synthetic
	$(PY) benchmarks/run_all.py --out results/synthetic/speed.txt
	$(PY) -m handvae.experiments.results_md results/synthetic/results.json --speed results/synthetic/speed.txt --out docs/RESULTS.md

# The released models from scratch (tools/release.sh): render and prepare the release world, train S4 and S1
# for two hours of training time each (configs/release/), score them, export the RGB -> pose weights into
# src/handvae/released/. Resumable: re-run after any interruption.
release: $(VENV)/.installed
	bash tools/release.sh

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
