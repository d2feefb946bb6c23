#!/usr/bin/env bash
# Huiying benchmark: runs the shared performance-anchor harness (../shared/bench/run_peer.sh)
# against our server AND against Orthanc 1.10 in the same run, on the same dataset, then
# writes the comparison into docs/benchmarks.md (between the bench:begin/end markers).
#
#   bench/run.sh                      # both targets, small dataset, 3 reps
#   bench/run.sh --only orthanc       # just the Orthanc anchor (works before our server does)
#   bench/run.sh --only huiying --reps 1
#   FULL=1 bench/run.sh               # the anchor's full dataset (1.8 GB, as in RESULTS.md)
#
# Options: --only huiying|orthanc, --reps N [3], --no-netns, --no-docs (do not touch docs/),
#          any other option is passed to run_peer.sh (e.g. --skip stow,wado  --n 50).
# Environment:
#   SHARED_BENCH  harness folder [<repo>/../shared/bench]
#   BENCH_TMP     dataset, state and results [/var/tmp/huiying-bench]
#   GEN_ARGS      gen_dataset.py arguments [--patients 12 --filler 500]; FULL=1 uses the defaults
#   HUIYING_DICOM_PORT [11112]  HUIYING_HTTP_PORT [8080]  HUIYING_AE_TITLE [HUIYING]
#   HUIYING_WEB_PATH   DICOMweb root of our server [/dicomweb]
#   ORTHANC_VARIANT    sqlite|pg [sqlite]
# Not a test: it takes minutes and needs 2 free cores to mean anything.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cd "$REPO"
SHARED_BENCH="${SHARED_BENCH:-../shared/bench}"
export BENCH_TMP="${BENCH_TMP:-/var/tmp/huiying-bench}"
export HUIYING_DICOM_PORT="${HUIYING_DICOM_PORT:-11112}"
export HUIYING_HTTP_PORT="${HUIYING_HTTP_PORT:-8080}"
export HUIYING_AE_TITLE="${HUIYING_AE_TITLE:-HUIYING}"
HUIYING_WEB_PATH="${HUIYING_WEB_PATH:-/dicomweb}"
ORTHANC_VARIANT="${ORTHANC_VARIANT:-sqlite}"
if [ "${FULL:-0}" = 1 ]; then GEN_ARGS="${GEN_ARGS:-}"; else GEN_ARGS="${GEN_ARGS:---patients 12 --filler 500}"; fi
export GEN_ARGS

ONLY="" REPS=3 NETNS=(--netns) DOCS=1 PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --no-netns) NETNS=(); shift ;;
    --no-docs) DOCS=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
case "$ONLY" in ""|huiying|orthanc) ;; *) echo "--only huiying|orthanc" >&2; exit 2 ;; esac

[ -x "$SHARED_BENCH/run_peer.sh" ] || { echo "harness not found: $SHARED_BENCH/run_peer.sh (set SHARED_BENCH)" >&2; exit 2; }
missing=()
for c in storescu storescp echoscu findscu movescu getscu curl iperf3 nc gdcmconv jq Orthanc unshare; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
/usr/bin/python3 -c 'import pydicom, numpy' 2>/dev/null || missing+=("python3-pydicom/python3-numpy")
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}" >&2
  echo "apt-get install -y --no-install-recommends $(cat "$HERE/apt-packages.txt" | tr '\n' ' ')" >&2
  exit 2
fi
# Orthanc's Debian service would hold 4242/8042 (the anchor's ports).
if [ "$ONLY" != huiying ] && [ -s /var/run/orthanc/orthanc.pid ] && kill -0 "$(cat /var/run/orthanc/orthanc.pid)" 2>/dev/null; then
  echo "stopping the Debian orthanc service (it holds the anchor's ports)" >&2
  service orthanc stop >/dev/null 2>&1 || true
fi

STAMP="$(date +%Y%m%d-%H%M%S)"
mkdir -p "$BENCH_TMP/results"
HUIYING_OUT="$BENCH_TMP/results/huiying-$STAMP"
ORTHANC_OUT="$BENCH_TMP/results/orthanc110-$ORTHANC_VARIANT-$STAMP"
HUIYING_CMD=("$SHARED_BENCH/run_peer.sh" --name huiying "${NETNS[@]}" --reps "$REPS"
  --dimse "127.0.0.1:$HUIYING_DICOM_PORT:$HUIYING_AE_TITLE" --web "http://127.0.0.1:$HUIYING_HTTP_PORT$HUIYING_WEB_PATH"
  --reset-cmd "bench/huiying-ctl.sh reset" --stop-cmd "bench/huiying-ctl.sh stop" --out "$HUIYING_OUT" "${PASS[@]}")
ORTHANC_CMD=("$SHARED_BENCH/run_peer.sh" --name "orthanc110-$ORTHANC_VARIANT" "${NETNS[@]}" --reps "$REPS"
  --reset-cmd "VARIANT=$ORTHANC_VARIANT $SHARED_BENCH/orthanc/orthanc_ctl.sh reset"
  --stop-cmd "VARIANT=$ORTHANC_VARIANT $SHARED_BENCH/orthanc/orthanc_ctl.sh stop" --out "$ORTHANC_OUT" "${PASS[@]}")

t_start=$(date +%s)
rc_h=skipped rc_o=skipped
if [ "$ONLY" != orthanc ]; then
  echo "=== Huiying: GEN_ARGS='$GEN_ARGS' ${HUIYING_CMD[*]}" >&2
  set +e; (cd "$REPO" && "${HUIYING_CMD[@]}"); rc_h=$?; set -e
  echo "=== Huiying: exit $rc_h, results in $HUIYING_OUT" >&2
fi
if [ "$ONLY" != huiying ]; then
  echo "=== Orthanc: GEN_ARGS='$GEN_ARGS' ${ORTHANC_CMD[*]}" >&2
  set +e; (cd "$REPO" && "${ORTHANC_CMD[@]}"); rc_o=$?; set -e
  echo "=== Orthanc: exit $rc_o, results in $ORTHANC_OUT" >&2
fi
elapsed=$(( $(date +%s) - t_start ))

args=(--huiying "$HUIYING_OUT" --orthanc "$ORTHANC_OUT" --orthanc-label "Orthanc 1.10 ($ORTHANC_VARIANT)"
  --gen-args "$GEN_ARGS" --reps "$REPS" --elapsed "$elapsed"
  --huiying-cmd "${HUIYING_CMD[*]}" --orthanc-cmd "${ORTHANC_CMD[*]}" --rc "huiying=$rc_h,orthanc=$rc_o")
/usr/bin/python3 "$HERE/report.py" "${args[@]}" > "$BENCH_TMP/results/report-$STAMP.md"
cat "$BENCH_TMP/results/report-$STAMP.md"
if [ "$DOCS" = 1 ]; then
  /usr/bin/python3 "$HERE/report.py" --splice docs/benchmarks.md --from "$BENCH_TMP/results/report-$STAMP.md"
  echo "docs/benchmarks.md updated" >&2
fi
[ "$rc_h" = 0 ] || [ "$rc_h" = skipped ] || exit 1
[ "$rc_o" = 0 ] || [ "$rc_o" = skipped ] || exit 1
