#!/usr/bin/env bash
# Peak memory of the archive while it receives one ~500 MB multi-frame instance over C-STORE.
# Target (issue): Huiying's peak RSS <= 200 MB.
#
#   bench/big-instance.sh                    # Huiying, started fresh by bench/huiying-ctl.sh reset
#   bench/big-instance.sh --target orthanc   # the same against the Orthanc 1.10 anchor, for comparison
#   bench/big-instance.sh --no-start --pid PID --port 11112 --aet HUIYING   # an already running server
#
# Prints the file size, the transfer time, and the server's VmHWM (peak RSS) before and after the
# transfer plus the highest VmRSS sampled every 20 ms during it (all from /proc/<pid>/status), and
# the same summed over the server's child processes if it has any. Last line: `peak_rss_mb=N`.
# Environment: BENCH_TMP [/var/tmp/huiying-bench], BIG_MB [500], SHARED_BENCH [<repo>/../shared/bench].
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
SHARED_BENCH="${SHARED_BENCH:-$REPO/../shared/bench}"
export BENCH_TMP="${BENCH_TMP:-/var/tmp/huiying-bench}"
export TCP_NODELAY="${TCP_NODELAY:-1}"
BIG_MB="${BIG_MB:-500}"
TARGET=huiying START=1 PID="" PORT="" AET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    --no-start) START=0; shift ;;
    --pid) PID="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --aet) AET="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------------------- the instance --
BIG="$BENCH_TMP/big/multiframe-${BIG_MB}MB.dcm"
if [ ! -s "$BIG" ]; then
  mkdir -p "$(dirname "$BIG")"
  echo "generating $BIG" >&2
  /usr/bin/python3 - "$BIG" "$BIG_MB" <<'EOF'
import sys
import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
path, mb = sys.argv[1], int(sys.argv[2])
rows = cols = 512
frames = max(1, mb * 1000 * 1000 // (rows * cols * 2))
sop_class = "1.2.840.10008.5.1.4.1.1.7.3"   # Multi-frame Grayscale Word Secondary Capture
root = "1.2.826.0.1.3680043.10.1419.77"
meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = sop_class
meta.MediaStorageSOPInstanceUID = root + ".3.%d" % mb
meta.TransferSyntaxUID = ExplicitVRLittleEndian
meta.ImplementationClassUID = root + ".1"
ds = FileDataset(path, Dataset(), file_meta=meta, preamble=b"\0" * 128)
ds.SOPClassUID = sop_class
ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
ds.StudyInstanceUID = root + ".1.%d" % mb
ds.SeriesInstanceUID = root + ".2.%d" % mb
ds.PatientID = "BIGMF%d" % mb
ds.PatientName = "Big^Multiframe"
ds.StudyDate = "20240101"
ds.Modality = "OT"
ds.ConversionType = "WSD"
ds.InstanceNumber = 1
ds.SamplesPerPixel = 1
ds.PhotometricInterpretation = "MONOCHROME2"
ds.NumberOfFrames = frames
ds.Rows, ds.Columns = rows, cols
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
rng = np.random.default_rng(20240101)
frame = rng.integers(0, 4096, size=(rows, cols), dtype=np.uint16)
ds.PixelData = np.tile(frame.reshape(1, rows, cols), (frames, 1, 1)).tobytes()
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.save_as(path, write_like_original=False)
print("%d frames of %dx%d" % (frames, rows, cols), file=sys.stderr)
EOF
fi
SIZE=$(stat -c %s "$BIG")

# ------------------------------------------------------------------------------ the target --
case "$TARGET" in
  huiying)
    PORT="${PORT:-${HUIYING_DICOM_PORT:-11112}}"; AET="${AET:-${HUIYING_AE_TITLE:-HUIYING}}"
    if [ "$START" = 1 ]; then
      HUIYING_DICOM_PORT="$PORT" HUIYING_AE_TITLE="$AET" "$HERE/huiying-ctl.sh" reset
      trap '"$HERE/huiying-ctl.sh" stop' EXIT
    fi
    PID="${PID:-$("$HERE/huiying-ctl.sh" pid)}"
    ;;
  orthanc)
    PORT="${PORT:-4242}"; AET="${AET:-ORTHANC}"
    if [ "$START" = 1 ]; then
      VARIANT=sqlite "$SHARED_BENCH/orthanc/orthanc_ctl.sh" reset
      trap 'VARIANT=sqlite "$SHARED_BENCH/orthanc/orthanc_ctl.sh" stop' EXIT
    fi
    PID="${PID:-$(cat "$BENCH_TMP/orthanc-sqlite/orthanc.pid")}"
    ;;
  *) echo "--target huiying|orthanc" >&2; exit 2 ;;
esac
kill -0 "$PID" 2>/dev/null || { echo "server pid $PID not running" >&2; exit 1; }

kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
tree_pids() {  # the pid and its descendants
  local p="$1" c
  echo "$p"
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}
tree_rss() { local s=0 p; for p in $(tree_pids "$1"); do s=$((s + $(kb "$p" VmRSS))); done; echo "$s"; }

HWM0=$(kb "$PID" VmHWM); RSS0=$(kb "$PID" VmRSS)
SAMPLES="$(mktemp)"
( while kill -0 "$PID" 2>/dev/null; do echo "$(kb "$PID" VmRSS) $(tree_rss "$PID")"; sleep 0.02; done ) >"$SAMPLES" &
SAMPLER=$!
t0=$(date +%s.%N)
set +e
timeout 600 storescu -aet STORESCU -aec "$AET" -to 30 -ts 600 -nh 127.0.0.1 "$PORT" "$BIG"
rc=$?
set -e
t1=$(date +%s.%N)
sleep 0.5   # let the server finish writing / indexing
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
HWM1=$(kb "$PID" VmHWM); RSS1=$(kb "$PID" VmRSS)
MAXRSS=$(awk 'BEGIN{m=0} $1>m{m=$1} END{print m}' "$SAMPLES")
MAXTREE=$(awk 'BEGIN{m=0} $2>m{m=$2} END{print m}' "$SAMPLES")
rm -f "$SAMPLES"
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
echo "target: $TARGET pid $PID ($AET @ 127.0.0.1:$PORT)"
echo "instance: $BIG ($SIZE bytes)"
echo "storescu exit: $rc; transfer: $(awk -v a="$t0" -v b="$t1" -v s="$SIZE" 'BEGIN{printf "%.2f s, %.1f MB/s", b-a, s/(b-a)/1e6}')"
echo "VmRSS before: $(mb "$RSS0") MB, after: $(mb "$RSS1") MB"
echo "VmHWM before: $(mb "$HWM0") MB, after: $(mb "$HWM1") MB"
echo "max sampled VmRSS: $(mb "$MAXRSS") MB (with child processes: $(mb "$MAXTREE") MB)"
echo "peak_rss_mb=$(mb "$HWM1")"
[ "$rc" = 0 ]
