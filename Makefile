# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv, install torch==2.13.0 (CPU build) there when no torch is importable, then the package.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test lint demo setup clean

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
	@echo "The end-to-end demo (synthetic world -> prepare -> S4 training -> evaluation) is not built yet."
	@exit 1

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
