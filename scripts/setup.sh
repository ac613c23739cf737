#!/usr/bin/env bash
# Set up a development/CI machine for veil. Idempotent and quiet; re-runs take about a second.
#
#   1. Debian packages listed in scripts/apt-packages.txt (one name per line, '#' comments),
#      installed only when some are missing (apt-get update once, then install).
#   2. .venv created with python3 when missing.
#   3. pip install -e '.[EXTRAS]' (EXTRAS from $VEIL_EXTRAS, default "test,pixels"), skipped when
#      pyproject.toml, setup.py, the C sources (src/**/*.c, *.h) and the extras are unchanged
#      since the last successful install; a changed C source is compiled again.
#   4. veil's sources byte-compiled (src/**/__pycache__), every run (only what changed).
#
# Environment:
#   VEIL_EXTRAS=test,bench   optional-dependency groups to install (default: test,pixels; the
#                            test suite needs pixels: the OCR tests run, they are not skipped)
#   VEIL_SETUP_FORCE=1       re-run pip even when nothing changed
#   PYTHON=python3.12        interpreter used to create .venv (default: python3)
#
# Output is kept in a log and shown only when a step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

EXTRAS="${VEIL_EXTRAS:-test,pixels}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.veil-setup-stamp"
LOG="$(mktemp "${TMPDIR:-/tmp}/veil-setup.XXXXXX")"
trap 'rm -f "$LOG"' EXIT

say() { printf 'setup: %s\n' "$*"; }

# Run a command with its output captured; on failure show the output and stop.
quiet() {
    local what="$1"
    shift
    if ! "$@" >"$LOG" 2>&1 </dev/null; then
        say "FAILED: $what" >&2
        say "command: $*" >&2
        tail -n 60 "$LOG" >&2
        exit 1
    fi
}

# --- 1. Debian packages -----------------------------------------------------------------------
missing=()
if [[ -f scripts/apt-packages.txt ]]; then
    while IFS= read -r line || [[ -n "$line" ]]; do
        pkg="${line%%#*}"
        pkg="${pkg//[[:space:]]/}"
        [[ -z "$pkg" ]] && continue
        status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == ii* ]] || missing+=("$pkg")
    done <scripts/apt-packages.txt
fi

if ((${#missing[@]})); then
    SUDO=()
    if [[ "$(id -u)" != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo -n)
        else
            say "need root (or sudo) to install Debian packages: ${missing[*]}" >&2
            exit 1
        fi
    fi
    say "installing Debian packages: ${missing[*]}"
    quiet "apt-get update" "${SUDO[@]}" apt-get update -q
    quiet "apt-get install ${missing[*]}" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- 2. virtual environment -------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        say "$PYTHON not found; add python3 to scripts/apt-packages.txt or set PYTHON" >&2
        exit 1
    fi
    say "creating .venv with $("$PYTHON" --version 2>&1)"
    rm -f "$STAMP"
    quiet "create .venv" "$PYTHON" -m venv "$VENV"
fi

# --- 3. python packages -----------------------------------------------------------------------
want="$(
    {
        echo "extras=$EXTRAS"
        # setup.py and every C source: an edited extension is built again (pip install -e),
        # a new one too. Listing one file by name here left a stale .so when another changed.
        find src -name '*.[ch]' -type f | LC_ALL=C sort | xargs sha256sum pyproject.toml setup.py
    } | sha256sum | cut -d' ' -f1
)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "${VEIL_SETUP_FORCE:-0}" == 1 || "$want" != "$have" ]] \
    || ! "$VENV/bin/python" -c 'import veil' >/dev/null 2>&1; then
    say "installing veil and its '$EXTRAS' dependencies into .venv"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    quiet "upgrade pip" "$VENV/bin/python" -m pip install -q --upgrade "pip>=23.1"
    # The extensions are optional (setup.py): a C source that no longer compiles is skipped
    # without an error, and the module built before would be imported as if it were current.
    # Removed first, so such a build leaves the pure-Python route in use, and says so below.
    sources="$(find src -name '*.c' -type f | LC_ALL=C sort)"
    for source in $sources; do
        rm -f "${source%.c}".*.so
    done
    quiet "pip install -e .[$EXTRAS]" "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
    for source in $sources; do
        compgen -G "${source%.c}.*.so" >/dev/null \
            || say "note: ${source#src/} was not compiled; its pure-Python route is used"
    done
    echo "$want" >"$STAMP"
fi
# --- 4. bytecode --------------------------------------------------------------------------------
# An editable install leaves compiling to the first import, and where PYTHONDONTWRITEBYTECODE=1
# is set (this environment) every `veil` run compiled its ~230 modules again: 0.10-0.15 s before
# the first file (issue 12). An installed veil has .pyc files; so does this checkout. Python
# checks each .pyc against its source, so an edited module is never run stale.
quiet "byte-compile src" "$VENV/bin/python" -m compileall -q src

say "ready ($("$VENV/bin/python" --version 2>&1), .venv at $VENV)"
