#!/bin/bash
# check_fuzz_peer_rpc.sh: runs the forwarding codec's fuzz target (driver.c
# build) on its own seed corpus, tests/fuzz/corpus/peer_rpc, plus the
# driver's mutations.
exec "${TOP_BUILDDIR:-.}/tests/fuzz/fuzz_peer_rpc_check" "${TOP_SRCDIR:-..}/tests/fuzz/corpus/peer_rpc"
