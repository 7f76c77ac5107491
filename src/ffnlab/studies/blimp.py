"""BLiMP beside the loss: accuracy per variant with seed-blocked intervals, per phenomenon, against the published
models, and how well the loss ordering carries over to it (pure pandas; the scoring is ffnlab.data.blimp's).

Runs are grouped by model shape and token budget (one group for a study of one setting); within a group every
variant of a seed is a block, as for the loss (ffnlab.report.blocked). Only runs scored on the same pairs (the
same pairs_per_paradigm) are compared; a group that mixes them is reported per pairs count.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as st

from ffnlab.data.blimp import REFERENCE_MODELS, reference
from ffnlab.report import blocked
from ffnlab.report.paper import order_key
from ffnlab.report.stats import BASELINE

DELTA = 0.01  # one percentage point: the pre-registered equivalence margin for BLiMP accuracy
# The published models' mean accuracy over the 67 paradigms (BLiMP's models_summary.jsonl; Warstadt et al. 2020,
# Table 3) and the human agreement: the reference rows, where the BLiMP folder is not at hand to compute them.
PUBLISHED = {"5-gram": 0.612, "LSTM": 0.698, "Transformer-XL": 0.696, "GPT-2": 0.830, "humans": 0.886}


def scored(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished runs with a BLiMP score."""
    if "blimp_status" not in runs:
        return runs.iloc[:0]
    return runs[(runs["status"] == "ok") & (runs["blimp_status"] == "scored") & runs["blimp_overall"].notna()]


def _groups(ok: pd.DataFrame):
    keys = [k for k in ("d_model", "n_layers", "tokens", "blimp_pairs_per_paradigm") if k in ok]
    return ok.groupby(keys, dropna=False, sort=True) if keys else [((), ok)]


def by_variant(runs: pd.DataFrame) -> pd.DataFrame:
    """Per group and variant: seeds, mean accuracy ± std, Δ vs ReLU with its seed-blocked 95% interval, Holm p and
    verdict (difference / equivalent within ±1 point / unresolved)."""
    ok = scored(runs)
    rows = []
    for key, g in _groups(ok):
        f = blocked.fit(g, value="blimp_overall")
        t = blocked.table(f, {v: {v: 1.0, BASELINE: -1.0} for v in f.table.index if v != BASELINE}, DELTA)
        for ffn, v in g.groupby("ffn"):
            r = {"group": key, "d_model": v["d_model"].iloc[0], "tokens": v["tokens"].iloc[0], "ffn": ffn,
                 "n": len(v), "accuracy": v["blimp_overall"].mean(), "accuracy_std": v["blimp_overall"].std(ddof=1),
                 "val_loss": v["final_val_loss"].mean(), "pairs_per_paradigm": v["blimp_pairs_per_paradigm"].iloc[0]}
            if ffn in t.index:
                c = t.loc[ffn]
                r |= {"delta": c["estimate"], "delta_lo": c["lo"], "delta_hi": c["hi"], "p_holm": c["p_holm"],
                      "verdict": c["verdict"], "blocks": c["blocks"]}
            rows.append(r)
    return pd.DataFrame(rows)


def phenomena(runs: pd.DataFrame) -> pd.DataFrame:
    """Variant × phenomenon mean accuracy over the runs of the largest group (largest model, then budget)."""
    ok = scored(runs)
    cols = sorted(c for c in ok.columns if c.startswith("blimp.") and ok[c].notna().any())
    if ok.empty or not cols:
        return pd.DataFrame()
    top = ok[(ok["d_model"] == ok["d_model"].max())]
    top = top[top["tokens"] == top["tokens"].max()]
    t = top.groupby("ffn")[cols].mean()
    t.columns = [c.removeprefix("blimp.") for c in cols]
    return t.iloc[order_key(t.index).argsort(kind="stable")]


def loss_relation(runs: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict:
    """Spearman ρ between validation loss and BLiMP accuracy over the scored runs (runs resampled for a 95%
    interval), overall and within the largest group: does a lower loss go with a higher accuracy?"""
    ok = scored(runs)
    out = {}
    top = ok[(ok["d_model"] == ok["d_model"].max())] if len(ok) else ok
    top = top[top["tokens"] == top["tokens"].max()] if len(top) else top
    for name, g in (("all runs", ok), ("largest cell", top)):
        if len(g) < 4:
            continue
        x, y = g["final_val_loss"].to_numpy(float), g["blimp_overall"].to_numpy(float)
        rho = float(st.spearmanr(x, y).statistic)
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(x), (n_boot, len(x)))
        boots = [st.spearmanr(x[i], y[i]).statistic for i in idx]
        out[name] = (rho, float(np.nanpercentile(boots, 2.5)), float(np.nanpercentile(boots, 97.5)), len(g))
    return out


