#!/bin/bash
# make check: unit tests of the torture checkers on hand-written histories
# (tests/torture/test_checkers.py). Debian's python3, standard library only.
exec /usr/bin/python3 "${TOP_SRCDIR:-.}/tests/torture/test_checkers.py"
