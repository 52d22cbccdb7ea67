#!/usr/bin/env bash
# Build llama.cpp's own OpenAI-compatible server (`llama-server`: parallel slots, continuous
# batching) portably, once per machine, into the cache. The sources are the llama.cpp tree that
# the llama-cpp-python 0.3.36 sdist vendors, fetched through pip from the registry it can reach.
# The flags target AVX2/FMA/F16C without AVX-512/AMX: the default native build (-march=native)
# crashes on some of our CPUs (REFERENCE.md §5). Static (no shared libs to carry), no HTTPS, no
# web UI (nothing is fetched at build time). ~16 min of CPU: ~8 min on 2 idle cores.
#
#   infra/build_llama_server.sh .venv/bin/pip   # -> ~/.cache/synthembed/bin/llama-server-0.3.36
set -euo pipefail
version=0.3.36
cache="${SYNTHEMBED_CACHE:-$HOME/.cache/synthembed}"
target="$cache/bin/llama-server-$version"
pip="${1:-pip}"
if [ -x "$target" ] && "$target" --version >/dev/null 2>&1; then
  exit 0
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "building llama-server from llama-cpp-python $version's llama.cpp (portable, once per machine; ~8 min on 2 idle cores)..." >&2
"$pip" download --quiet --no-binary :all: --no-deps -d "$work" "llama-cpp-python==$version"
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
tree="$work/llama_cpp_python-$version/vendor/llama.cpp"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S "$tree" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON >"$work/cmake.log" 2>&1 || { tail -40 "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" --target llama-server --parallel "$(nproc)" >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log" >&2; exit 1; }
mkdir -p "$(dirname "$target")"
cp "$work/build/bin/llama-server" "$target.partial"
"$target.partial" --version >/dev/null 2>&1  # it runs here (static: no shared library to find)
mv "$target.partial" "$target"
