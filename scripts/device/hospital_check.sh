#!/usr/bin/env bash
# GPU check of the hospital-data path (issue 6) on a lent GPU machine: a site folder of freehand PLUS sequences
# (simulated here, int16, 2048 x 128, 10 frames each) -> scripts/infer.py with automatic frame pairs, MUSSE-Net +
# instance optimisation on CUDA, NIfTI + DICOM export. Wheels the machine lacks travel in .whl (py3.12).
set -u
OUT=${OUT:-/tmp/device-out}; PY=${PY:-python3}; N_REC=${N_REC:-4}; STEPS=${STEPS:-0 100}; SITE=/tmp/site_rf
mkdir -p "$OUT"; export OUT
[ "${SKIP_WHEELS:-0}" = 1 ] || $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl 2>&1 | tail -2
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
$PY - <<PY 2>&1 | tee -a "$OUT/gpu.txt"
import json, pathlib, time
import numpy as np, torch
from bundle.acquisition import Acquisition
from bundle.io.metaimage import write_metaimage
from bundle.simulation import Inclusion, PhantomConfig, simulate_sequence
print("torch", torch.__version__, "cuda", torch.cuda.is_available())
site = pathlib.Path("$SITE"); site.mkdir(parents=True, exist_ok=True)
acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
start = time.perf_counter()
for k in range($N_REC):
    levels = tuple(0.003 * j for j in range(1, 10))
    seq = simulate_sequence(PhantomConfig(shape=(2048, 128), acquisition=acq), Inclusion((20.0, 19.0), 4.0, 3.0), levels, seed=k)
    rf = np.round(seq.rf / np.abs(seq.rf).max() * 20000).astype(np.int16)
    write_metaimage(site / f"rec{k}.mha", rf, fields={"UltrasoundImageOrientation": "MF", "UltrasoundImageType": "RF_REAL"},
                    frame_fields={j: {"Timestamp": f"{0.05 * j:.2f}"} for j in range(rf.shape[0])})
    (site / f"rec{k}.json").write_text(json.dumps({"acquisition": {"sampling_frequency_mhz": 40, "center_frequency_mhz": 5, "line_pitch_mm": 0.3}}))
print(f"simulated {$N_REC} recordings in {time.perf_counter() - start:.1f} s")
PY
rm -rf /tmp/out_*
for steps in $STEPS; do
  ( time $PY scripts/infer.py $SITE --output /tmp/out_$steps --dicom --no-progress --instance-steps $steps ) > "$OUT/infer_$steps.log" 2>&1
  echo "instance steps $steps: exit $?"; tail -4 "$OUT/infer_$steps.log"
  cp /tmp/out_$steps/summary.json "$OUT/summary_$steps.json"
done
STEPS="$STEPS" $PY - <<'PY' | tee "$OUT/result.txt"
import json, os
for steps in os.environ["STEPS"].split():
    s = json.load(open(f"{os.environ['OUT']}/summary_{steps}.json"))
    pairs = sum(len(c["pairs"]) for c in s["succeeded"])
    sec = sum(c["seconds_per_pair"] * len(c["pairs"]) for c in s["succeeded"]) / max(pairs, 1)
    print(f"{s['estimator']}: {len(s['succeeded'])} done, {len(s['failed'])} failed, {pairs} pairs, {sec:.3f} s/pair estimation")
PY
