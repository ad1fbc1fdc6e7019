#!/usr/bin/env bash
# setup.sh: the first thing a new user and CI run, on Debian 12 as root.
#
#   ./setup.sh run     install what is missing, build, start kahunad
#                      (single node, defaults, foreground; extra arguments
#                      go to kahunad: ./setup.sh run --log-level debug)
#   ./setup.sh test    install what is missing (test tools too), build, run
#                      the whole suite, then again in a sanitizer build
#                      (address + undefined); ends with "N passed, N failed"
#   ./setup.sh build   install what is missing, build
#
# Builds happen out of the source tree, in build/ (and build-sanitize/),
# and only redo what changed, so a second run is quick. Nothing here asks a
# question: it runs the same with or without a terminal. Environment:
#   JOBS              parallel make jobs (default: number of CPUs)
#   KAHUNA_NO_APT=1   never call apt-get; only report what is missing
set -euo pipefail

cd "$(dirname "$0")"
SRC=$PWD
export DEBIAN_FRONTEND=noninteractive

# "a|b": either package will do; the first one is installed when none is.
BUILD_PKGS=(build-essential autoconf automake libtool pkg-config
    libmicrohttpd-dev libjansson-dev libsqlite3-dev
    "libcurl4-openssl-dev|libcurl4-gnutls-dev" check curl)
# What the test suite uses: curl and jq (integration tests), redis-tools
# and python3-redis (the RESP listener's tests), clang (the fuzz target).
TEST_PKGS=(jq redis-tools python3 python3-redis clang)

SAN_CFLAGS="-g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: ./setup.sh run [KAHUNAD OPTIONS...]   build, then start kahunad in the foreground
       ./setup.sh test                       build, run the tests (plain and sanitized)
       ./setup.sh build                      install what is missing and build
EOF
    exit 2
}

# ------------------------------------------------------------ packages

installed() { # PKG: 0 when dpkg has it installed
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Installs (or, when it cannot, names) the packages of the lists given.
ensure_packages() {
    local spec alt ok alts missing=()
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "not a Debian system: make sure these (or your system's equivalents) are installed:"
        say "  ${*//|/ or }"
        return 0
    fi
    for spec in "$@"; do
        ok=""
        IFS='|' read -r -a alts <<<"$spec"
        for alt in "${alts[@]}"; do
            if installed "$alt"; then ok=1; break; fi
        done
        [ -n "$ok" ] || missing+=("${alts[0]}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || [ -n "${KAHUNA_NO_APT:-}" ]; then
        say "these packages are missing: ${missing[*]}"
        say "install them as root:  apt-get update && apt-get install -y ${missing[*]}"
        say "(or run this script as root: sudo ./setup.sh ${CMD:-build})"
        exit 1
    fi
    say "installing: ${missing[*]}"
    apt-get -q -o DPkg::Lock::Timeout=300 update </dev/null ||
        die "apt-get update failed: check the network and /etc/apt/sources.list"
    apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}" </dev/null ||
        die "apt-get install failed for: ${missing[*]}"
}

# --------------------------------------------------------------- build

# configure_in DIR [configure args...]: configures DIR once (make then
# keeps the Makefiles up to date by itself). Returns non-zero on failure.
configure_in() {
    local dir=$1
    shift
    if [ -f "$SRC/config.status" ]; then
        die "the source tree itself is configured; run 'make distclean' in $SRC first (builds go in build/)"
    fi
    if [ ! -x "$SRC/configure" ]; then
        say "autoreconf -i"
        if ! (cd "$SRC" && autoreconf -i); then
            say "autoreconf failed: are autoconf, automake and pkg-config installed?"
            return 1
        fi
    fi
    mkdir -p "$dir"
    if [ ! -f "$dir/config.status" ] || [ ! -f "$dir/Makefile" ]; then
        say "configure in $dir/ $*"
        if ! (cd "$dir" && "$SRC/configure" -q "$@"); then
            say "configure failed in $dir/ (see $dir/config.log)"
            rm -f "$dir/config.status" # so that the next run configures again
            return 1
        fi
    fi
}

build_in() { # DIR: make; returns make's status
    say "make -j$JOBS in $1/"
    if ! make -C "$1" --no-print-directory -j"$JOBS"; then
        say "the build failed in $1/ (the first error is above)"
        return 1
    fi
}

# ---------------------------------------------------------------- test

PASSED=0 FAILED=0 SKIPPED=0

# field LOG NAME: the "# NAME: N" count of an automake test-suite.log (0
# when absent).
field() {
    local n
    n=$(sed -n "s/^# $2: *\\([0-9][0-9]*\\).*/\\1/p" "$1" | head -n 1)
    echo "${n:-0}"
}

# check_in DIR: make check; adds the counts of DIR/test-suite.log.
check_in() {
    local dir=$1 rc=0 log=$1/test-suite.log pass fail skip
    rm -f "$log"
    say "make check in $dir/"
    make -C "$dir" --no-print-directory -j"$JOBS" check || rc=$?
    if [ ! -f "$log" ]; then
        say "$dir/: make check failed before running the tests (status $rc)"
        FAILED=$((FAILED + 1))
        return 0
    fi
    pass=$(field "$log" PASS)
    fail=$(( $(field "$log" FAIL) + $(field "$log" ERROR) + $(field "$log" XPASS) ))
    skip=$(field "$log" SKIP)
    PASSED=$((PASSED + pass))
    FAILED=$((FAILED + fail))
    SKIPPED=$((SKIPPED + skip))
    if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ]; then
        [ "$fail" -ne 0 ] || FAILED=$((FAILED + 1)) # make failed with no test failing
        say "failures in $dir/; the logs of the failing tests ($log):"
        cat "$log" >&2
    fi
}

