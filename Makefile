# Two entry points for a fresh machine: `make run` (set up, then launch dltui) and
# `make test` (set up, then run the test suite). Set-up is a virtualenv in .venv that
# sees the system's site-packages, so a CUDA build of torch the user already has is kept;
# when no torch is importable at all, the CPU wheel torch==2.13.0 is installed instead of
# letting pip resolve a multi-GB CUDA download.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dltui-installed

.PHONY: setup run test lint bench bench-smoke clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dltui $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# One table of every figure (bench/run_all.py runs each bench/ script in its own process).
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# CI: the same scripts at tiny sizes, goals not judged; fails only if a script fails.
bench-smoke: $(STAMP)
	$(BIN)/python bench/run_all.py --smoke

clean:
	rm -rf $(VENV)
