# syntax=docker/dockerfile:1
# The NER service with the bundled BiGRU. CPU PyTorch by default; for a CUDA build:
#   docker build --build-arg TORCH_VARIANT=cu128 -t bigru-ner:cuda .
# (any CUDA index that download.pytorch.org publishes for TORCH_VERSION). The CUDA wheels bring
# their own CUDA libraries, so the slim base serves both; the host needs only the NVIDIA driver
# and container toolkit.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the variant's index: from PyPI it would be the multi-GB CUDA build.
RUN pip install --no-cache-dir --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
        "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY model ./model
COPY service ./service
# A regular (not editable) install: the package and the bundled models land in the venv, and
# the source tree stays in this stage. Every dependency at the version in constraints.txt.
RUN pip install --no-cache-dir -c constraints.txt .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 ner \
    && useradd --system --uid 10001 --gid ner --no-create-home --shell /usr/sbin/nologin ner
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NER_HOST=0.0.0.0 \
    NER_PORT=8000
WORKDIR /app
# Numeric, so that orchestrators can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
# Slim images have no curl: ask /readyz with the interpreter that is there (non-200 raises).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['NER_PORT'] + '/readyz', timeout=4)"]
ENTRYPOINT ["python", "-m", "model.cli"]
CMD ["serve"]
