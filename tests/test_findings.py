"""The scaling study's rules for a finding (ffnlab.studies.findings), on cells whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ffnlab.report import stats
from ffnlab.studies import findings, scaling

FPT = {64: 2.0e6, 128: 8.0e6}


def runs(losses: dict[tuple[int, int, str], list[float]]) -> pd.DataFrame:
    """Finished runs from {(d_model, tokens, ffn): [loss per seed]}; the *glu variants are gated."""
    rows = [{"status": "ok", "ffn": ffn, "seed": s, "params_non_embedding": d * 1000, "d_model": d, "tokens": t,
             "flops_per_token": FPT[d], "final_val_loss": loss, "gated": ffn.endswith("glu")}
            for (d, t, ffn), ls in losses.items() for s, loss in enumerate(ls)]
    return pd.DataFrame(rows)


def cell(size, tokens, ffn, delta, lo, hi, p):
    return {"size": size, "tokens": tokens, "ffn": ffn, "delta": delta, "delta_lo": lo, "delta_hi": hi, "p": p}


def test_a_finding_needs_the_interval_to_exclude_0_and_holm_to_hold_within_its_cell():
    c = pd.DataFrame([cell(1, 1, "relu", math.nan, math.nan, math.nan, math.nan),
                      cell(1, 1, "a", -0.10, -0.15, -0.05, 0.001),  # Holm: 3 × 0.001
                      cell(1, 1, "b", +0.05, +0.01, +0.09, 0.03),  # Holm: 2 × 0.03 = 0.06
                      cell(1, 1, "c", -0.01, -0.05, +0.03, 0.5),
                      cell(1, 2, "relu", math.nan, math.nan, math.nan, math.nan),
                      cell(1, 2, "b", +0.05, +0.01, +0.09, 0.03)])  # alone in its cell: Holm leaves 0.03
    f = findings.classify(c).set_index(["tokens", "ffn"])
    assert f.loc[(1, "a"), "finding"] == "beats" and f.loc[(1, "a"), "p_holm"] == pytest.approx(0.003)
    assert f.loc[(1, "b"), "finding"] == "indicative" and f.loc[(1, "b"), "p_holm"] == pytest.approx(0.06)
    assert f.loc[(1, "c"), "finding"] == "null"
    assert f.loc[(2, "b"), "finding"] == "trails" and f.loc[(1, "relu"), "finding"] == ""
    one_seed = findings.classify(pd.DataFrame([cell(1, 1, "a", -0.1, math.nan, math.nan, math.nan)]))
    assert one_seed["finding"].iloc[0] == "untested"  # no interval is not a null result


def test_a_two_variant_block_contrast_is_the_paired_t_test_and_a_seed_effect_cancels():
    a = pd.Series([1.0, 1.3, 0.8, 1.1]).rename_axis("seed")
    b = pd.Series([0.2, 0.6, 0.1, 0.4]).rename_axis("seed")
    t = pd.DataFrame({"a": a, "b": b}).T
    est, var, df = findings.block_contrast(t, {"a": 1.0, "b": -1.0})
    _, lo, hi = findings._interval([(est, var, df)])
    d, plo, phi, _, n = stats.paired(a, b)
    assert (est, lo, hi, df) == pytest.approx((d, plo, phi, n - 1))
    shifted = t + np.array([0.0, 5.0, -3.0, 1.0])  # a seed effect shared by every variant
    assert findings.block_contrast(shifted, {"a": 1.0, "b": -1.0}) == pytest.approx((est, var, df))
    assert math.isnan(findings.block_contrast(t.iloc[:, :1], {"a": 1.0, "b": -1.0})[1])  # one seed: no variance


LADDER = (1, 2, 4)


def ladder(seed_offsets=(0.0, 0.2, -0.2)) -> pd.DataFrame:
    """relu and swiglu at two sizes: swiglu's lead grows with tokens (0.01, 0.02, 0.04) by the same amount at
    every seed, while the seeds themselves differ by far more (their offsets): a seed is its own control."""
    losses = {}
    for d, base in ((64, 5.0), (128, 4.7)):
        for i, t in enumerate(LADDER):
            relu = [base - 0.2 * i + o + 0.001 * k for k, o in enumerate(seed_offsets)]
            losses[(d, t, "relu")] = relu
            losses[(d, t, "swiglu")] = [x - 0.01 * 2 ** i + 0.002 * k for k, x in enumerate(relu)]
    return runs(losses)


def test_the_gated_margin_grows_at_every_budget_and_the_seeds_offsets_cancel():
    r = ladder()
    c = findings.classify(scaling.cells(r))
    m = findings.margins(r, c).set_index(["along", "at"])
    row = m.loc[("budgets", 64000)]
    assert row["deltas"] == pytest.approx([-0.008, -0.018, -0.038])  # swiglu's seeds add 0, 0.002, 0.004
    assert row["pattern"] == "leads at every budget, grows at every step"
    assert row["change"] == pytest.approx(-0.03)
    # the per-seed changes are equal within each variant (offsets cancel): the interval is the point
    assert row["change_lo"] == pytest.approx(-0.03) and row["change_hi"] == pytest.approx(-0.03)
    across = m.loc[("sizes", 4)]
    assert across["pattern"] == "leads at every size, without a monotone trend"  # -0.038 at both sizes
    # no change across sizes: the interval holds 0, and the seeds' offsets (±0.2) cancel, as in any contrast
    assert across["change_lo"] < 0 < across["change_hi"] and across["change_hi"] - across["change_lo"] < 0.02
    md = findings.markdown(c, m.reset_index(), pd.DataFrame(columns=["reference", "n_variants", "spearman_rho"]))
    assert "its interval includes 0: no trend beyond the seeds' spread" in md.split("across sizes")[1]


def test_a_margin_that_changes_sign_or_misses_a_budget_claims_no_trend():
    r = ladder()
    closing = r["ffn"].eq("swiglu") & r["tokens"].eq(4)
    r.loc[closing, "final_val_loss"] += 0.06  # swiglu now trails at the last budget
    c = findings.classify(scaling.cells(r))
    m = findings.margins(r, c).set_index(["along", "at"])
    assert m.loc[("budgets", 64000), "pattern"] == "changes sign across the budgets"  # down, then up
    r.loc[r["ffn"].eq("swiglu") & r["tokens"].eq(1), "final_val_loss"] += 0.1  # trails, then trails less, then leads
    r.loc[r["ffn"].eq("swiglu") & r["tokens"].eq(4), "final_val_loss"] -= 0.1
    m = findings.margins(r, findings.classify(scaling.cells(r))).set_index(["along", "at"])
    assert m.loc[("budgets", 64000), "pattern"] == "changes sign across the budgets, falling at every step (from " \
        "trailing ReLU to leading it)"
    gone = r[~(r["ffn"].eq("swiglu") & r["tokens"].eq(2) & r["d_model"].eq(128))]
    c = findings.classify(scaling.cells(gone))
    m = findings.margins(gone, c).set_index(["along", "at"])
    assert m.loc[("budgets", 128000), "pattern"].startswith("incomplete")


def test_the_section_counts_findings_marks_signs_and_claims_multipliers_only_for_findings():
    c = pd.DataFrame([cell(1000, 10, "relu", math.nan, math.nan, math.nan, math.nan),
                      cell(1000, 10, "gelu", -0.10, -0.15, -0.05, 0.001),
                      cell(1000, 10, "swiglu", -0.02, -0.05, +0.01, 0.2),
                      cell(1000, 20, "relu", math.nan, math.nan, math.nan, math.nan),
                      cell(1000, 20, "gelu", -0.10, -0.15, -0.05, 0.001),
                      cell(1000, 20, "swiglu", +0.02, -0.01, +0.05, 0.2)])
    c["multiplier"], c["bound"] = [1.0, 1.5, 1.1, 1.0, 1.6, 0.9], ["", "", "", "", "~", ""]
    c["multiplier_lo"], c["multiplier_hi"] = c["multiplier"] - 0.1, c["multiplier"] + 0.1
    agree = pd.DataFrame({"reference": ["P"] * 3, "size": [1000] * 3, "tokens": [10, 20, 30],
                          "n_variants": [7, 7, 2], "spearman_rho": [0.8, -0.9, 0.9],
                          "rho_lo": [0.2, -1.0, 0.5], "rho_hi": [1.0, -0.5, 1.0], "rho_p": [0.01, 0.03, 0.01]})
    md = findings.markdown(findings.classify(c), pd.DataFrame(), agree)
    assert "Of 4 comparisons (variant × size × budget), 2 beat ReLU and 0 trail it" in md
    assert "2 are null results" in md
    assert "| gelu | **−** **−** |" in md and "| swiglu | − + |" in md
    assert "1,000 params, 2e-05M tokens: gelu ~1.60× [1.50, 1.70]." in md and "swiglu 0.90" not in md
    # the 2-variant cell ranks too few: left out of the count
    assert "- P: shown in 1 of 2 cells (1,000 params, 1e-05M tokens), reversed in 1 (1,000 params, 2e-05M tokens)" \
        ", null in 0." in md
    # "shown" needs the permutation test to reject, whatever the bootstrap interval says
    agree["rho_p"] = [0.2, 0.03, 0.01]
    md = findings.markdown(findings.classify(c), pd.DataFrame(), agree)
    assert "- P: shown in 0 of 2 cells, reversed in 1 (1,000 params, 2e-05M tokens), null in 1." in md
