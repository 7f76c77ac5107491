"""Arms: an FFN variant together with the model settings a study crosses it with — a routed FFN (model.moe_*), an
attention normalizer (model.attention) or an output head (model.head) — compared under the seed-blocked fit
against one reference arm.

The generic report splits runs by every varying setting and compares variants within each (Δ vs ReLU); a study
of routed FFNs, normalizers or heads asks across those settings instead: each arm's Δ vs the dense SwiGLU with
softmax attention and the full head (else the first of ReLU's arms). Every arm of a seed shares its batches and its
initial weights outside what the arm changes, so the analysis is the blocked fit `loss ~ arm + seed`
(ffnlab.report.blocked), Holm over the arms, an arm equivalent when its 90% interval lies inside ±0.005 nats.
Other settings that vary (a size) split the table: arms are compared within each. A budget (trainer.max_steps)
splits it too, but a budget where only the reference arm ran (the scaling ladder's runs, read beside a study at
one budget) is no table of its own: it is a point of the reference arm's loss-vs-compute curve, through which each
arm's loss becomes a compute multiplier (ffnlab.studies.scaling.multiplier: the reference arm's training compute
to reach the arm's loss over the arm's own, its FLOPs the active path's; the Δ's interval carried through the curve).

The interaction (`interactions`): an arm is an FFN in a context (a routed FFN's preset, a normalizer, a head); in
each context but the reference one, each FFN's Δ against the reference FFN there, beside the same Δ in the
reference context, and their difference — does the FFN ordering (and the gated margin) change? — from the same
blocked fit, Holm over the setting's interactions. Pure pandas.
"""

from __future__ import annotations

import math

import pandas as pd

from ffnlab.report import blocked, collect
from ffnlab.report.paper import ATTENTION_CLAIMS
from ffnlab.studies import scaling

MOE = ("cfg.model.moe_experts", "cfg.model.moe_top_k", "cfg.model.moe_shared", "cfg.model.moe_match")
ATTENTION = "cfg.model.attention"
HEAD = "cfg.model.head"
ARM_KEYS = (*MOE, ATTENTION, HEAD)
BUDGET = "cfg.trainer.max_steps"
REFERENCES = ("swiglu", "relu")  # the reference arm: the first of these, dense, softmax attention, the full head


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v) not in ("", "None", "nan")


def label(row: pd.Series) -> str:
    """`swiglu`, `swiglu · 8 experts top-2 (active)`, `relu · sigmoid attention`, `relu · adaptive head`, ..."""
    return str(row["ffn"]) + context(row)


def context(row: pd.Series) -> str:
    """What the arm changes besides the FFN's activation ("" for the dense FFN, softmax attention, the full head)."""
    text = ""
    if _present(row.get(MOE[0])):
        k = int(row[MOE[1]]) if _present(row.get(MOE[1])) else 2
        shared = int(row[MOE[2]]) if _present(row.get(MOE[2])) else 0
        match = row[MOE[3]] if _present(row.get(MOE[3])) else "active"
        text += f" · {int(row[MOE[0]])} experts top-{k}" + (f" + {shared} shared" if shared else "") + f" ({match})"
    if _present(row.get(ATTENTION)) and row[ATTENTION] != "softmax":
        text += f" · {row[ATTENTION]} attention"
    if _present(row.get(HEAD)) and row[HEAD] != "full":
        text += f" · {row[HEAD]} head"
    return text


def has_arms(runs: pd.DataFrame) -> bool:
    ok = runs[runs["status"] == "ok"]
    return any(c in ok and ok[c].map(_present).any() for c in ARM_KEYS)


def _reference(arms: pd.Series) -> str:
    return next((r for r in REFERENCES if r in set(arms)), sorted(set(arms))[0])


