#!/usr/bin/env bash
# The whole GPU check of the CUDA paths as one bounded command, for a GPU machine lent for minutes.
#
#   here:   make device-prep            # puts mamba-ssm's source (or a wheel built earlier) in .device/
#   device: bash benchmarks/device_check.sh     (carry [".device"], timeout_s 600)
#
# It uses the GPU machine's own python3 (its torch); hsi_app runs from this checkout through
# PYTHONPATH and needs only torch, numpy, safetensors and tqdm there. mamba-ssm's kernel comes
# from .device/: a wheel (mamba_ssm-*.whl) is installed as is; otherwise the sdist is built for
# sm_90 only (PyPI has no wheel; setup.py's nine architectures would not build in the time),
# with every core, and the wheel is copied to $OUT so a later run can carry it instead.
# Every step is bounded by `timeout`; its exit status and seconds go to $OUT/steps.tsv, and
# the log and check_cuda.json (rewritten after every row) to $OUT, so a step that fails or
# runs out of time keeps everything before it. A kernel that does not build or load still
# leaves the portable scan checked and timed on the GPU.
#
# Exit: 0 every check passed; 1 a check_cuda mismatch or error row; 2 no usable GPU or
# hsi_app does not import; 3 a kernel was expected (.device/ had one) but check_cuda ran without it.
set -u -o pipefail
OUT=${OUT:-/tmp/hsi_device_check}
PY=${PY:-python3}
BUILD_LIMIT=${BUILD_LIMIT:-390}   # seconds for building the kernel from source
CHECK_LIMIT=${CHECK_LIMIT:-150}   # seconds for check_cuda.py (about a minute on an H100)
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
exec > >(tee -a "$OUT/device_check.log") 2>&1
SUMMARY="$OUT/steps.tsv"
printf 'step\trc\tseconds\n' > "$SUMMARY"

step() {  # step NAME LIMIT_S CMD... : run bounded, record rc and seconds
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  echo "=== $name (limit ${limit} s)"
  timeout -k 5 "$limit" "$@"
  rc=$?
  [ "$rc" -eq 124 ] && echo "=== $name: timed out after ${limit} s"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >> "$SUMMARY"
  return "$rc"
}
fail() { echo "device_check: $1"; cat "$SUMMARY"; exit "${2:-2}"; }

step gpu 30 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv || true
step torch 90 "$PY" -c '
import sys, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)
assert torch.cuda.is_available(), "torch sees no GPU"
print(torch.cuda.get_device_name(0), "sm_%d%d" % torch.cuda.get_device_capability(0))' \
  || fail "no usable GPU from $PY (see the torch step above)"
step imports 90 "$PY" -c 'import numpy, safetensors, tqdm; import hsi_app.models; print("hsi_app imports")' \
  || fail "hsi_app does not import with PYTHONPATH=$PWD (see the imports step above)"

SITE=/tmp/mamba_site
want_kernel=0
wheel=$(ls .device/mamba_ssm-*.whl 2>/dev/null | head -1)
sdist=$(ls .device/mamba_ssm-*.tar.gz 2>/dev/null | head -1)
if [ -z "$wheel" ] && [ -n "$sdist" ]; then
  want_kernel=1
  rm -rf /tmp/mamba_build && mkdir -p /tmp/mamba_build/whl && tar xzf "$sdist" -C /tmp/mamba_build
  src=$(ls -d /tmp/mamba_build/mamba_ssm-*/)
  "$PY" - "$src/setup.py" <<'EOF'
import pathlib, sys
p = pathlib.Path(sys.argv[1]); s = p.read_text()
anchor = "    if FORCE_CXX11_ABI:"
assert s.count(anchor) == 1, "mamba-ssm's setup.py changed: patch its architecture list by hand"
keep = ('    cc_flag[:] = [f for f in cc_flag if f != "-gencode" and not f.startswith("arch=")]'
        ' + ["-gencode", "arch=compute_90,code=sm_90"]  # H100/H200 only\n')
s = s.replace(anchor, keep + anchor)
if "-std=c++17" in s:  # torch >= 2.10's headers need C++20 ("C++20 or later compatible compiler is required")
    s = s.replace("-std=c++17", "-std=c++20")
p.write_text(s)
print("setup.py: sm_90 only, C++20")
EOF
  [ $? -eq 0 ] || fail "could not patch mamba-ssm's setup.py (see above); nothing was built" 2
  (cd "$src" && MAMBA_FORCE_BUILD=TRUE MAX_JOBS=$(nproc) NVCC_THREADS=2 TORCH_CUDA_ARCH_LIST=9.0 \
     step mamba-build "$BUILD_LIMIT" "$PY" -m pip wheel -q --no-deps --no-build-isolation --no-index \
       -w /tmp/mamba_build/whl .)
  wheel=$(ls /tmp/mamba_build/whl/mamba_ssm-*.whl 2>/dev/null | head -1)
  [ -n "$wheel" ] && cp "$wheel" "$OUT/" && ls -la "$OUT"/mamba_ssm-*.whl
elif [ -n "$wheel" ]; then
  want_kernel=1
fi
if [ -n "$wheel" ]; then
  step mamba-install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$wheel" \
    && export PYTHONPATH="$PYTHONPATH:$SITE"
  # the import and one tiny forward + backward: the real error (ABI, architecture) if it fails
  step mamba-smoke 120 "$PY" -c '
import torch, mamba_ssm
from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
print("mamba_ssm", mamba_ssm.__version__)
g = dict(device="cuda", requires_grad=True)
u, dt, z = (torch.randn(2, 4, 8, **g) for _ in range(3))
A = (-torch.rand(4, 2, device="cuda")).requires_grad_()
B, C = (torch.randn(2, 2, 8, **g) for _ in range(2))
D, db = (torch.randn(4, **g) for _ in range(2))
selective_scan_fn(u, dt, A, B, C, D, z, db, True).sum().backward(); torch.cuda.synchronize()
print("kernel forward + backward ran")' || echo "=== the kernel is unusable: check_cuda still checks the portable scan on the GPU"
fi

step check_cuda "$CHECK_LIMIT" "$PY" benchmarks/check_cuda.py --device cuda --json "$OUT/check_cuda.json"
rc=$?
[ "$rc" -eq 124 ] && fail "check_cuda.py timed out (its rows so far are in $OUT/check_cuda.json)" 1
if [ "$rc" -eq 0 ] && [ "$want_kernel" -eq 1 ]; then
  "$PY" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["env"]["mamba_ssm"] else 3)' \
    "$OUT/check_cuda.json" || fail "a mamba_ssm kernel was expected but check_cuda ran without it" 3
fi
cat "$SUMMARY"
echo "device_check: check_cuda exit $rc; log, steps.tsv and check_cuda.json in $OUT"
exit "$rc"
