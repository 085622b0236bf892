#!/usr/bin/env bash
# Build the extension in debug-with-optimisation mode and place it inside python/mxnet, so
# `PYTHONPATH=python pytest` runs against the working tree without installing anything.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-dev}"
cargo build -p mxnet-python --profile "$profile" --quiet
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
cp "${CARGO_TARGET_DIR:-target}/$dir/lib_native.so" python/mxnet/_native.abi3.so