def _arms(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The finished runs with their arm, FFN context and training FLOPs; the settings other than the arms."""
    ok = runs[runs["status"] == "ok"].copy()
    ok["arm"], ok["context"] = ok.apply(label, axis=1), ok.apply(context, axis=1)
    if {"flops_per_token", "tokens"} <= set(ok):
        ok["flops"] = ok["flops_per_token"] * ok["tokens"]
    return ok, [c for c in collect.setting_columns(ok) if c not in ARM_KEYS]


def _groups(ok: pd.DataFrame, others: list[str]):
    """(setting label, its runs, its reference arm) for each setting with an arm besides the reference."""
    for key, g in ok.groupby(others, dropna=False) if others else [((), ok)]:
        ref = _reference(g["arm"])
        if set(g["arm"]) != {ref}:
            yield collect.label(others, key if isinstance(key, tuple) else (key,)) if others else "", g, ref


def _curve(ok: pd.DataFrame, others: list[str], g: pd.DataFrame, ref: str) -> pd.DataFrame | None:
    """The reference arm's (flops, loss) means over the budgets of g's other settings (None: fewer than two)."""
    if "flops" not in ok or BUDGET not in others:
        return None
    same = [c for c in others if c != BUDGET]
    mask = ok["arm"].eq(ref)
    for c in same:
        mask &= ok[c].astype(str).eq(str(g[c].iloc[0]))
    pts = ok[mask].groupby(BUDGET).agg(flops=("flops", "mean"), loss=("final_val_loss", "mean")).reset_index()
    return pts if len(pts) >= 2 else None


def _multiplier(curve: pd.DataFrame | None, ref_loss: float, r: dict, flops: float) -> dict:
    if curve is None or not math.isfinite(flops):
        return {}
    m, mark = scaling.multiplier(curve, ref_loss + r["delta"], flops)
    ends = [scaling.multiplier(curve, ref_loss + r[k], flops)[0] if math.isfinite(r[k]) else math.nan
            for k in ("hi", "lo")]
    return {"multiplier": m, "bound": mark, "multiplier_lo": ends[0], "multiplier_hi": ends[1]}


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (other setting, arm): blocks, mean loss, Δ vs the reference arm with its 95% and 90% intervals,
    p, Holm's p over the setting's arms, the verdict (difference, equivalent, unresolved, untested), and where the
    reference arm has a curve over budgets, the compute multiplier with its interval."""
    ok, others = _arms(runs)
    rows = []
    for setting, g, ref in _groups(ok, others):
        fit = blocked.fit(g.assign(ffn=g["arm"]), baseline=ref)
        curve, ref_loss = _curve(ok, others, g, ref), float(g.loc[g["arm"] == ref, "final_val_loss"].mean())
        part = []
        for arm in sorted(set(g["arm"]) - {ref}):
            c, mine = blocked.contrast(fit, {arm: 1.0, ref: -1.0}, arm), g[g["arm"] == arm]
            r = {"setting": setting, "arm": arm, "reference": ref, "blocks": int(mine["seed"].nunique()),
                 "loss": float(mine["final_val_loss"].mean()), "delta": c.estimate, "lo": c.lo, "hi": c.hi,
                 "lo90": c.lo90, "hi90": c.hi90, "p": c.p, "method": c.method, "_contrast": c,
                 "speed": _speed(mine, g[g["arm"] == ref])}
            part.append(r | _multiplier(curve, ref_loss, r, float(mine["flops"].mean()) if "flops" in g else math.nan))
        rows += _holm(part)
    return pd.DataFrame(rows)


def _speed(arm: pd.DataFrame, ref: pd.DataFrame) -> float:
    """The arm's median training tokens/s over the reference arm's, as the runs recorded them (two runs shared the
    machine: ffnlab-bench measures it side by side)."""
    if "tokens_per_s" not in arm or not len(ref):
        return math.nan
    return float(arm["tokens_per_s"].median() / ref["tokens_per_s"].median())


def _holm(part: list[dict]) -> list[dict]:
    p_holm = blocked.holm(pd.Series([r["p"] for r in part], dtype=float))
    for r, ph in zip(part, p_holm, strict=True):
        r["p_holm"] = ph
        r["verdict"] = blocked.classify(r.pop("_contrast"), ph)
    return part


def _margin(g: pd.DataFrame, ref_ffn: str, ffns: list[str]) -> list[tuple[str, list[str]]]:
    """The gated margin's row where the reference FFN is gated and two or more ungated FFNs ran beside it: the
    reference FFN against their mean ("mean(relu, gelu)" vs swiglu)."""
    if "gated" not in g:
        return []
    gated = g.groupby("ffn")["gated"].first()
    ungated = [f for f in ffns if gated.get(f) is False or gated.get(f) == 0]
    if len(ungated) < 2 or not bool(gated.get(ref_ffn, False)):
        return []
    return [(f"mean({', '.join(ungated)})", ungated)]


def _minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0.0) - b.get(k, 0.0) for k in set(a) | set(b)}


