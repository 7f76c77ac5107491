"""Arms: an FFN variant together with the model settings a study crosses it with — a routed FFN (model.moe_*) or an
attention normalizer (model.attention) — compared under the seed-blocked fit against one reference arm.

The generic report splits runs by every varying setting and compares variants within each (Δ vs ReLU); a study
of routed FFNs or normalizers asks across those settings instead: each arm's Δ vs the dense SwiGLU with softmax
attention (else the first of ReLU's arms). Every arm of a seed shares its batches and its initial weights outside
what the arm changes, so the analysis is the blocked fit `loss ~ arm + seed` (ffnlab.report.blocked), Holm over
the arms, an arm equivalent when its 90% interval lies inside ±0.005 nats. Other settings that vary (a budget, a
size) split the table: arms are compared within each. Pure pandas.
"""

from __future__ import annotations

import math

import pandas as pd

from ffnlab.report import blocked, collect

MOE = ("cfg.model.moe_experts", "cfg.model.moe_top_k", "cfg.model.moe_shared", "cfg.model.moe_match")
ATTENTION = "cfg.model.attention"
ARM_KEYS = (*MOE, ATTENTION)
REFERENCES = ("swiglu", "relu")  # the reference arm: the first of these, dense, with softmax attention


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v) not in ("", "None", "nan")


def label(row: pd.Series) -> str:
    """`swiglu`, `swiglu · 8 experts top-2 (active)`, `relu · sigmoid attention`, ..."""
    text = str(row["ffn"])
    if _present(row.get(MOE[0])):
        k = int(row[MOE[1]]) if _present(row.get(MOE[1])) else 2
        shared = int(row[MOE[2]]) if _present(row.get(MOE[2])) else 0
        match = row[MOE[3]] if _present(row.get(MOE[3])) else "active"
        text += f" · {int(row[MOE[0]])} experts top-{k}" + (f" + {shared} shared" if shared else "") + f" ({match})"
    if _present(row.get(ATTENTION)) and row[ATTENTION] != "softmax":
        text += f" · {row[ATTENTION]} attention"
    return text


def has_arms(runs: pd.DataFrame) -> bool:
    ok = runs[runs["status"] == "ok"]
    return any(c in ok and ok[c].map(_present).any() for c in ARM_KEYS)


def _reference(arms: pd.Series) -> str:
    return next((r for r in REFERENCES if r in set(arms)), sorted(set(arms))[0])


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (other setting, arm): blocks, mean loss, Δ vs the reference arm with its 95% and 90% intervals,
    p, Holm's p over the setting's arms, and the verdict (difference, equivalent, unresolved, untested)."""
    ok = runs[runs["status"] == "ok"].copy()
    ok["arm"] = ok.apply(label, axis=1)
    others = [c for c in collect.setting_columns(ok) if c not in ARM_KEYS]
    rows = []
    for key, g in ok.groupby(others, dropna=False) if others else [((), ok)]:
        setting = collect.label(others, key if isinstance(key, tuple) else (key,)) if others else ""
        ref = _reference(g["arm"])
        fit = blocked.fit(g.assign(ffn=g["arm"]), baseline=ref)
        part = []
        for arm in sorted(set(g["arm"]) - {ref}):
            c = blocked.contrast(fit, {arm: 1.0, ref: -1.0}, arm)
            part.append({"setting": setting, "arm": arm, "reference": ref,
                         "blocks": int(g.loc[g["arm"] == arm, "seed"].nunique()),
                         "loss": float(g.loc[g["arm"] == arm, "final_val_loss"].mean()), "delta": c.estimate,
                         "lo": c.lo, "hi": c.hi, "lo90": c.lo90, "hi90": c.hi90, "p": c.p, "method": c.method,
                         "_contrast": c})
        p_holm = blocked.holm(pd.Series([r["p"] for r in part], dtype=float))
        for r, ph in zip(part, p_holm, strict=True):
            r["p_holm"] = ph
            r["verdict"] = blocked.classify(r.pop("_contrast"), ph)
        rows += part
    return pd.DataFrame(rows)


def markdown(t: pd.DataFrame) -> str:
    lines = ["# Arms against the reference arm", "",
             "Each arm's Δ in final validation loss against the reference arm of its setting, from the seed-blocked "
             "fit loss ~ arm + seed (95% interval; Holm over the setting's arms; equivalent: the 90% interval "
             f"inside ±{blocked.DELTA} nats).", ""]
    for setting, g in t.groupby("setting", sort=False):
        lines += ([f"## {setting}", ""] if setting else []) + [
            f"Reference: {g['reference'].iloc[0]}.", "",
            "| arm | blocks | loss | Δ [95% CI] | p (Holm) | verdict |", "|---|---|---|---|---|---|"]
        for r in g.itertuples():
            ci = f"{r.delta:+.4f} [{r.lo:+.4f}, {r.hi:+.4f}]" if math.isfinite(r.lo) else f"{r.delta:+.4f}"
            p = f"{r.p_holm:.3g}" if math.isfinite(r.p_holm) else "–"
            lines.append(f"| {r.arm} | {r.blocks} | {r.loss:.4f} | {ci} | {p} | {r.verdict} |")
        lines.append("")
    return "\n".join(lines)
