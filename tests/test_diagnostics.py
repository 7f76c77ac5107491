"""Activation diagnostics: each statistic against a direct computation, and no effect on training (bitwise)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import TINY, ffnlab_train, records
from ffnlab.model.diagnostics import LAYER_STATS, SAT, SMALL, fixed_tokens, layer_stats, measure
from ffnlab.model.transformer import ModelConfig, Transformer


def _model(ffn: str, seed: int = 0) -> Transformer:
    return Transformer(ModelConfig(vocab_size=256, seq_len=32, d_model=32, n_layers=2, n_heads=2, ffn=ffn), seed)


def _idx(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (16, 32), generator=torch.Generator().manual_seed(seed))


def _ffn_inputs(model: Transformer, idx: torch.Tensor) -> list[torch.Tensor]:
    seen = []
    hooks = [b.ffn.register_forward_hook(lambda m, i, o: seen.append(i[0])) for b in model.blocks]
    with torch.no_grad():
        model(idx)
    for h in hooks:
        h.remove()
    return seen


def test_relu_zeros_are_the_negative_pre_activations():
    model, idx = _model("relu"), _idx()
    d = measure(model, idx)
    for layer, x in enumerate(_ffn_inputs(model, idx)):
        negative = float((model.blocks[layer].ffn.w(x) < 0).double().mean())
        assert d["zero_frac"][layer] == negative
        assert 0.3 < negative < 0.7  # a real mix, so equality is a real check


@pytest.mark.parametrize("ffn,branch", [("relu", "w"), ("reglu", "v")])
def test_a_unit_forced_dead_is_counted(ffn, branch):
    model, idx = _model(ffn), _idx()
    assert measure(model, idx)["dead_frac"] == [0.0, 0.0]
    with torch.no_grad():
        getattr(model.blocks[1].ffn, branch).weight[:3] = 0.0  # 3 hidden units of layer 1 never fire
    d_ff = model.cfg.d_ff
    assert measure(model, idx)["dead_frac"] == [0.0, 3 / d_ff]


def test_a_bilinear_ffn_reports_no_sparsity_and_gated_variants_report_both_branches():
    d = measure(_model("bilinear"), _idx())
    assert d["zero_frac"] == [0.0, 0.0] and d["dead_frac"] == [0.0, 0.0]
    assert all(v > 0 for v in d["lin_rms"]) and d["act_mean"] == [None, None]  # identity: not a bounded gate
    plain = measure(_model("gelu"), _idx())
    assert plain["lin_rms"] == [None, None]


def test_sigmoid_saturation_and_scale_statistics_match_a_direct_computation():
    g = torch.Generator().manual_seed(1)
    h_w = torch.randn(64, 50, generator=g, dtype=torch.float64) * 4
    h_v = torch.randn(64, 50, generator=g, dtype=torch.float64)
    act = torch.sigmoid(h_w)
    hidden = act * h_v
    resid_in = torch.randn(64, 16, generator=g, dtype=torch.float64) * 2
    ffn_out = torch.full((64, 16), 0.5, dtype=torch.float64)
    resid_out = resid_in + ffn_out
    s = layer_stats(h_w, h_v, act, hidden, ffn_out, resid_in, resid_out, bounded=True)
    a, x = act.numpy(), resid_out.numpy()
    assert s["sat_low"] == pytest.approx(np.mean(a < SAT)) and s["sat_high"] == pytest.approx(np.mean(a > 1 - SAT))
    assert 0.2 < s["sat_low"] < 0.5  # σ(4z) saturates often, so the counts are exercised
    assert s["act_mean"] == pytest.approx(a.mean())
    assert s["ffn_write"] == pytest.approx(0.5 / np.sqrt(np.mean(resid_in.numpy() ** 2)))
    c = x - x.mean(-1, keepdims=True)
    assert s["resid_kurtosis"] == pytest.approx(np.mean((c**4).mean(-1) / (c**2).mean(-1) ** 2))
    assert s["resid_max_ratio"] == pytest.approx(np.abs(x).max() / np.sqrt(np.mean(x**2)))
    h = hidden.numpy()
    assert s["small_frac"] == pytest.approx(np.mean(np.abs(h) < SMALL * np.sqrt(np.mean(h**2))))
    unbounded = layer_stats(h_w, None, act, act, ffn_out, resid_in, resid_out, bounded=False)
    assert unbounded["sat_low"] is None and unbounded["lin_rms"] is None


def test_measure_leaves_the_model_unchanged_and_every_impl_measures_alike():
    model, idx = _model("swiglu"), _idx()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = measure(model, idx)
    assert model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert set(d) == set(LAYER_STATS)
    for impl in ("fused", "recompute"):
        other = Transformer(model.cfg, seed=0, ffn_impl=impl)
        got = measure(other, idx)
        for stat, values in d.items():
            assert got[stat] == (values if None in values else pytest.approx(values, rel=1e-5, abs=1e-7)), stat


def test_fixed_tokens_are_the_first_windows_of_the_split():
    tokens = np.arange(1000)
    idx = fixed_tokens(tokens, 300, 32)
    assert idx.shape == (9, 32) and idx[1, 0] == 32 and idx[-1, -1] == 287
    assert fixed_tokens(tokens[:70], 4096, 32).shape == (2, 32)  # a short split gives what it has


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_diagnostics_do_not_change_the_loss_curve_and_are_recorded_at_every_evaluation(env, tmp_path):
    args = ["-m", "ffn=glu", *TINY, "trainer.max_steps=16", "reuse_runs=false", "model.dropout=0.1"]  # + RNG
    ffnlab_train(*args, "sweep_name=on", env=env, cwd=tmp_path)
    ffnlab_train(*args, "sweep_name=off", "diagnostics.enabled=false", env=env, cwd=tmp_path)
    (on,) = records(tmp_path / "multirun" / "on").values()
    (off,) = records(tmp_path / "multirun" / "off").values()
    assert off["diagnostics"] is None and on["config_hash"] == off["config_hash"]  # how, not what
    assert [(h["train_loss"], h["val_loss"]) for h in on["history"]] == \
        [(h["train_loss"], h["val_loss"]) for h in off["history"]]
    assert on["final"] == off["final"]
    d = on["diagnostics"]
    assert [p["step"] for p in d["points"]] == [h["step"] for h in on["history"]]
    assert d["tokens"] > 0 and 0 < d["seconds"] < on["wall_s"]
    last = d["points"][-1]
    assert len(last["layers"]["zero_frac"]) == on["n_layers"] and 0 < last["layers"]["act_mean"][0] < 1
    matrices = list(last["weights"]["grad_norm"])
    assert "blocks.0.ffn.v.weight" in matrices and all(last["weights"]["update_ratio"][m] > 0 for m in matrices)
    json.dumps(d, allow_nan=False)  # plain JSON, no NaN


def test_the_attention_statistics_match_a_direct_computation_and_show_only_where_recorded():
    import pandas as pd

    from ffnlab.model.attention import CausalSelfAttention
    from ffnlab.model.diagnostics import attention_stats
    from ffnlab.report import diagnostics as rd

    torch.manual_seed(0)
    attn = CausalSelfAttention(8, 2, 0.0, "relu")
    x, cos, sin = torch.randn(2, 5, 8), torch.ones(5, 2), torch.zeros(5, 2)
    got = attention_stats(attn, x, cos, sin)
    q, k, _ = attn.qkv_heads(x, cos, sin)
    w = attn.weights(q, k)
    p = w / w.sum(-1, keepdim=True).clamp_min(1e-30)
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(-1).mean()
    assert got["attn_entropy"] == pytest.approx(float(entropy), rel=1e-5)
    assert got["attn_mass"] == pytest.approx(float(w.sum(-1).mean()), rel=1e-5) and got["attn_mass"] < 1  # ReLU / n
    assert got["attn_sink"] == pytest.approx(float(p[..., 1:, 0].mean()), rel=1e-5)
    base = {"ffn": "relu", "horizon": "final", "n_seeds": 2, "zero_frac": 0.5, "zero_frac_std": 0.1}
    with_attn = pd.DataFrame([{**base, "attn_entropy": 1.2, "attn_entropy_std": 0.1}])
    meta = pd.DataFrame({"tokens": [64], "seconds": [1.0], "wall_s": [100.0]})
    assert "attn. entropy" in rd.markdown(with_attn) and "attn. entropy" not in rd.markdown(pd.DataFrame([base]))
    assert "the sink" in rd.tables_markdown(with_attn, meta)
    assert "sink" not in rd.tables_markdown(pd.DataFrame([base]), meta)  # a published report's legend unchanged
