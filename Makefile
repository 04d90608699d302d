# The two commands the README opens with. Each installs what it needs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: serve test lint install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls the CUDA build.
	$(BIN)/pip install -q $(TORCH)

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,train]'

serve: install
	$(BIN)/bigru-ner serve --host $${NER_HOST:-127.0.0.1} --port $${NER_PORT:-8000}

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/python -m pytest -q