# sanitizer_reports REPORTS_DIR TMP_DIR: counts the processes that hit a
# sanitizer error, also those whose exit status no test looked at (a daemon
# stopped at the end of a test): ASan and LSan write one file per process
# into REPORTS_DIR (log_path); UBSan (with ASan, GCC's UBSan ignores
# log_path) is found by its "runtime error:" lines in the daemon logs that
# the tests kept under TMP_DIR.
sanitizer_reports() {
    local reports=$1 tmp=$2 f n=0
    for f in "$reports"/*; do
        [ -s "$f" ] || continue
        n=$((n + 1))
        say "sanitizer report $f:"
        cat "$f" >&2
    done
    while IFS= read -r f; do
        n=$((n + 1))
        say "UBSan report in $f:"
        grep -A 12 'runtime error:' "$f" >&2 || true
    done < <(grep -rl --binary-files=without-match 'runtime error:' "$tmp" 2>/dev/null || true)
    if [ "$n" -gt 0 ]; then
        say "$n process(es) hit a sanitizer error; counted as failures"
        FAILED=$((FAILED + n))
    else
        rm -rf "$tmp"
    fi
}

cmd_test() {
    ensure_packages "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    # A build that fails counts as one failure, and the other run still runs.
    if configure_in build && build_in build; then check_in build; else FAILED=$((FAILED + 1)); fi

    if configure_in build-sanitize CFLAGS="$SAN_CFLAGS" LDFLAGS="-fsanitize=address,undefined" &&
        build_in build-sanitize; then
        local reports=$SRC/build-sanitize/sanitizer-reports tmp=$SRC/build-sanitize/test-tmp
        rm -rf "$reports" "$tmp"
        mkdir -p "$reports" "$tmp"
        # KEEP_TMP: the integration tests keep their daemons' logs, to be
        # searched for UBSan reports.
        TMPDIR=$tmp KEEP_TMP=1 \
            ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:log_path=$reports/asan" \
            UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
            check_in build-sanitize
        sanitizer_reports "$reports" "$tmp"
    else
        FAILED=$((FAILED + 1))
    fi

    local summary="$PASSED passed, $FAILED failed"
    [ "$SKIPPED" -eq 0 ] || summary="$summary, $SKIPPED skipped"
    echo "$summary"
    [ "$FAILED" -eq 0 ]
}

# ---------------------------------------------------------------- main

[ $# -ge 1 ] || usage
CMD=$1
shift
case $CMD in
    build)
        [ $# -eq 0 ] || usage
        ensure_packages "${BUILD_PKGS[@]}"
        configure_in build || exit 1
        build_in build || exit 1
        say "built: build/daemon/kahunad, build/cli/kahuna-cli"
        ;;
    run)
        ensure_packages "${BUILD_PKGS[@]}"
        configure_in build || exit 1
        build_in build || exit 1
        say "starting kahunad (Ctrl-C stops it); try: curl http://127.0.0.1:2070/health"
        exec "$SRC/build/daemon/kahunad" "$@"
        ;;
    test)
        [ $# -eq 0 ] || usage
        cmd_test
        ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
