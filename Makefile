# skhe: two commands on a fresh machine.
#   make demo   runs the main job (the demo on the built-in synthetic cohort)
#   make test   runs the whole test suite
# Both create or update the virtual environment in .venv first.

PYTHON ?= python3
# two workers with one torch thread each: no oversubscription of the two cores
PYTEST_ARGS ?= -n 2 --dist loadgroup -q
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skhe-installed
export HF_HUB_OFFLINE := 1
export NO_ALBUMENTATIONS_UPDATE := 1
export MPLBACKEND := Agg

.PHONY: demo test lint docs venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch/torchvision first and pinned (see constraints.txt), then the package and test tools.
	$(PY) -m pip install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/skhe demo $(ARGS)

test: $(STAMP)
	$(PY) -m ruff check skhe tests benchmarks examples docs/api
	OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)

# the API reference from the numpydoc docstrings, warnings as errors: build/docs/index.html
docs: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[docs]"
	$(PY) -m sphinx -W --keep-going -q -b html docs/api build/docs

lint: $(STAMP)
	$(PY) -m ruff check skhe tests benchmarks examples docs/api
	$(PY) -m ruff format --check skhe tests benchmarks examples docs/api

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