def interactions(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting, context (but the reference one) and FFN (but the reference FFN): the FFN's Δ vs the reference
    FFN in that context and in the reference context, and the interaction (their difference), seed-blocked; and
    the same for the mean of the ungated FFNs, whose Δ is the gated margin's negative."""
    ok, others = _arms(runs)
    rows = []
    for setting, g, ref in _groups(ok, others):
        ref_ffn, base = ref.split(" · ")[0], g.loc[g["arm"] == ref, "context"].iloc[0]
        fit, part = blocked.fit(g.assign(ffn=g["arm"]), baseline=ref), []
        have = set(g["arm"])
        for ctx in sorted(set(g["context"]) - {base}):
            both = sorted(f for f in set(g.loc[g["context"] == ctx, "ffn"]) - {ref_ffn}
                          if {f + ctx, f + base} <= have)
            if ref_ffn + ctx not in have or not both:
                continue
            for name, group in [(f, [f]) for f in both] + _margin(g, ref_ffn, both):
                here = blocked.mean_of([f + ctx for f in group], [ref_ffn + ctx])
                there = blocked.mean_of([f + base for f in group], [ref])
                inner, outer = blocked.contrast(fit, here, name), blocked.contrast(fit, there, name)
                c = blocked.contrast(fit, _minus(here, there), name)
                part.append({"setting": setting, "context": ctx.removeprefix(" · "), "ffn": name,
                             "reference_ffn": ref_ffn,
                             "delta_here": inner.estimate, "delta_here_lo": inner.lo, "delta_here_hi": inner.hi,
                             "delta_reference": outer.estimate, "delta_reference_lo": outer.lo,
                             "delta_reference_hi": outer.hi, "delta": c.estimate, "lo": c.lo, "hi": c.hi,
                             "lo90": c.lo90, "hi90": c.hi90, "p": c.p, "method": c.method, "_contrast": c})
        rows += _holm(part)
    return pd.DataFrame(rows)


def claims(t: pd.DataFrame) -> pd.DataFrame:
    """Each normalizer arm with the reference FFN (report.paper.ATTENTION_CLAIMS): its source and claim beside the
    measured Δ vs softmax and the verdict (a parity claim holds here where the verdict is equivalent)."""
    rows = []
    for r in t.itertuples():
        ffn = r.reference.split(" · ")[0]
        for name, (source, claim) in ATTENTION_CLAIMS.items():
            if r.arm == f"{ffn} · {name} attention":
                rows.append({"setting": r.setting, "normalizer": name, "source": source, "claim": claim,
                             "ffn": ffn, "delta": r.delta, "lo": r.lo, "hi": r.hi, "verdict": r.verdict})
    return pd.DataFrame(rows)


def _ci(est: float, lo: float, hi: float) -> str:
    return f"{est:+.4f} [{lo:+.4f}, {hi:+.4f}]" if math.isfinite(lo) else f"{est:+.4f}"


def _times(r) -> str:
    m = getattr(r, "multiplier", math.nan)
    if not isinstance(m, float) or not math.isfinite(m):
        return "–"
    return f"{r.bound}{m:.2f}× [{r.multiplier_lo:.2f}, {r.multiplier_hi:.2f}]"


def markdown(t: pd.DataFrame, inter: pd.DataFrame | None = None) -> str:
    lines = ["# Arms against the reference arm", "",
             "Each arm's Δ in final validation loss against the reference arm of its setting, from the seed-blocked "
             "fit loss ~ arm + seed (95% interval; Holm over the setting's arms; equivalent: the 90% interval "
             f"inside ±{blocked.DELTA} nats). Compute ×: the reference arm's training compute to reach the arm's "
             "loss, over the arm's own (active-path FLOPs), through the reference arm's curve over budgets, its "
             "interval the Δ's; ~ extrapolated past the curve, ≥ / ≤ a bound; – where the reference has no curve. "
             "Tokens/s vs ref: the median training tokens/s the runs recorded, over the reference arm's (two runs "
             "shared each machine; `ffnlab-bench` measures speed side by side).", ""]
    for setting, g in t.groupby("setting", sort=False):
        lines += ([f"## {setting}", ""] if setting else []) + [
            f"Reference: {g['reference'].iloc[0]}.", "",
            "| arm | blocks | loss | Δ [95% CI] | p (Holm) | verdict | compute × [95% CI] | tokens/s vs ref |",
            "|---|---|---|---|---|---|---|---|"]
        for r in g.itertuples():
            p = f"{r.p_holm:.3g}" if math.isfinite(r.p_holm) else "–"
            speed = f"{r.speed:.2f}×" if math.isfinite(getattr(r, "speed", math.nan)) else "–"
            lines.append(f"| {r.arm} | {r.blocks} | {r.loss:.4f} | {_ci(r.delta, r.lo, r.hi)} | {p} | {r.verdict} "
                         f"| {_times(r)} | {speed} |")
        lines.append("")
    said = claims(t) if len(t) else pd.DataFrame()
    if len(said):
        lines += ["# Each normalizer's published claim beside the measured Δ", "",
                  "Every claim is of parity with softmax in a far larger setting; equivalent here means the 90% "
                  f"interval of Δ vs softmax lies inside ±{blocked.DELTA} nats at this size and budget.", "",
                  "| setting | normalizer | source | claim | FFN | Δ vs softmax [95% CI] | verdict |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r.setting or '–'} | {r.normalizer} | {r.source} | {r.claim} | {r.ffn} "
                  f"| {_ci(r.delta, r.lo, r.hi)} | {r.verdict} |" for r in said.itertuples()]
        lines.append("")
    if inter is not None and len(inter):
        lines += ["# Does the FFN ordering change with the context?", "",
                  "In each context, each FFN's Δ against the reference FFN there and in the reference context, and "
                  "the interaction: their difference (same fit; Holm over the setting's interactions; equivalent: "
                  f"the 90% interval inside ±{blocked.DELTA} nats).", ""]
        for setting, g in inter.groupby("setting", sort=False):
            lines += ([f"## {setting}", ""] if setting else []) + [
                "| context | FFN vs | Δ in context | Δ in reference context | interaction [95% CI] | p (Holm) "
                "| verdict |", "|---|---|---|---|---|---|---|"]
            for r in g.itertuples():
                p = f"{r.p_holm:.3g}" if math.isfinite(r.p_holm) else "–"
                lines.append(f"| {r.context} | {r.ffn} vs {r.reference_ffn} "
                             f"| {_ci(r.delta_here, r.delta_here_lo, r.delta_here_hi)} "
                             f"| {_ci(r.delta_reference, r.delta_reference_lo, r.delta_reference_hi)} "
                             f"| {_ci(r.delta, r.lo, r.hi)} | {p} | {r.verdict} |")
            lines.append("")
    return "\n".join(lines)
