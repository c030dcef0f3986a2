# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean browser

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

test: $(STAMP) browser
	$(PY) -m pytest

# The inspect page's browser test drives Debian's chromium through chromedriver: installed here
# where apt-get can (as root); elsewhere that test skips and says why.
browser:
	@(command -v chromium && command -v chromedriver) >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; }; } || \
	  echo "make: chromium could not be installed: the inspect page's browser test will skip"

clean:
	rm -rf $(VENV) runs
