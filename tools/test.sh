#!/usr/bin/env bash
# The README's test command: install the package with its test extras into a fresh virtual
# environment (one release build through maturin), then run the Rust and Python test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MXNET_TEST_VENV:-.venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet ".[test]"

# The Rust tests reuse the release artifacts of the wheel build above.
cargo test --release --workspace --exclude mxnet-python

# loom models of the engine's variable protocol: a separate small build with `--cfg loom`,
# in its own target folder so the release artifacts above stay valid.
CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" cargo test --release -p mxnet-engine loom_models

# Run from tests/ so `import mxnet` resolves to the installed wheel, not the source tree.
cd tests
python -m pytest -q -p no:cacheprovider python