def _f(x, fmt: str) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def markdown(v: pd.DataFrame, ph: pd.DataFrame, rel: dict, reference: dict[str, float] | None = None) -> str:
    """blimp.md: per group, every variant's accuracy and Δ vs ReLU; the phenomena at the largest cell; the
    published models; the loss relation."""
    if v.empty:
        return ""
    lines = ["# BLiMP: zero-shot minimal pairs", "",
             "Accuracy: the share of minimal pairs whose grammatical sentence the model gives the higher total "
             "log-probability (strictly; ffnlab.data.blimp), the mean over BLiMP's 67 paradigms (the paper's "
             "convention); chance is 50%. Δ vs ReLU in percentage points with its seed-blocked 95% interval (the "
             "fit accuracy ~ variant + seed; Holm over the group's variants); verdict: difference (interval "
             f"excludes 0, Holm p < 0.05), equivalent (90% interval inside ±{100 * DELTA:g} point), else "
             "unresolved.", ""]
    for _, g in v.groupby("group", sort=True):
        r0 = g.iloc[0]
        k = r0["pairs_per_paradigm"]
        pairs = "all 1,000 pairs" if not isinstance(k, (int, float)) or not math.isfinite(k) else f"{int(k)} pairs"
        lines += [f"## d_model {int(r0['d_model'])}, {r0['tokens'] / 1e6:g}M tokens ({pairs} per paradigm)", "",
                  "| FFN | n | accuracy % (mean ± std) | val loss | Δ vs ReLU (points) [95% CI] | Holm p | verdict |",
                  "|---|---:|---|---:|---|---:|---|"]
        g = g.iloc[order_key(pd.Index(g["ffn"])).argsort(kind="stable")]
        for r in g.itertuples():
            delta = "(baseline)" if r.ffn == BASELINE else (
                f"{100 * r.delta:+.2f} [{100 * r.delta_lo:+.2f}, {100 * r.delta_hi:+.2f}]"
                if math.isfinite(getattr(r, "delta", math.nan)) else "–")
            lines.append(f"| {r.ffn} | {r.n} | {100 * r.accuracy:.2f}" + _f(100 * r.accuracy_std, " ± {:.2f}")
                         + f" | {r.val_loss:.4f} | {delta} | {_f(getattr(r, 'p_holm', math.nan), '{:.2g}')} | "
                         f"{getattr(r, 'verdict', '') if r.ffn != BASELINE else ''} |")
        lines.append("")
    ref = reference or PUBLISHED
    lines += ["## Published models (mean over the 67 paradigms)", "", "| model | accuracy % |", "|---|---:|"]
    lines += [f"| {name} | {100 * acc:.1f} |" for name, acc in ref.items()]
    lines += ["", "From BLiMP's own files (models_summary.jsonl, human_validation_summary.csv); the 5-gram and LSTM "
              "were trained on about 80M tokens, GPT-2 on about 8B.", ""]
    if len(ph):
        lines += ["## By phenomenon, at the largest cell", "", "| FFN | " + " | ".join(ph.columns) + " |",
                  "|---|" + "---:|" * len(ph.columns)]
        lines += [f"| {n} | " + " | ".join(f"{100 * x:.1f}" for x in row) + " |" for n, row in ph.iterrows()]
        lines += ["", "Mean accuracy (%) over each phenomenon's paradigms (the files' linguistics_term), over seeds.",
                  ""]
    if rel:
        lines += ["## Does the loss ordering carry over?", ""]
        lines += [f"- {name}: Spearman ρ between validation loss and BLiMP accuracy = {rho:+.2f} [{lo:+.2f}, "
                  f"{hi:+.2f}] over {n} runs (95% bootstrap over runs; negative: lower loss, higher accuracy)."
                  for name, (rho, lo, hi, n) in rel.items()]
        lines.append("")
    return "\n".join(lines)


def reference_from(folder) -> dict[str, float] | None:
    """The published models' and humans' mean accuracy over the paradigms, from the BLiMP folder when present."""
    rows = reference(Path(folder)) if folder else []
    if not rows:
        return None
    t = pd.DataFrame(rows)
    out = {label: float(t[key].mean()) for key, label in REFERENCE_MODELS.items() if key in t}
    if t["human"].notna().any():
        out["humans"] = float(t["human"].mean())
    return out
