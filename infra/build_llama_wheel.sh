#!/usr/bin/env bash
# Build llama-cpp-python's wheel portably, once per machine, into the wheel cache.
# The default native build (-march=native) crashes on some of our CPUs; these flags target
# AVX2/FMA/F16C without AVX-512/AMX (REFERENCE.md §5). Takes ~5-7 minutes on 2 cores.
set -euo pipefail
version=0.3.36
wheels="${SYNTHEMBED_CACHE:-$HOME/.cache/synthembed}/wheels"
pip="${1:-pip}"
if ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  exit 0
fi
mkdir -p "$wheels"
echo "building llama-cpp-python $version (portable, once per machine; ~6 min)..." >&2
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DLLAVA_BUILD=OFF" \
  "$pip" wheel --no-deps --no-cache-dir -w "$wheels" "llama-cpp-python==$version"
