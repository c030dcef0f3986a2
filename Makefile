# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned to the CPU build, so pip never pulls a CUDA build for it.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rnnkit train charlm --out runs/demo --time-budget 180
	$(VENV)/bin/rnnkit sample runs/demo --prime 'def ' --length 600 --temperature 0.8 --seed 1

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) runs
