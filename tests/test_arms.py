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
