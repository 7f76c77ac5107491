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
    pair_lines = ["| horizon | comparison | Δ FFN write (paired by seed) [95% CI] | Δ loss (paired) [95% CI] | pairs |",
                  "|---|---|---|---|---:|"]
    for horizon in ("early", "final"):
        h = diag[diag["horizon"] == horizon].set_index(["ffn", "seed"])
        for name in ("glu", "swiglu"):
            if name not in h.index.get_level_values(0) or "relu" not in h.index.get_level_values(0):
                continue
            dw, wlo, whi, _, n = paired(h.loc[name, "ffn_write"], h.loc["relu", "ffn_write"])
            dl, llo, lhi, _, _ = paired(h.loc[name, "loss"], h.loc["relu", "loss"])
            pair_lines.append(f"| {horizon} | {name} − relu | {dw:+.3f} [{wlo:+.3f}, {whi:+.3f}] | "
                              f"{dl:+.4f} [{llo:+.4f}, {lhi:+.4f}] | {n} |")
    out += pair_lines + [""]
    rho_lines = ["| horizon | across | Spearman ρ(FFN write, loss) | p | n |", "|---|---|---:|---:|---:|"]
    for horizon in ("early", "final"):
        h = diag[diag["horizon"] == horizon]
        per_variant = h.groupby("ffn")[["ffn_write", "loss"]].mean()
        rho, p = st.spearmanr(per_variant["ffn_write"], per_variant["loss"])
        rho_lines.append(f"| {horizon} | variants (means) | {rho:+.2f} | {p:.2g} | {len(per_variant)} |")
        gated = per_variant.loc[[n for n in GATED if n in per_variant.index]]
        if len(gated) >= 4:
            rho, p = st.spearmanr(gated["ffn_write"], gated["loss"])
            rho_lines.append(f"| {horizon} | gated variants (means) | {rho:+.2f} | {p:.2g} | {len(gated)} |")
        g = h[h["ffn"] == "glu"]
        if len(g) >= 3:
            rho, p = st.spearmanr(g["ffn_write"], g["loss"])
            rho_lines.append(f"| {horizon} | GLU's seeds | {rho:+.2f} | {p:.2g} | {len(g)} |")
    out += rho_lines + ["", "FFN write: RMS of the FFN's output over RMS of the residual stream it is added to, "
                            "averaged over layers, on the fixed validation tokens; gate: σ(xW), GLU's sigmoid "
                            "gate. Mean ± std over seeds; paired intervals take the difference seed by seed.", ""]
    return "\n".join(out)


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit(__doc__)
    folder = Path(argv[0])
    (folder / "glu.md").write_text(analyse(folder))
    print(f"wrote {folder}/glu.md")


if __name__ == "__main__":
    main(sys.argv[1:])
