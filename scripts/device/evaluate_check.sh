#!/usr/bin/env bash
# On a lent GPU machine (see device_check.sh for the set-up): the CUDA tests in full, then configs/evaluate.json
# with the estimators of CANDIDATES (default scripts/device/evaluate_candidates.json: ncc on the CPU, the
# networks with and without instance optimisation on the GPU) on the simulated test split. The candidates need
# the .devcarry/ checkpoints named in that file (see its "description"), carried to the machine with .whl/.
set -u
N_SEQ=${N_SEQ:-200}; WORKERS=${WORKERS:-16}; OUT=${OUT:-/tmp/device-out}; DATA=/tmp/gpu-data; PY=${PY:-python3}
CANDIDATES=${CANDIDATES:-scripts/device/evaluate_candidates.json}; EVAL_EXTRA=${EVAL_EXTRA:-}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
( $PY scripts/simulate.py --output $DATA --num-sequences $N_SEQ --seed 0 --workers $WORKERS --no-progress --overwrite \
    > "$OUT/simulate.log" 2>&1 ) &
sim=$!
$PY -m pytest -q -p no:cacheprovider -rA tests/networks/test_cuda.py 2>&1 | tee "$OUT/pytest_cuda.txt" | tail -40
wait $sim
( time $PY -m monai.bundle run --config_file "['configs/evaluate.json','$CANDIDATES']" --dataset_dir $DATA \
    --output_dir /tmp/gpu-eval --overwrite true --figures False $EVAL_EXTRA ) > "$OUT/evaluate.log" 2>&1
tail -12 "$OUT/evaluate.log"
cp /tmp/gpu-eval/per_frame.csv "$OUT/per_frame.csv"
