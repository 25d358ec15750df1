#!/usr/bin/env bash
# The GPU check of this bundle, run on a lent GPU machine (python3 with CUDA torch; monai, ignite, nibabel and
# fire carried as wheels in .whl): CUDA tests, simulation, two AMP trainings side by side on one GPU (stage one
# fine-tuned with one and with two passes, configs/train_gpu.json), NCC on the CPU meanwhile, then the evaluation
# of the shipped and the new weights on the GPU. Sizes: N_SEQ, EPOCHS, TRAIN_SECONDS, WORKERS; results in OUT.
set -u
N_SEQ=${N_SEQ:-200}; EPOCHS=${EPOCHS:-40}; VAL_INTERVAL=${VAL_INTERVAL:-4}; TRAIN_SECONDS=${TRAIN_SECONDS:-240}
WORKERS=${WORKERS:-16}; OUT=${OUT:-/tmp/device-out}; RUNS=/tmp/gpu-runs; DATA=/tmp/gpu-data; LOG=$RUNS/logs
PY=${PY:-python3}; EXTRA=${EXTRA:-}  # EXTRA: more training overrides (e.g. a CPU try-out)
mkdir -p "$OUT" "$LOG"  # OUT takes at most 8 files: logs go to LOG, packed at the end
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$LOG/gpu.txt"
$PY -c "import torch, monai, ignite; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'monai', monai.__version__, 'ignite', ignite.__version__)" | tee -a "$LOG/gpu.txt"

( time $PY scripts/simulate.py --output $DATA --num-sequences $N_SEQ --seed 0 --workers $WORKERS --no-progress --overwrite ) > "$LOG/simulate.log" 2>&1 &
sim=$!
$PY -m pytest -q -p no:cacheprovider tests/networks/test_cuda.py 2>&1 | tail -5 | tee "$LOG/pytest_cuda.txt"
wait $sim; tail -3 "$LOG/simulate.log"

train() {  # name, extra config files
    local name=$1; shift
    local configs="'configs/train.json','configs/train_gpu.json'"
    for c in "$@"; do configs="$configs,'$c'"; done
    ( time OMP_NUM_THREADS=4 timeout "$TRAIN_SECONDS" $PY -m monai.bundle run --config_file "[$configs]" --dataset_dir $DATA \
        --output_dir $RUNS/$name --epochs $EPOCHS --val_interval $VAL_INTERVAL --num_val_cases 6 --learning_rate 0.0005 \
        --pretrained_checkpoint models/model.pt --pretrained_prefix stage_one. $EXTRA ) > "$LOG/train_$name.log" 2>&1
}
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv -l 20 > "$LOG/gpu_use.txt" 2>&1 &
smi=$!
train one-pass & t1=$!
train two-pass configs/train_two_pass.json & t2=$!
$PY scripts/evaluate.py --datalist $DATA/datalist.json --split test --estimators ncc --no-figures --no-progress \
    --output $RUNS/eval-ncc > "$LOG/eval_ncc.log" 2>&1
wait $t1 $t2; kill $smi
for n in one-pass two-pass; do
    grep -E "Epoch\[[0-9]+\] Complete|val_strain_nrmse|Key metric|real" "$LOG/train_$n.log" | tail -30
    cp $RUNS/$n/checkpoints/model.pt "$OUT/model_$n.pt" 2>/dev/null
done
$PY -m monai.bundle run --config_file "['configs/evaluate.json','scripts/device/evaluate_gpu_runs.json']" \
    --dataset_dir $DATA --output_dir $RUNS/eval-nets --overwrite true > "$LOG/eval_nets.log" 2>&1
tail -12 "$LOG/eval_ncc.log"; tail -12 "$LOG/eval_nets.log"
cp $RUNS/eval-ncc/per_frame.csv "$OUT/per_frame_ncc.csv"; cp $RUNS/eval-nets/per_frame.csv "$OUT/per_frame_nets.csv"
tar -czf "$OUT/logs.tgz" -C $RUNS logs
