#!/usr/bin/env bash
# Run the test suite on every CPython 3.10-3.13 that pyenv has (or that PYTHONS lists),
# each in a fresh virtualenv with the package built and installed from this checkout.
# Usage: scripts/test-pythons.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
if [ -z "${PYTHONS:-}" ]; then
    PYTHONS=""
    for minor in 10 11 12 13; do
        found=$(ls -d "$root"/versions/3."$minor".* 2>/dev/null | grep -v -- '-' | sort -V | tail -n 1 || true)
        [ -n "$found" ] && PYTHONS="$PYTHONS $found/bin/python"
    done
fi
status=0
summary=""
for python in $PYTHONS; do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    work=$(mktemp -d)
    echo "=== CPython $version ($python)"
    if "$python" -m venv "$work/venv" \
        && "$work/venv/bin/python" -m pip install --quiet --upgrade pip \
        && "$work/venv/bin/python" -m pip install --quiet '.[test]' \
        && "$work/venv/bin/python" -m pytest -q -p no:cacheprovider --require-compiled -m 'not slow' "$@"; then
        summary="$summary\n  $version: passed"
    else
        summary="$summary\n  $version: FAILED"
        status=1
    fi
    rm -rf "$work"
done
printf "Python versions:%b\n" "$summary"
exit $status
