"""The init effect paired by seed: gpt2 minus fan_in for the same variant and seed, at the end and at 1/8 of the
budget, from a report's runs.csv (finished, non-duplicate runs only).

    python experiments/init_sensitivity/init_effect.py results/init_sensitivity

Writes RESULTS/init_effect.md, which experiments/init_sensitivity/README.md includes. Torch-free.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

INIT = "cfg.model.init"


def effect(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (ffn, seed) with both inits: each init's final loss and the paired differences."""
    ok = runs[(runs["status"] == "ok") & ~runs["duplicate"].fillna(False).astype(bool)]
    wide = ok.pivot_table(index=["ffn", "seed"], columns=INIT, values=["final_val_loss", "early_val_loss"])
    out = pd.DataFrame({"fan_in": wide[("final_val_loss", "fan_in")], "gpt2": wide[("final_val_loss", "gpt2")]})
    out["final"] = out["gpt2"] - out["fan_in"]
    out["early"] = wide[("early_val_loss", "gpt2")] - wide[("early_val_loss", "fan_in")]
    return out.dropna().reset_index()


def markdown(e: pd.DataFrame, order: list[str]) -> str:
    lines = ["| FFN | fan_in | gpt2 | init effect, final (by seed) | init effect, at 1/8 (by seed) |",
             "|---|---|---|---|---|"]
    for ffn in [f for f in order if f in set(e["ffn"])]:
        g = e[e["ffn"] == ffn].sort_values("seed")
        ms = [f"{g[c].mean():.3f} ± {g[c].std(ddof=1):.3f}" if len(g) > 1 else f"{g[c].mean():.3f}"
              for c in ("fan_in", "gpt2")]
        fin = ", ".join(f"{v:+.3f}" for v in g["final"])
        early = ", ".join(f"{v:+.3f}" for v in g["early"])
        lines.append(f"| {ffn} | {ms[0]} | {ms[1]} | {fin} | {early} |")
    seeds = sorted(set(e["seed"]))
    lines += ["", f"Final validation loss, mean ± std over seeds {', '.join(map(str, seeds))}; init effect: gpt2 "
                  "minus fan_in for the same variant and seed (listed in seed order), at the end and at 1/8 of the "
                  "budget. Positive: the small flat init is worse.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python experiments/init_sensitivity/init_effect.py RESULTS_DIR (a report of the study)")
    out = Path(args[0])
    if not (out / "runs.csv").is_file():
        sys.exit(f"{out}/runs.csv not found: run ffnlab-report on the init_sensitivity study first")
    runs = pd.read_csv(out / "runs.csv")
    order = list(dict.fromkeys(runs["ffn"]))  # the report's order
    summary = out / "summary.csv"
    if summary.is_file():
        order = list(dict.fromkeys(pd.read_csv(summary)["ffn"]))
    (out / "init_effect.md").write_text(markdown(effect(runs), order))
    print(f"wrote {out / 'init_effect.md'}")


if __name__ == "__main__":
    main()
