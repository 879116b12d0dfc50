#!/usr/bin/env bash
# The GPU figures of docs/performance.md, on a CUDA machine, in one place: `bash bench/gpu_run.sh STEP [DEVICE]`
# from the repo root, with seqclean's dependencies and `onnxruntime-gpu` importable (PYTHONPATH may point at a
# --target install) and `.data/ml-100k` made by `python -m bench.data`. Each step prints its commands; results go
# to stdout and, with OUT set, to $OUT/STEP.log. DEVICE is cuda (default) or cpu (the same run on the CPU, to check
# the script on a machine without a GPU, and the CPU side of the agreement check).
#   check     the GPU, torch's CUDA and ONNX Runtime's providers
#   test      pytest -m gpu (the CUDA text encoder gives the CPU's vectors)
#   encode    bench/encode.py: sentence-transformers (torch) vs ONNX fp32 / int8 / fp16 on DEVICE
#   backbone  bench/backbone_ml100k.py: SASRec on ML-100K, training seconds per epoch and test NDCG@10
#   pipeline  embed + score ML-100K with 10% uniform noise on DEVICE, score again on the CPU from the same embedding,
#             and compare the two score files row by row (bench/score_agreement.py), plus a rerun on DEVICE
#   speed     bench/score_speed.py on that workdir, DEVICE and CPU
set -uo pipefail
step=${1:?step}
dev=${2:-cuda}
py=${PYTHON:-python3}
W=${GPU_WORK:-/tmp/seqclean-gpu}
mkdir -p "$W"
log() { if [ -n "${OUT:-}" ]; then tee -a "$OUT/$step.log"; else cat; fi; }
run() { echo "+ $*"; "$@"; }
seqclean() { $py -m seqclean.cli "$@"; }
ml=.data/ml-100k
{
case $step in
check)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  $py - <<'EOF'
import sys, torch, onnxruntime as ort, polars, numpy
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
print("onnxruntime", ort.__version__, ort.get_available_providers(), "polars", polars.__version__, "numpy", numpy.__version__)
EOF
  ;;
test)
  run $py -m pytest -m gpu -p no:cacheprovider -q tests/test_encoder.py
  ;;
encode)
  run $py bench/encode.py --device "$dev" --threads 8 --n 20000 --batch-size 256 --rounds 3 --ml100k $ml \
    $([ "$dev" = cuda ] && echo --fp16)
  ;;
backbone)
  run $py -m bench.backbone_ml100k --device "$dev" --data-dir $ml
  ;;
pipeline)
  run $py -m bench.plant_noise --interactions $ml/interactions.parquet --out "$W/noisy" --rate 0.1 --seed 7
  rm -rf "$W/wd-$dev" "$W/wd-cpu-from-$dev"
  run seqclean embed --interactions "$W/noisy/interactions.parquet" --items $ml/items.parquet --workdir "$W/wd-$dev" \
    --text-cols title,genres --device "$dev" --log-format json -q
  cp -r "$W/wd-$dev" "$W/wd-cpu-from-$dev"
  run seqclean score --workdir "$W/wd-$dev" --device "$dev" --log-format json -q
  cp "$W/wd-$dev/scores.parquet" "$W/scores-$dev-1.parquet"
  run seqclean score --workdir "$W/wd-$dev" --device "$dev" --rerun --log-format json -q
  run seqclean score --workdir "$W/wd-cpu-from-$dev" --device cpu --log-format json -q
  run $py -m bench.score_agreement --a "$W/scores-$dev-1.parquet" --b "$W/wd-$dev/scores.parquet" \
    --labels "$W/noisy/noise_labels.parquet" --names "$dev,$dev rerun"
  run $py -m bench.score_agreement --a "$W/wd-$dev/scores.parquet" --b "$W/wd-cpu-from-$dev/scores.parquet" \
    --labels "$W/noisy/noise_labels.parquet" --names "$dev,cpu"
  ;;
speed)
  for d in "$dev" cpu; do
    run $py -m bench.score_speed --workdir "$W/wd-$dev" --users 943 --fit-users 943 --repeats 3 --device "$d"
  done
  ;;
*) echo "unknown step $step"; exit 2 ;;
esac
} 2>&1 | log
