"""The routed FFN (ffnlab.model.moe): one expert is the dense FFN, routing and the balance loss by hand, gradients reach
the router, parameter and FLOP accounting per matching rule, and the training loss carries the auxiliary losses."""

from __future__ import annotations

import pytest
import torch

from ffnlab.errors import ConfigError
from ffnlab.model.ffn import FeedForward, get_variant
from ffnlab.model.moe import MoEFeedForward, MoESpec
from ffnlab.model.transformer import ModelConfig, Transformer


@pytest.mark.parametrize("name", ["swiglu", "relu", "gelu", "relu2"])
def test_one_expert_top_one_is_the_dense_ffn_exactly(name):
    torch.manual_seed(0)
    dense = FeedForward(16, 24, get_variant(name))
    moe = MoEFeedForward(16, 24, get_variant(name), MoESpec(experts=1, top_k=1))
    moe.experts[0].load_state_dict(dense.state_dict())
    x = torch.randn(3, 5, 16, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    a, b = dense(x), moe(x2)
    assert torch.equal(a, b)
    a.square().sum().backward()
    b.square().sum().backward()
    assert torch.equal(x.grad, x2.grad)
    for (n, p), (_, q) in zip(dense.named_parameters(), moe.experts[0].named_parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), n


def test_top_k_routing_and_the_balance_loss_match_a_hand_computation():
    torch.manual_seed(1)
    spec = MoESpec(experts=4, top_k=2, balance=1.0, zloss=0.0)
    moe = MoEFeedForward(8, 6, get_variant("relu"), spec)
    h = torch.randn(5, 8)
    out = moe(h[None])[0]
    logits = h @ moe.router.weight.T
    expected, load = torch.zeros(5, 8), torch.zeros(4)
    for t in range(5):
        order = sorted(range(4), key=lambda e: -logits[t, e].item())[:2]
        w = torch.softmax(logits[t, order], dim=0)
        for e, we in zip(order, w, strict=True):
            expected[t] += we * moe.experts[e](h[t:t + 1])[0]
            load[e] += 1 / (5 * 2)
    assert torch.allclose(out, expected, atol=1e-6)
    probs = torch.softmax(logits, dim=-1).mean(dim=0)
    assert moe.aux.item() == pytest.approx((4 * (load * probs).sum()).item(), rel=1e-6)
    assert torch.allclose(moe.stats["load"], load) and moe.stats["load"].sum().item() == pytest.approx(1.0)


def test_the_router_receives_gradient_and_the_z_loss_counts():
    torch.manual_seed(2)
    moe = MoEFeedForward(8, 6, get_variant("swiglu"), MoESpec(experts=4, top_k=2, balance=0.0, zloss=1.0))
    h = torch.randn(2, 7, 8)
    (moe(h).square().sum() + moe.aux).backward()
    assert moe.router.weight.grad.abs().sum() > 0
    z = torch.logsumexp(h.reshape(-1, 8) @ moe.router.weight.T, dim=-1).square().mean()
    assert moe.aux.item() == pytest.approx(z.item(), rel=1e-6)


def _model(**moe):
    return Transformer(ModelConfig(vocab_size=256, seq_len=16, d_model=48, n_layers=2, n_heads=2, ffn="swiglu",
                                   **moe))


def test_matched_active_keeps_the_active_ffn_and_matched_total_keeps_all_of_it():
    dense = _model().param_counts()
    active = _model(moe_experts=8).param_counts()
    total = _model(moe_experts=8, moe_match="total").param_counts()
    shared = _model(moe_experts=16, moe_shared=1).param_counts()
    router = 2 * 48 * 8
    assert abs(active["ffn_active"] - router - dense["ffn"]) / dense["ffn"] < 0.02  # each expert dense / 2
    assert active["ffn"] == 2 * (8 * 3 * 48 * 64) + router  # 8 experts of width 64 (dense 128 / top-2)
    assert abs(total["ffn"] - router - dense["ffn"]) / dense["ffn"] < 0.05
    assert total["ffn_active"] < active["ffn_active"]
    assert shared["ffn_active"] == 2 * (3 * 3 * 48 * 43) + 2 * 48 * 16  # top-2 + 1 shared, width 128 / 3
    f_dense, f_active = _model().flops_per_token()["forward"], _model(moe_experts=8).flops_per_token()["forward"]
    assert f_active - f_dense == 2 * (active["ffn_active"] - dense["ffn"])  # only the active path does work


def test_the_training_loss_carries_the_auxiliary_losses_and_validation_does_not():
    from ffnlab.runs.lit import LitLM

    cfg = ModelConfig(vocab_size=256, seq_len=16, d_model=48, n_layers=2, n_heads=2, ffn="swiglu", moe_experts=4)
    optim = {"name": None, "lr": 1e-3, "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": 1e-8, "warmup_frac": 0.1,
             "min_lr_ratio": 0.1}
    lit = LitLM(vars(cfg), seed=0, optim=optim, max_steps=4)
    lit.log = lambda *a, **k: None
    batch = torch.randint(0, 256, (2, 17))
    train = lit.shared_step(batch, "train")
    _, lm = lit.model(batch[:, :-1], batch[:, 1:])
    assert train.item() == pytest.approx((lm + lit.model.aux_loss()).item(), rel=1e-6) and train > lm
    assert lit.shared_step(batch, "val").item() == pytest.approx(lm.item() * 32, rel=1e-6)  # a sum, no aux


def test_a_bad_expert_count_or_top_k_is_refused():
    with pytest.raises(ConfigError, match="moe_top_k=3 must be between 1 and model.moe_experts=2"):
        MoESpec(experts=2, top_k=3)
    with pytest.raises(ConfigError, match="moe_match=half"):
        ModelConfig(moe_experts=4, moe_match="half")


def test_routing_diagnostics_report_each_layers_load_entropy_and_hidden_statistics():
    from ffnlab.model.diagnostics import measure, routing

    model = _model(moe_experts=4)
    idx = torch.randint(0, 256, (4, 16))
    stats = measure(model, idx)
    assert len(stats["zero_frac"]) == 2 and all(0 <= v <= 1 for v in stats["small_frac"])
    r = routing(model)
    assert [sum(x) for x in r["load"]] == pytest.approx([1.0, 1.0])
    assert all(cv >= 0 for cv in r["load_cv"]) and all(0 < h <= torch.log(torch.tensor(4.0)) for h in r["entropy"])
    assert [len(t) for t in r["top1"]] == [64, 64]
    assert routing(_model()) is None  # a dense model has no routing


def test_the_report_summarises_routing_per_variant_over_layers_then_seeds():
    import pandas as pd

    from ffnlab.report import diagnostics as diag

    rows = []
    for seed, cvs in ((0, (0.1, 0.3)), (1, (0.3, 0.5))):  # two layers per run: run means 0.2 and 0.4
        for layer, cv in enumerate(cvs):
            for stat, value in (("load_cv", cv), ("entropy", 1.5), ("top1_changed", None)):
                if value is not None:
                    rows.append({"run_dir": f"r{seed}", "ffn": "swiglu", "seed": seed, "step": 8, "horizon": "final",
                                 "kind": "moe", "where": str(layer), "stat": stat, "value": value})
    rows.append({**rows[0], "horizon": "", "step": 4, "value": 9.0})  # an earlier evaluation: not the end
    t = diag.moe_summary(pd.DataFrame(rows))
    assert t.loc["swiglu", "load_cv"] == pytest.approx(0.3) and t.loc["swiglu", "n"] == 2
    assert t.loc["swiglu", "load_cv_std"] == pytest.approx(0.1414213, rel=1e-5)
    md = diag.moe_markdown(t)
    assert "| swiglu | 2 | 0.300 ± 0.141 | 1.500 ± 0.000 | – |" in md
    assert diag.moe_summary(pd.DataFrame(rows).assign(kind="layer")).empty  # a dense model: no table
