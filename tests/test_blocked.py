"""The seed-blocked analysis (ffnlab.report.blocked), the permutation test of ρ, and the BLiMP report tables."""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from ffnlab.report import blocked
from ffnlab.report.stats import permutation_p
from ffnlab.studies import blimp as rb


def cell(effects: dict[str, float], seeds=(0.0, 0.3, -0.2, 0.1), noise=None) -> pd.DataFrame:
    """Losses = 4 + variant effect + seed offset (+ noise[v][k]): seed offsets far larger than the effects."""
    rows = []
    for v, e in effects.items():
        for k, o in enumerate(seeds):
            rows.append({"ffn": v, "seed": k, "final_val_loss": 4 + e + o + (noise or {}).get(v, [0] * 9)[k]})
    return pd.DataFrame(rows)


def test_seed_offsets_cancel_and_the_interval_matches_the_two_way_anova():
    rng = np.random.default_rng(0)
    noise = {v: rng.normal(0, 0.002, 4) for v in ("relu", "gelu", "swiglu")}
    c = cell({"relu": 0.0, "gelu": -0.02, "swiglu": -0.01}, noise=noise)
    f = blocked.fit(c)
    assert f.blocks == 4 and f.df == 6 and f.method == "pooled"
    x = f.table.to_numpy()
    resid = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + x.mean()
    se = math.sqrt((resid**2).sum() / 6 * 2 / 4)
    r = blocked.contrast(f, {"gelu": 1, "relu": -1})
    d = f.table.loc["gelu"].mean() - f.table.loc["relu"].mean()
    assert r.estimate == pytest.approx(d) and r.se == pytest.approx(se)
    assert r.hi - r.lo == pytest.approx(2 * st.t.ppf(0.975, 6) * se)
    # Welch on the same runs counts the seed offsets (±0.3) as noise: its interval is far wider
    welch = st.ttest_ind(c[c.ffn == "gelu"].final_val_loss, c[c.ffn == "relu"].final_val_loss, equal_var=False)
    assert r.p < 0.001 < welch.pvalue


def test_a_seed_missing_one_variant_is_an_incomplete_block_and_the_fit_still_removes_the_seed():
    c = cell({"relu": 0.0, "gelu": -0.02, "swish": -0.01}, noise={"swish": [0.001, -0.001, 0.002, 0.0]})
    c = c[~((c["ffn"] == "gelu") & (c["seed"] == 3))]  # seed 3 (offset +0.1) lacks gelu
    f = blocked.fit(c)
    assert f.blocks == 4 and f.table.isna().sum().sum() == 1
    r = blocked.contrast(f, {"gelu": 1, "relu": -1})
    assert r.estimate == pytest.approx(-0.02, abs=1e-3)  # swish's noise (≤ 0.002) aside, the true effect
    raw = c[c.ffn == "gelu"].final_val_loss.mean() - c[c.ffn == "relu"].final_val_loss.mean()
    assert abs(raw + 0.02) > 0.01  # raw means mix in seed 3's offset
    lone = c[c["seed"] != 1]
    lone = pd.concat([lone, pd.DataFrame([{"ffn": "relu", "seed": 9, "final_val_loss": 9.0}])])
    assert blocked.fit(lone).blocks == 3  # a seed with one variant is no block


def test_unequal_spread_falls_back_to_paired_differences():
    seeds = (0.0, 0.3, -0.2, 0.1, 0.05, -0.1, 0.2, -0.3)
    noisy = {"gelu": [0.05, -0.06, 0.04, -0.05, 0.06, -0.04, 0.05, -0.05]}  # one variant far noisier
    c = cell({"relu": 0.0, "gelu": -0.02, "swish": -0.01, "glu": 0.0}, seeds=seeds, noise=noisy)
    f = blocked.fit(c)
    assert f.spread_p < blocked.SPREAD_ALPHA and f.method == "paired"
    r = blocked.contrast(f, {"swish": 1, "relu": -1})
    d = (f.table.loc["swish"] - f.table.loc["relu"]).to_numpy()
    t = st.ttest_1samp(d, 0)
    assert r.p == pytest.approx(t.pvalue) and r.df == 7


def test_verdicts_difference_equivalent_unresolved_and_blocks_needed():
    rng = np.random.default_rng(1)
    noise = {v: rng.normal(0, 0.001, 4) for v in ("relu", "gelu", "swish", "glu")}
    c = cell({"relu": 0.0, "gelu": -0.03, "swish": 0.0005, "glu": -0.004}, noise=noise)
    t = blocked.table(blocked.fit(c), {v: {v: 1, "relu": -1} for v in ("gelu", "swish", "glu")})
    assert t.loc["gelu", "verdict"] == "difference"
    assert t.loc["swish", "verdict"] == "equivalent"  # tight around 0, inside ±0.005
    noisy = cell({"relu": 0.0, "gelu": -0.004}, seeds=(0.0, 0.3),
                 noise={"gelu": [0.003, -0.003], "relu": [-0.003, 0.003]})
    u = blocked.table(blocked.fit(noisy), {"gelu": {"gelu": 1, "relu": -1}})
    assert u.loc["gelu", "verdict"] == "unresolved" and u.loc["gelu", "blocks_needed"] > 2


def test_the_permutation_p_of_rho_is_exact_and_counts_concordant_pairs():
    ours = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=list("abcde"))
    theirs = pd.Series([1.0, 3.0, 2.0, 4.0, 5.0], index=list("abcde"))
    p, share = permutation_p(ours, theirs)
    rho = st.spearmanr(ours, theirs).statistic
    brute = np.mean([abs(st.spearmanr(list(x), theirs).statistic) >= abs(rho) - 1e-12
                     for x in permutations(ours)])
    assert p == pytest.approx(brute) and share == pytest.approx(9 / 10)
    assert math.isnan(permutation_p(ours[:2], theirs[:2])[0])


def test_blimp_tables_give_blocked_deltas_in_points_and_the_loss_relation():
    rows = []
    for k, o in enumerate((0.0, 0.02, -0.01)):
        for v, e in (("relu", 0.0), ("gelu", 0.01), ("swiglu", 0.012)):
            rows.append({"ffn": v, "seed": k, "status": "ok", "blimp_status": "scored", "d_model": 128,
                         "n_layers": 4, "tokens": 16, "blimp_pairs_per_paradigm": None,
                         "blimp_overall": 0.6 + e + o + 0.0005 * k, "final_val_loss": 4.0 - e - o,
                         "blimp.binding": 0.7 + e})
    runs = pd.DataFrame(rows)
    v = rb.by_variant(runs).set_index("ffn")
    assert v.loc["gelu", "delta"] == pytest.approx(0.01) and v.loc["gelu", "verdict"] == "difference"
    assert rb.phenomena(runs).loc["swiglu", "binding"] == pytest.approx(0.712)
    rel = rb.loss_relation(runs, n_boot=50)
    assert rel["all runs"][0] < -0.9  # lower loss, higher accuracy
    md = rb.markdown(rb.by_variant(runs), rb.phenomena(runs), rel)
    assert "| gelu | 3 |" in md and "+1.00 [" in md and "| GPT-2 | 83.0 |" in md
