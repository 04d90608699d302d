# The NER service with the bundled BiGRU, serving only: no training or evaluation packages.
# CPU PyTorch by default; for a CUDA build:
#   docker build --build-arg TORCH_VARIANT=cu128 -t bigru-ner:cuda .
# (any CUDA index that download.pytorch.org publishes for TORCH_VERSION). The CUDA wheels bring
# their own CUDA libraries, so the slim base serves both; the host needs only the NVIDIA driver
# and container toolkit.
# BASE_IMAGE and TORCH_INDEX_URL exist for machines without these registries: `make image`
# there builds a stand-in base from Debian's packages and serves the CPU wheel on loopback
# (README, "Deployment"). Any base works that has Python 3.11 as `python3` with `venv`.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The pip that builds everything, whatever the base image brings (an old one failed to build
# a dependency's source distribution).
ARG PIP_VERSION=26.3
RUN pip install --no-cache-dir "pip==${PIP_VERSION}"
# (Each argument is declared where it is first used, so that changing it rebuilds only what
# follows.)
ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
# torch first, from the variant's index: from PyPI it would be the multi-GB CUDA build. Its
# dependencies come with the package's below, from PyPI at the versions constraints.txt pins.
RUN pip install --no-cache-dir --no-deps --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY model ./model
COPY service ./service
# A regular (not editable) install: the package and the bundled models land in the venv, and
# the source tree stays in this stage. Every dependency at the version in constraints.txt.
RUN pip install --no-cache-dir -c constraints.txt .
# What serving never runs: torch's C++ headers, CMake files, protoc and its own C++ test
# programs, and pip and setuptools themselves (~200 MB). (Not torch/testing: torch imports it.)
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && rm -rf "$site/torch/include" "$site/torch/share" "$site/torch/test" \
        "$site/torch/lib/"*test*.so \
    && find "$site/torch/bin" -mindepth 1 ! -name torch_shm_manager -exec rm -rf {} + \
    && python -m pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE} AS runtime
# Numeric, so that orchestrators can check runAsNonRoot without reading /etc/passwd; no home
# and no writes outside /tmp, so the root filesystem may be read-only (`--read-only --tmpfs
# /tmp`).
RUN groupadd --system --gid 10001 ner \
    && useradd --system --uid 10001 --gid ner --no-create-home --shell /usr/sbin/nologin ner
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NER_HOST=0.0.0.0 \
    NER_PORT=8000
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Slim images have no curl: ask /readyz with the interpreter that is there (non-200 raises).
# Healthy as soon as it answers; failures count only after 180 s, since loading torch and both
# models took over 80 s on a busy 2-core machine (three replicas starting at once take longer).
HEALTHCHECK --interval=5s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['NER_PORT'] + '/readyz', timeout=4)"]
ENTRYPOINT ["python", "-m", "service.cli"]
CMD ["serve"]
