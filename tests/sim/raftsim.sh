#!/bin/bash
# The simulation's share of `make check`: the fixed batch of seeds of
# `raftsim --check` (3 and 5 nodes, every fault). RAFTSIM_SEEDS=N runs N
# seeds instead; for many more: make sim SEEDS=N [SEED=S].
set -eu
sim="${TOP_BUILDDIR:-.}/tests/sim/raftsim"
if [ -n "${RAFTSIM_SEEDS:-}" ]; then
    exec "$sim" --seeds "$RAFTSIM_SEEDS" --seed "${RAFTSIM_SEED:-1}"
fi
exec "$sim" --check --seed "${RAFTSIM_SEED:-1}"
