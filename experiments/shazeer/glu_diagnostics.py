"""Why GLU loses and the gated variants lead early: the diagnostics that test the hypotheses, per seed.

    python experiments/shazeer/glu_diagnostics.py REPORT_FOLDER

Reads an ffnlab-report folder of the shazeer configuration (runs.csv and diagnostics.csv) and writes
REPORT_FOLDER/glu.md: for GLU, its gate's mean and saturation and its FFN output scale against ReLU's and the
other gated variants' at both horizons, the seed-paired difference in FFN write (GLU − ReLU, SwiGLU − ReLU)
with a t interval, and whether the loss deficit tracks the FFN output scale across seeds and variants
(Spearman ρ). Torch-free; ffnlab-docs copies the file into experiments/shazeer/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from scipy import stats as st

from ffnlab.report.paper import order_key
from ffnlab.report.stats import paired

GATED = ["glu", "bilinear", "reglu", "geglu", "swiglu", "mishglu"]


def _cell(m: float, s: float, fmt: str = "{:.3f}") -> str:
    return fmt.format(m) + ("" if pd.isna(s) else " ± " + fmt.format(s))


def analyse(folder: Path) -> str:
    runs = pd.read_csv(folder / "runs.csv")
    runs = runs[runs["status"] == "ok"]
    diag = pd.read_csv(folder / "diagnostics.csv")
    diag = diag[diag["horizon"].isin(["early", "final"])].merge(
        runs[["run_dir", "early_val_loss", "final_val_loss"]], on="run_dir")
    diag["loss"] = diag["early_val_loss"].where(diag["horizon"] == "early", diag["final_val_loss"])
    lines = ["| variant | horizon | seeds | loss | FFN write | gate mean σ(xW) | gate < 0.05 % | gate > 0.95 % | "
             "gate RMS | linear RMS |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    names = sorted(diag["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0])
    for horizon in ("early", "final"):
        for name in names:
            d = diag[(diag["ffn"] == name) & (diag["horizon"] == horizon)]
            lines.append(
                f"| {name} | {horizon} | {len(d)} | {_cell(d['loss'].mean(), d['loss'].std())} | "
                f"{_cell(d['ffn_write'].mean(), d['ffn_write'].std())} | "
                + (f"{_cell(d['act_mean'].mean(), d['act_mean'].std())} | "
                   f"{_cell(100 * d['sat_low'].mean(), 100 * d['sat_low'].std(), '{:.1f}')} | "
                   f"{_cell(100 * d['sat_high'].mean(), 100 * d['sat_high'].std(), '{:.1f}')} | "
                   if d["act_mean"].notna().any() else "– | – | – | ")
                + f"{_cell(d['act_rms'].mean(), d['act_rms'].std())} | "
                + (f"{_cell(d['lin_rms'].mean(), d['lin_rms'].std())} |" if d["lin_rms"].notna().any() else "– |"))
    out = ["### GLU's gate, its FFN output scale, and the gated variants", "", *lines, ""]
    v: dict = {}  # the numbers the summary sentence quotes
    for horizon in ("early", "final"):
        h = diag[diag["horizon"] == horizon]
        g = h[h["ffn"] == "glu"]
        v[horizon, "gate"] = g["act_mean"].mean()
        v[horizon, "sat"] = 100 * (g["sat_low"] + g["sat_high"]).mean()
        w = h.groupby("ffn")["ffn_write"].mean()
        v[horizon, "write"] = w
    pair_lines = ["| horizon | comparison | Δ FFN write (paired by seed) [95% CI] | Δ loss (paired) [95% CI] | pairs |",
                  "|---|---|---|---|---:|"]
    for horizon in ("early", "final"):
        h = diag[diag["horizon"] == horizon].set_index(["ffn", "seed"])
        for name in ("glu", "swiglu"):
            if name not in h.index.get_level_values(0) or "relu" not in h.index.get_level_values(0):
                continue
            dw, wlo, whi, _, n = paired(h.loc[name, "ffn_write"], h.loc["relu", "ffn_write"])
            dl, llo, lhi, _, _ = paired(h.loc[name, "loss"], h.loc["relu", "loss"])
            v[horizon, name, "pair"] = (dw, wlo, whi)
            pair_lines.append(f"| {horizon} | {name} − relu | {dw:+.3f} [{wlo:+.3f}, {whi:+.3f}] | "
                              f"{dl:+.4f} [{llo:+.4f}, {lhi:+.4f}] | {n} |")
    out += pair_lines + [""]
    rho_lines = ["| horizon | across | Spearman ρ(FFN write, loss) | p | n |", "|---|---|---:|---:|---:|"]
    for horizon in ("early", "final"):
        h = diag[diag["horizon"] == horizon]
        per_variant = h.groupby("ffn")[["ffn_write", "loss"]].mean()
        rho, p = st.spearmanr(per_variant["ffn_write"], per_variant["loss"])
        rho_lines.append(f"| {horizon} | variants (means) | {rho:+.2f} | {p:.2g} | {len(per_variant)} |")
        v[horizon, "rho"] = (rho, p)
        gated = per_variant.loc[[n for n in GATED if n in per_variant.index]]
        if len(gated) >= 4:
            rho, p = st.spearmanr(gated["ffn_write"], gated["loss"])
            rho_lines.append(f"| {horizon} | gated variants (means) | {rho:+.2f} | {p:.2g} | {len(gated)} |")
        g = h[h["ffn"] == "glu"]
        if len(g) >= 3:
            rho, p = st.spearmanr(g["ffn_write"], g["loss"])
            rho_lines.append(f"| {horizon} | GLU's seeds | {rho:+.2f} | {p:.2g} | {len(g)} |")
            v[horizon, "rho_glu"] = (rho, p)
    out += rho_lines + ["", "FFN write: RMS of the FFN's output over RMS of the residual stream it is added to, "
                            "averaged over layers, on the fixed validation tokens; gate: σ(xW), GLU's sigmoid "
                            "gate. Mean ± std over seeds; paired intervals take the difference seed by seed.", ""]
    return "\n".join(out + [summary(v), ""])


def summary(v: dict) -> str:
    """The finding's numbers in one paragraph, generated (so prose never retypes them)."""
    def pair(h: str) -> str:
        d, lo, hi = v[h, "glu", "pair"]
        return f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    others = v["final", "write"].drop(["glu", "relu"], errors="ignore").loc[
        lambda s: s.index.isin([n for n in GATED if n != "glu"])]
    parts = [f"**In numbers.** GLU's gate σ(xW) averages {v['early', 'gate']:.3f} at 1/8 of the budget and "
             f"{v['final', 'gate']:.3f} at the end; {v['early', 'sat']:.1f}% of its values are saturated (below 0.05 "
             f"or above 0.95) early and {v['final', 'sat']:.1f}% at the end. At the end its FFN write is "
             f"{v['final', 'write']['glu']:.3f}, against ReLU's {v['final', 'write']['relu']:.3f} and "
             f"{others.min():.3f}–{others.max():.3f} for the other gated variants; paired by seed, GLU − ReLU is "
             f"{pair('early')} early and {pair('final')} at the end. Across the variants, ρ(FFN write, loss) is "
             f"{v['early', 'rho'][0]:+.2f} (p = {v['early', 'rho'][1]:.2g}) early and {v['final', 'rho'][0]:+.2f} "
             f"(p = {v['final', 'rho'][1]:.2g}) at the end"]
    if ("final", "rho_glu") in v:
        parts.append(f"; across GLU's own seeds it is {v['early', 'rho_glu'][0]:+.2f} early and "
                     f"{v['final', 'rho_glu'][0]:+.2f} at the end")
    return "".join(parts) + "."


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit(__doc__)
    folder = Path(argv[0])
    (folder / "glu.md").write_text(analyse(folder))
    print(f"wrote {folder}/glu.md")


if __name__ == "__main__":
    main(sys.argv[1:])
