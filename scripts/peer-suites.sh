#!/usr/bin/env bash
# Runs the test suites of the two peer projects, aiofile 3.12.3 and caio 0.12.10, against this
# package, to measure how much of them a drop-in switch keeps working.
#
#   scripts/peer-suites.sh [--venv DIR] [--no-install] [--keep] [--only aiofile|caio] [-- PYTEST_ARGS]
#
# What it does, in a temporary directory (removed at exit unless --keep):
#   1. `pip download --no-deps --no-binary :all:` the two sdists (needs the package registry);
#   2. takes only their tests/ (nothing else of theirs is used, nothing is written to the repo);
#   3. rewrites the name caio to _linuxaio everywhere in those files: imports, "caio.X" module
#      names, and the code strings the tests run in subprocesses;
#   4. installs this repository (a regular, non-editable install, so a test that writes into the
#      package directory cannot touch the checkout) with pytest and aiomisc-pytest, which both
#      suites use, into a throwaway virtualenv (--venv DIR keeps and reuses one; with
#      --no-install the packages already in it are used as they are);
#   5. runs each suite with its own rootdir and prints passed/failed/skipped/errors per suite and
#      per file, then every failing test with the first line of its error.
# "Run here" means passed + failed + errors: skipped tests (free-threading-only, Windows-only,
# a backend missing on this host) do not count either way.
# Exit status: 0 when both suites ran (whatever their results), non-zero if a step broke.
# Not part of .ci/run, since it needs the registry.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
venv= keep=0 install=1 only=
pytest_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --venv) venv=$2; shift 2 ;;
        --no-install) install=0; shift ;;
        --keep) keep=1; shift ;;
        --only) only=$2; shift 2 ;;
        --) shift; pytest_args=("$@"); break ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "peer-suites: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

work=$(mktemp -d -t peer-suites.XXXXXX)
if [ "$keep" = 1 ]; then
    echo "peer-suites: keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi

peers=("aiofile==3.12.3" "caio==0.12.10")

echo "+ pip download --no-deps --no-binary :all: ${peers[*]}"
quiet_pip() { "$@" 2> >(grep -v "^WARNING: Location .* is ignored" >&2); }
quiet_pip "$python" -m pip download --quiet --no-deps --no-binary :all: -d "$work/sdist" "${peers[@]}"

# Unpack tests/ only, then rename caio -> _linuxaio in them.
"$python" - "$work" <<'PY'
import pathlib, re, sys, tarfile

work = pathlib.Path(sys.argv[1])
word = re.compile(r"\bcaio\b")
for sdist in sorted((work / "sdist").glob("*.tar.gz")):
    project = sdist.name.split("-")[0]
    dest = work / "suites" / project
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = pathlib.PurePosixPath(member.name).parts
            if len(parts) < 3 or parts[1] != "tests" or not member.isfile():
                continue
            target = dest.joinpath(*parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(member).read()
            if target.suffix == ".py":
                data = word.sub("_linuxaio", data.decode()).encode()
            target.write_bytes(data)
    # An empty ini makes this directory the rootdir: no configuration of ours or theirs applies.
    (dest / "pytest.ini").write_text("[pytest]\n")
    print(f"peer-suites: {project}: {sum(1 for _ in dest.rglob('test_*.py'))} test files")
PY

if [ -z "$venv" ]; then
    venv=$work/venv
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    install=1
fi
if [ "$install" = 1 ]; then
    echo "+ pip install pytest aiomisc-pytest $root"
    quiet_pip "$venv/bin/python" -m pip install --quiet --upgrade pip
    quiet_pip "$venv/bin/python" -m pip install --quiet pytest aiomisc-pytest
    quiet_pip "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$root"
fi

status=0
for suite in aiofile caio; do
    if [ -n "$only" ] && [ "$only" != "$suite" ]; then
        continue
    fi
    dir=$work/suites/$suite
    echo
    echo "+ ($dir) python -m pytest -p no:cacheprovider tests ${pytest_args[*]}"
    # The suites' own exit status is reported through the summary, not the script's.
    # --tb=native: pytest's own traceback formatting re-parses source with ast, which
    # CPython 3.11.7 can fail on ("AST constructor recursion depth mismatch"), ending the run.
    (cd "$dir" && "$venv/bin/python" -m pytest -p no:cacheprovider -q --tb=native -o junit_family=xunit1 \
        --junitxml="$work/$suite.xml" tests "${pytest_args[@]}" >"$work/$suite.log" 2>&1) || true
    tail -n 3 "$work/$suite.log"
    [ -s "$work/$suite.xml" ] || { echo "peer-suites: $suite did not run:"; tail -n 40 "$work/$suite.log"; status=1; }
done

echo
"$python" - "$work" <<'PY'
import collections, pathlib, sys, xml.etree.ElementTree as ET

work = pathlib.Path(sys.argv[1])
kinds = ("passed", "failed", "errors", "skipped")
for suite, version in (("aiofile", "3.12.3"), ("caio", "0.12.10")):
    report = work / f"{suite}.xml"
    if not report.exists():
        continue
    per_file = collections.defaultdict(collections.Counter)
    failures = []
    for case in ET.parse(report).iter("testcase"):
        path = case.get("file") or case.get("classname", "?").replace(".", "/") + ".py"
        outcome = "passed"
        for child in case:
            if child.tag == "failure":
                outcome = "failed"
            elif child.tag == "error":
                outcome = "errors"
            elif child.tag == "skipped":
                outcome = "skipped" if outcome == "passed" else outcome
            if child.tag in ("failure", "error"):
                message = (child.get("message") or child.text or "").strip().splitlines()
                failures.append((f"{path}::{case.get('name')}", child.tag, message[0][:160] if message else ""))
        per_file[path][outcome] += 1
    total = sum(per_file.values(), collections.Counter())
    ran = total["passed"] + total["failed"] + total["errors"]
    share = 100.0 * total["passed"] / ran if ran else 0.0
    print(f"== {suite} {version} suite: " + ", ".join(f"{total[k]} {k}" for k in kinds)
          + f"; passed {total['passed']}/{ran} of the tests run here = {share:.1f}%")
    for path in sorted(per_file):
        counts = per_file[path]
        print(f"   {path:45s}" + "".join(f" {counts[k]:4d} {k}" for k in kinds))
    for nodeid, kind, message in failures:
        print(f"   {'FAIL' if kind == 'failure' else 'ERROR'} {nodeid}: {message}")
    print()
PY
exit $status
