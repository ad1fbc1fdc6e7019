#!/bin/bash
# check_fuzz_resp.sh: runs the RESP fuzz target (driver.c build) on its own seed
# corpus, tests/fuzz/corpus/resp, plus the driver's mutations.
exec "${TOP_BUILDDIR:-.}/tests/fuzz/fuzz_resp_check" "${TOP_SRCDIR:-..}/tests/fuzz/corpus/resp"
