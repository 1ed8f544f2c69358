#!/bin/bash
# Prepare here first: python bench/gpu_pack.py pack bench/_gpu --jsonl ../shared/data/goemotions/train.jsonl:2000 \
#   --jsonl ../shared/data/goemotions/validation.jsonl:1000   (and bench/_tok, see gpu_check.py)
# Then: device run "bash bench/gpu_session.sh" with carry ["bench/_tok", "bench/_gpu"]; results in $OUT.
# Step limits (45 + 85 + 200 + 250 s) fit one call of timeout_s 590; measured on an H200:
# tests 29 s, 10 epochs 78 s, 30 epochs about 150 s, gpu_check 224 s.
# One call on a lent GPU: GPU tests, quality vs the recipe on real MiniLM weights, gpu_check.
set -u
export PYTHONPATH=.:bench HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
S=$OUT/setup.txt
{ date; nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv
  python -c "import torch,transformers,sklearn,sys;print(torch.__version__,transformers.__version__,sklearn.__version__,sys.version)"
  python -c "import datasets; print('datasets', datasets.__version__)"
  python bench/gpu_pack.py unpack bench/_gpu; } > $S 2>&1
T0=$(date +%s)
timeout 45 python -m pytest tests/test_gpu.py -q -p no:cacheprovider -x >> $S 2>&1
echo "pytest rc=$? in $(( $(date +%s) - T0 )) s" >> $S
Q=$OUT/quality.log
for spec in 10:85 30:200; do
  E=${spec%%:*}; LIM=${spec##*:}; T0=$(date +%s)
  timeout $LIM python bench/speed.py --train bench/_gpu/data/train.jsonl \
    --test bench/_gpu/data/validation.jsonl --n-train 2000 --n-test 1000 --max-length 128 \
    --batch-size 16 --epochs $E --learning-rate 5e-5 --tools skbert,recipe --no-ceiling \
    --model bench/_gpu/minilm --json $OUT/quality_e$E.json >> $Q 2>&1
  echo "=== epochs $E rc=$? in $(( $(date +%s) - T0 )) s" >> $Q
done
T0=$(date +%s)
timeout 250 python bench/gpu_check.py --tokenizer bench/_tok --out $OUT --compile \
  --compile-lengths 128 --no-attention-dropout > $OUT/gpu_check.log 2>&1
echo "gpu_check rc=$? in $(( $(date +%s) - T0 )) s" >> $OUT/gpu_check.log
