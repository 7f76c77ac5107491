"""The arms view: a routed FFN or a normalizer against the dense SwiGLU with softmax, seed-blocked."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ffnlab.studies import arms


def _runs(effects: dict[tuple, float], seeds=range(4), steps=(4000,)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for t in steps:
        for s in seeds:
            block = rng.normal(0, 0.05)  # the seed's shared part: it cancels in the blocked fit
            for (ffn, experts, attention), effect in effects.items():
                rows.append({"status": "ok", "ffn": ffn, "seed": s, "run_dir": f"{ffn}-{experts}-{attention}-{s}-{t}",
                             "final_val_loss": 4.0 + block + effect + rng.normal(0, 0.001),
                             "cfg.model.moe_experts": experts, "cfg.model.moe_top_k": 2 if experts else None,
                             "cfg.model.moe_shared": None, "cfg.model.moe_match": "active" if experts else None,
                             "cfg.model.attention": attention, "cfg.trainer.max_steps": t})
    return pd.DataFrame(rows)


def test_each_arm_is_compared_with_the_dense_swiglu_within_its_blocks():
    runs = _runs({("swiglu", None, None): 0.0, ("swiglu", 8, None): -0.03, ("relu", None, None): 0.02,
                  ("swiglu", None, "sigmoid"): 0.001})
    assert arms.has_arms(runs) and not arms.has_arms(runs.assign(**{c: None for c in arms.ARM_KEYS}))
    t = arms.table(runs).set_index("arm")
    assert set(t["reference"]) == {"swiglu"}
    moe = t.loc["swiglu · 8 experts top-2 (active)"]
    assert moe["delta"] == pytest.approx(-0.03, abs=0.002) and moe["hi"] < 0 and moe["verdict"] == "difference"
    assert t.loc["relu", "verdict"] == "difference" and t.loc["relu", "delta"] > 0
    sig = t.loc["swiglu · sigmoid attention"]
    assert sig["lo90"] > -0.005 and sig["hi90"] < 0.005 and sig["verdict"] == "equivalent"
    assert (t["blocks"] == 4).all() and (t["hi"] - t["lo"] < 0.01).all()  # the seeds' 0.05 spread cancelled
    assert "| swiglu · 8 experts top-2 (active) | 4 |" in arms.markdown(t.reset_index())


def test_another_varying_setting_splits_the_comparison():
    runs = _runs({("swiglu", None, None): 0.0, ("swiglu", 8, None): -0.03}, steps=(2000, 4000))
    t = arms.table(runs)
    assert sorted(t["setting"]) == ["trainer.max_steps=2000", "trainer.max_steps=4000"]
    assert all(math.isfinite(x) for x in t["delta"])


def test_the_interaction_asks_whether_an_ffns_delta_changes_with_the_context():
    runs = _runs({("swiglu", None, None): 0.0, ("relu", None, None): 0.02,
                  ("swiglu", None, "sigmoid"): 0.01, ("relu", None, "sigmoid"): 0.06,  # relu's gap: 0.02 → 0.05
                  ("swiglu", None, "relu"): 0.03, ("relu", None, "relu"): 0.05})  # the same 0.02 gap
    t = arms.interactions(runs).set_index("context")
    assert set(t.index) == {"sigmoid attention", "relu attention"} and set(t["ffn"]) == {"relu"}
    sig, rel = t.loc["sigmoid attention"], t.loc["relu attention"]
    assert sig["delta_here"] == pytest.approx(0.05, abs=0.002)
    assert sig["delta_reference"] == pytest.approx(0.02, abs=0.002)
    assert sig["delta"] == pytest.approx(0.03, abs=0.003) and sig["verdict"] == "difference"
    assert rel["delta"] == pytest.approx(0.0, abs=0.003) and rel["verdict"] == "equivalent"
    assert (t["p_holm"] >= t["p"]).all()


def test_an_arm_gets_a_compute_multiplier_through_the_reference_arms_curve_over_budgets():
    """The reference (dense SwiGLU) ran at four budgets, the routed arm at one: its loss equals what the reference
    reaches halfway (in log compute) between this budget and twice it, so routing buys ×√2 (its interval from the Δ's
    own)."""
    ladder = {1000: 4.4, 2000: 4.2, 4000: 4.0, 8000: 3.8}
    rows = []
    rng = np.random.default_rng(1)
    for _ in range(3):
        block = rng.normal(0, 0.05)
        for steps, loss in ladder.items():
            rows.append({"ffn": "swiglu", "experts": None, "steps": steps, "loss": loss + block})
        rows.append({"ffn": "swiglu", "experts": 8, "steps": 4000, "loss": 3.9 + block + rng.normal(0, 1e-3)})
    runs = pd.DataFrame([{"status": "ok", "ffn": r["ffn"], "seed": i // 5, "run_dir": f"r{i}",
                          "final_val_loss": r["loss"], "cfg.model.moe_experts": r["experts"],
                          "cfg.model.moe_top_k": 2 if r["experts"] else None, "cfg.model.moe_shared": None,
                          "cfg.model.moe_match": "active" if r["experts"] else None, "cfg.model.attention": None,
                          "cfg.trainer.max_steps": r["steps"], "tokens": r["steps"] * 2048, "flops_per_token": 1e6}
                         for i, r in enumerate(rows)])
    t = arms.table(runs)
    assert list(t["setting"]) == ["trainer.max_steps=4000"]  # the ladder's other budgets: curve points, no table
    r = t.iloc[0]
    assert r["multiplier"] == pytest.approx(math.sqrt(2), rel=0.01) and r["bound"] == ""
    assert r["multiplier_lo"] < math.sqrt(2) < r["multiplier_hi"] and r["multiplier_hi"] < 2


def test_the_markdown_shows_the_multiplier_column_and_the_interactions():
    runs = _runs({("swiglu", None, None): 0.0, ("relu", None, None): 0.02, ("swiglu", None, "sigmoid"): 0.01,
                  ("relu", None, "sigmoid"): 0.06})
    text = arms.markdown(arms.table(runs), arms.interactions(runs))
    assert "| relu · sigmoid attention | 4 |" in text and "| – |" in text  # no curve: no multiplier
    assert "# Does the FFN ordering change with the context?" in text
    assert "| sigmoid attention | relu vs swiglu |" in text


def test_the_gated_margin_over_the_ungated_mean_gets_its_own_interaction_row():
    runs = _runs({("swiglu", None, None): 0.0, ("relu", None, None): 0.02, ("gelu", None, None): 0.01,
                  ("swiglu", None, "relu"): 0.0, ("relu", None, "relu"): 0.05, ("gelu", None, "relu"): 0.04})
    runs["gated"] = runs["ffn"].eq("swiglu")
    t = arms.interactions(runs).set_index("ffn")
    assert list(t.index) == ["gelu", "relu", "mean(gelu, relu)"]
    m = t.loc["mean(gelu, relu)"]  # the ungated mean trails SwiGLU by 0.015 with softmax, 0.045 with ReLU attention
    assert m["delta_reference"] == pytest.approx(0.015, abs=0.002)
    assert m["delta_here"] == pytest.approx(0.045, abs=0.002)
    assert m["delta"] == pytest.approx(0.03, abs=0.003) and m["verdict"] == "difference"
    assert "mean(" not in set(arms.interactions(runs.drop(columns="gated"))["ffn"].str[:5])  # no flags: no margin


def test_each_normalizer_arm_shows_its_papers_parity_claim_beside_the_measured_delta():
    from ffnlab.model.config import ATTENTION
    from ffnlab.report.paper import ATTENTION_CLAIMS

    assert set(ATTENTION_CLAIMS) == set(ATTENTION) - {"softmax"}  # every normalizer but the reference has its claim
    runs = _runs({("swiglu", None, None): 0.0, ("swiglu", None, "sigmoid"): 0.0005, ("swiglu", None, "relu"): 0.04,
                  ("relu", None, "sigmoid"): 0.03})
    c = arms.claims(arms.table(runs)).set_index("normalizer")
    assert set(c.index) == {"sigmoid", "relu"}  # relu · sigmoid is not the reference FFN's arm: no claim row
    assert c.loc["sigmoid", "verdict"] == "equivalent" and c.loc["relu", "verdict"] == "difference"
    assert "| sigmoid | Ramapuram et al. 2024 |" in arms.markdown(arms.table(runs))


def test_the_arms_view_writes_its_tables_and_a_forest_figure_with_the_runs_own_speed(tmp_path):
    from ffnlab.studies import views

    runs = _runs({("swiglu", None, None): 0.0, ("swiglu", 8, None): -0.03, ("relu", None, "sigmoid"): 0.03})
    runs["tokens_per_s"] = runs["cfg.model.moe_experts"].map(lambda e: 750.0 if e == 8 else 1000.0)
    views.arms(runs, tmp_path)
    t = pd.read_csv(tmp_path / "arms.csv").set_index("arm")
    assert t.loc["swiglu · 8 experts top-2 (active)", "speed"] == pytest.approx(0.75)
    assert "| 0.75× |" in (tmp_path / "arms.md").read_text()
    assert (tmp_path / "figures" / "arms.png").is_file()
