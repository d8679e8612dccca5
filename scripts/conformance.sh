#!/usr/bin/env bash
# Checks every policies/conformance matrix against casbin's own example model and policy
# (not in this repository: see ../shared/casbin-examples/SOURCE.md). Usage:
#   scripts/conformance.sh [CASBIN_EXAMPLES_DIR]     (default ../shared/casbin-examples)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${CASBIN_EXAMPLES_DIR:-../shared/casbin-examples}}
[ -d "$dir" ] || { echo "no casbin examples at $dir" >&2; exit 2; }
cargo build --quiet --bin warden
status=0
while read -r matrix model policy; do
  case "$matrix" in ''|'#'*) continue ;; esac
  "${CARGO_TARGET_DIR:-target}/debug/warden" matrix check --model "$dir/$model" --policy "$dir/$policy" "policies/conformance/$matrix" || status=1
done < policies/conformance/pairs.txt
exit $status
