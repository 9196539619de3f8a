#!/usr/bin/env bash
# Download, on this machine, the wheels that bench/gpu_check.sh installs on the GPU machine.
#
# The GPU machine (see the device notes) has Python 3.12 with torch, CuPy, transformers, peft, accelerate,
# numpy, pyarrow, xxhash, pytest and hypothesis, and no network. What the checks need beyond that:
#   * dagster + its dependencies that the image lacks (resources/compute.py imports dagster; the training
#     bench uses probe_device/select_runtime from it),
#   * pydantic (config.py), and
#   * torchao (the FP8 recipe measured when Transformer Engine is absent; 0.18 needs torch >= 2.11), and
#   * liger-kernel (Triton kernels; needs only torch + triton, which the image's torch brings).
# The list below is dagster 1.13.27's + pydantic's + torchao's dependency closure minus what the image
# has (computed from this project's venv metadata). Versions match this project's lock. About 20 MB.
# Not fetched: cudf / cugraph / transformer-engine (GBs of CUDA wheels or a source build; they exceed the
# 64 MiB a device call may carry), trl / datasets / datatrove (no GPU check uses them).
#
#   bash bench/fetch_gpu_wheels.sh            # -> .whl/ (git-ignored); carry ".whl" with the device call
#   bash bench/fetch_gpu_wheels.sh --list     # print the requirement lines only
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  dagster==1.13.27 dagster-pipes==1.13.27 dagster-shared==1.13.27
  alembic==1.20.1 mako==1.4.3 sqlalchemy==2.1.9 antlr4-python3-runtime==4.13.2
  coloredlogs==14.0 humanfriendly==10.0 docstring-parser==0.18.0 grpcio-health-checking==1.81.1
  pathlib-abc==0.5.2 universal-pathlib==0.3.10 platformdirs==4.14.8 python-dotenv==1.2.4
  pytz==2026.6 tzdata==2026.6 structlog==26.1.0 tomli==2.5.0 tomlkit==0.15.2 toposort==1.10
  watchdog==6.0.0
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  torchao==0.18.0
  liger-kernel==0.8.5
)
# what gpu_check.sh asks pip to resolve (the rest are their dependencies)
TOP_LEVEL=(dagster==1.13.27 pydantic==2.14.4 torchao==0.18.0 liger-kernel==0.8.5)

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi
if [[ "${1:-}" == "--top-level" ]]; then
  printf '%s\n' "${TOP_LEVEL[@]}"
  exit 0
fi

DEST=${WHEELS:-.whl}
PYTHON=${PYTHON:-python3}
GPU_PYTHON_VERSION=${GPU_PYTHON_VERSION:-3.12}
mkdir -p "$DEST"
platforms=()
for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
"$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version "$GPU_PYTHON_VERSION" \
  --implementation cp "${platforms[@]}" -d "$DEST" "${PACKAGES[@]}"
# one version of each package only: a second copy stops the whole offline install
dupes=$(ls "$DEST"/*.whl | xargs -n1 basename | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)
if [[ -n "$dupes" ]]; then
  echo "more than one wheel of: $dupes (remove the stale ones from $DEST)" >&2
  exit 1
fi
du -sh "$DEST"
