#!/usr/bin/env bash
# What a GPU machine lent through the `device` tool needs for bench/device_check.py and has
# not got: the service's web stack as CPython 3.12 wheels (that machine's Python already holds
# torch with CUDA, numpy, safetensors, uvloop and prometheus-client), at the versions this
# checkout's .venv runs, in .device/whl; and the CoNLL-2003 test file in .device/data (it may
# not be committed, and ../shared does not travel). Both folders are git-ignored; name .device
# in the run's `carry`. The command there:
#
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
#     .device/whl/*.whl && PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 python3 -m \
#     bench.device_check --data .device/data/test.txt --json $OUT/device_check.json
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(fastapi starlette uvicorn httptools pydantic pydantic_core pydantic-settings
  python-dotenv annotated-types annotated-doc typing-inspection typing_extensions
  opentelemetry-api)
pins=()
for name in "${PACKAGES[@]}"; do
  pins+=("$name==$(.venv/bin/python -c "from importlib.metadata import version; print(version('$name'))")")
done
rm -rf .device/whl && mkdir -p .device/whl .device/data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .device/whl "${pins[@]}"
cp "${DATA:-../shared/data/conll2003}/test.txt" .device/data/
du -sh .device
