"""The scaling study's pre-registered contrasts at its largest size, with the seed-blocked analysis (pure pandas).

experiments/scaling/README.md (*Seed blocks: the pre-registered analysis*, 2026-12-07) fixes, before the seed
blocks were trained: (a) each variant vs ReLU (a family), (b) the gated four vs the ungated smooth pair and
SwiGLU vs GELU, with (c) SwiGLU vs GEGLU (a second family); δ = 0.005 nats for equivalence; blocks added until
every contrast at the primary cell (the largest size at its largest budget) is a difference or equivalent at
Pocock's per-look level, or 8 blocks, and at least 5. This module computes those tables from the runs and says
where the stopping rule stands; it decides nothing by hand.
"""

from __future__ import annotations

import math

import pandas as pd

from ffnlab.report import blocked
from ffnlab.report.stats import BASELINE
from ffnlab.studies.scaling import points

GATED = ("glu", "reglu", "geglu", "swiglu")
UNGATED = ("gelu", "swish")
LADDER = ("relu", "gelu", "swish", "glu", "reglu", "geglu", "swiglu")
MIN_BLOCKS, MAX_BLOCKS = 5, 8


def families(variants: set[str]) -> list[dict[str, dict[str, float]]]:
    """The two pre-registered families of contrasts, over the variants present."""
    a = {f"{v} − relu": {v: 1.0, BASELINE: -1.0} for v in LADDER if v != BASELINE and v in variants}
    b = {}
    if set(GATED + UNGATED) <= variants:
        b["gated four − (gelu, swish)"] = blocked.mean_of(list(GATED), list(UNGATED))
    if {"swiglu", "gelu"} <= variants:
        b["swiglu − gelu"] = {"swiglu": 1.0, "gelu": -1.0}
    if {"swiglu", "geglu"} <= variants:
        b["swiglu − geglu"] = {"swiglu": 1.0, "geglu": -1.0}
    return [f for f in (a, b) if f]


def contrasts(runs: pd.DataFrame, value: str = "loss") -> pd.DataFrame:
    """At the largest size holding the seven ladder variants, per budget: every pre-registered contrast's row
    (blocked.table), with the family it belongs to. `value`: a column of scaling.points (loss), or of runs."""
    p = points(runs)
    if value != "loss":
        p = p.assign(loss=runs.loc[p.index, value])
    full = [z for z, g in p.groupby("size") if set(LADDER) <= set(g["ffn"])]
    if not full:
        return pd.DataFrame()
    size = max(full)
    rows = []
    for tokens, cell in p[(p["size"] == size) & p["ffn"].isin(LADDER)].groupby("tokens", sort=True):
        f = blocked.fit(cell.dropna(subset=["loss"]), value="loss")
        for k, fam in enumerate(families(set(f.table.index)), start=1):
            t = blocked.table(f, fam)
            rows.append(t.reset_index().assign(size=size, tokens=tokens, family=k))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def stopping(t: pd.DataFrame) -> str:
    """Where the pre-registered stopping rule stands at the primary cell (the largest budget)."""
    if t.empty:
        return ""
    primary = t[t["tokens"] == t["tokens"].max()]
    blocks = int(primary["blocks"].iloc[0])
    open_ = primary[~primary["resolved_at_look"].astype(bool)]
    if blocks < MIN_BLOCKS:
        state = f"{blocks} complete blocks: below the {MIN_BLOCKS} the rule requires before its first look"
    elif open_.empty:
        state = f"{blocks} complete blocks: every contrast is resolved at Pocock's level; the rule stops here"
    elif blocks >= MAX_BLOCKS:
        state = f"{blocks} complete blocks: the cap; the unresolved contrasts are reported as such"
    else:
        state = f"{blocks} complete blocks: {len(open_)} contrasts are unresolved at Pocock's level; add a block"
    need = primary["blocks_needed"].dropna()
    forecast = (f" At their current estimates and the cell's residual spread, the unresolved contrasts would need "
                f"{int(need.min())}–{int(need.max())} blocks (95%/90% rule)." if len(need) else "")
    return state + "." + forecast


def sentence(t: pd.DataFrame) -> str:
    """The verdict's sentence on gating over the best ungated activations, at the primary cell."""
    if t.empty:
        return ""
    primary = t[(t["tokens"] == t["tokens"].max()) & (t["family"] == 2)]
    if primary.empty:
        return ""
    parts = [f"{r.name} {r.estimate:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}] ({r.verdict})" for r in primary.itertuples()]
    return (f"Gating against GELU and Swish there, by the pre-registered contrasts (seed-blocked, "
            f"{int(primary['blocks'].iloc[0])} blocks): " + "; ".join(parts) + " (difference: the interval excludes 0 "
            f"and Holm holds; equivalent: the 90% interval lies inside ±{blocked.DELTA:g} nats).")


def _f(x: float, fmt: str = "{:+.4f}") -> str:
    return "–" if x is None or not math.isfinite(x) else fmt.format(x)


def markdown(t: pd.DataFrame, what: str = "validation loss (nats)", delta: float = blocked.DELTA) -> str:
    """The section of scaling.md: one table per budget at the largest size, and the stopping rule's state."""
    if t.empty:
        return ""
    size = int(t["size"].iloc[0])
    lines = ["## Seed blocks: the pre-registered contrasts", "",
             f"At {size:,} non-embedding parameters, {what}; the seed-blocked fit (variant + seed) per budget, "
             f"Holm within each family (1: each variant vs ReLU; 2: gating vs GELU/Swish, SwiGLU vs GELU, SwiGLU "
             f"vs GEGLU). difference: 95% interval excludes 0 and Holm p < 0.05; equivalent: 90% interval inside "
             f"±{delta:g}; else unresolved (experiments/scaling/README.md, *Seed blocks*).", "",
             "**Stopping rule.** " + stopping(t), ""]
    for tokens, g in t.groupby("tokens", sort=True):
        r0 = g.iloc[0]
        spread = ("untestable with 2 blocks" if not math.isfinite(r0["spread_p"])
                  else f"Brown–Forsythe p {r0['spread_p']:.2g}")
        lines += [f"### {tokens / 1e6:g}M tokens ({int(r0['blocks'])} blocks, {r0['method']}, residual SD "
                  f"{_f(r0['resid_sd'], '{:.4f}')}, equal spread: {spread})", "",
                  "| family | contrast | estimate | 95% interval | 90% interval | Holm p | verdict | blocks needed |",
                  "|---:|---|---:|---|---|---:|---|---:|"]
        for r in g.itertuples():
            need = "" if not math.isfinite(r.blocks_needed) else f"{int(r.blocks_needed)}"
            lines.append(f"| {r.family} | {r.name} | {_f(r.estimate)} | [{_f(r.lo)}, {_f(r.hi)}] | "
                         f"[{_f(r.lo90)}, {_f(r.hi90)}] | {_f(r.p_holm, '{:.2g}')} | {r.verdict} | {need} |")
        lines.append("")
    return "\n".join(lines)
