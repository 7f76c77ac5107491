#!/usr/bin/env bash
# Measures what one `experiment=shazeer_gpu` run costs on the GPU at hand, with the preset's model (base: 12 layers,
# d_model 768, seq 512), batch (32 × 512), bf16-mixed and vocabulary size (32,000), for a short budget: STEPS
# steps of every Shazeer variant at seed 0 in one process, eager, then relu and swiglu with perf.compile=true
# (the preset's default), then one run through Lightning's DDP strategy. Offline, so WikiText-2 stands in for C4
# (the time per token does not depend on the text). Writes the two ffnlab-report folders and timing.csv to OUT_DIR.
#   bash experiments/shazeer_gpu/time_on_gpu.sh results/shazeer/gpu_timing
set -uo pipefail
OUT_DIR=${1:?usage: time_on_gpu.sh OUT_DIR}
STEPS=${STEPS:-400}  # a multiple of 8 (the early evaluation is at STEPS/8)
TRAIN=${TRAIN:-ffnlab-train}
export FFNLAB_OUTPUT=${FFNLAB_OUTPUT:-/tmp/ffnlab-gpu-timing}
common=(experiment=shazeer_gpu data=wikitext2 data.vocab_size=32000 trainer.max_steps=$STEPS
        trainer.ckpt_every=$STEPS optim.warmup_steps=$((STEPS / 4)) seed=0 reuse_runs=false)
$TRAIN -m "${common[@]}" sweep_name=gpu_eager perf.compile=false \
  ffn=relu,gelu,swish,glu,bilinear,reglu,geglu,swiglu,mishglu
$TRAIN -m "${common[@]}" sweep_name=gpu_compile perf.compile=true ffn=relu,swiglu
$TRAIN "${common[@]}" ffn=swiglu perf.compile=false trainer.strategy=ddp trainer.devices=1 \
  hydra.run.dir=$FFNLAB_OUTPUT/runs/gpu_ddp
for s in eager compile; do
  ${REPORT:-ffnlab-report} "$FFNLAB_OUTPUT/multirun/gpu_$s" --out "$OUT_DIR/$s"
done
python3 - "$OUT_DIR" "$FFNLAB_OUTPUT/runs/gpu_ddp" <<'PY'
# Steady-state speed: tokens and training seconds between the early evaluation (step STEPS/8: warm-up and
# compilation are behind it) and the last, from the curves; peak GPU memory and whole-run figures from the records.
import json, sys
from pathlib import Path
import pandas as pd
out = Path(sys.argv[1])
rows = []
for mode in ("eager", "compile"):
    runs = pd.read_csv(out / mode / "runs.csv")
    curves = pd.read_csv(out / mode / "curves.csv")
    for r in runs.itertuples():
        c = curves[curves.run_dir == r.run_dir].sort_values("step")
        a, b = c.iloc[0], c.iloc[-1]
        rows.append({"mode": mode, "ffn": r.ffn, "d_ff": r.d_ff, "params_total": r.params_total,
                     "flops_per_token": r.flops_per_token,
                     "steady_tokens_per_s": (b.tokens - a.tokens) / (b.train_s - a.train_s),
                     "run_tokens_per_s": r.tokens_per_s, "peak_gpu_mb": r.peak_gpu_mb, "wall_s": r.wall_s,
                     "final_val_loss": r.final_val_loss, "status": r.status})
ddp = Path(sys.argv[2]) / "metrics.json"
if ddp.exists():
    d = json.loads(ddp.read_text())
    rows.append({"mode": "ddp(devices=1)", "ffn": d["ffn"], "d_ff": d.get("d_ff"), "status": d["status"],
                 "run_tokens_per_s": d.get("tokens_per_s"), "peak_gpu_mb": d.get("peak_gpu_mb"),
                 "wall_s": d.get("wall_s"), "final_val_loss": (d.get("final") or {}).get("val_loss")})
t = pd.DataFrame(rows)
t.to_csv(out / "timing.csv", index=False)
print(t.to_string())
PY
