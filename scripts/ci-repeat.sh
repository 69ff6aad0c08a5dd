#!/usr/bin/env bash
# Runs .ci/run from a fresh clone of one commit N times in a row and stops at the first failure:
# the evidence that CI is not flaky (run it beside other work, or two copies at once, to have
# it under load).
#
#   scripts/ci-repeat.sh [-n N] [-c COMMIT] [-o DIR]
#
#   -n N       runs (default 10)
#   -c COMMIT  commit to test (default HEAD of this checkout)
#   -o DIR     where each run's log and summary.txt go (default a new directory under /tmp)
#
# summary.txt gets one line per run: its number, exit status, seconds, the load average at its
# end and pytest's result lines. Exit status: 0 if every run passed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=10
commit=$(git -C "$repo" rev-parse HEAD)
out=""
while getopts "n:c:o:h" opt; do
    case $opt in
    n) runs=$OPTARG ;;
    c) commit=$(git -C "$repo" rev-parse "$OPTARG") ;;
    o) out=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
    esac
done
out=${out:-$(mktemp -d /tmp/ci-repeat.XXXXXX)}
mkdir -p "$out"
echo "ci-repeat: $runs runs of ${commit:0:12}, logs in $out"
for i in $(seq 1 "$runs"); do
    clone=$(mktemp -d /tmp/ci-repeat-clone.XXXXXX)
    git clone -q "$repo" "$clone"
    git -C "$clone" checkout -q "$commit"
    started=$SECONDS
    status=0
    (cd "$clone" && bash .ci/run) >"$out/run$i.log" 2>&1 || status=$?
    results=$(grep -E '[0-9]+ passed' "$out/run$i.log" | sed 's/=//g' | tr -s ' ' | tr '\n' ';' || true)
    line="run $i/$runs ${commit:0:12} exit=$status $((SECONDS - started))s load=$(cut -d' ' -f1-3 /proc/loadavg) $results"
    echo "$line" | tee -a "$out/summary.txt"
    rm -rf "$clone"
    if [ "$status" -ne 0 ]; then
        echo "ci-repeat: run $i failed, see $out/run$i.log" >&2
        exit 1
    fi
done
echo "ci-repeat: $runs of $runs passed"
