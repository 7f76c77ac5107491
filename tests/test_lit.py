"""Optimizers and schedules: values at chosen steps, identical for every variant."""

import math

import pytest
import torch

from ffnlab.runs.lit import build_optimizer, inverse_sqrt, warmup_cosine


def test_warmup_cosine_values():
    assert warmup_cosine(0, 10, 110, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 110, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway down the cosine
    assert warmup_cosine(110, 10, 110, 0.1) == pytest.approx(0.1)


def test_inverse_sqrt_is_t5_rsqrt_with_final_linear_decay():
    w, total = 10_000, 524_288
    base = 1 / math.sqrt(w)
    assert base * inverse_sqrt(0, w, total) == pytest.approx(0.01)
    assert base * inverse_sqrt(10_000, w, total) == pytest.approx(0.01)
    assert base * inverse_sqrt(40_000, w, total) == pytest.approx(1 / math.sqrt(40_000))
    start = total * 0.9  # linear decay over the last 10%
    assert base * inverse_sqrt(int(start), w, total) == pytest.approx(1 / math.sqrt(int(start)), rel=1e-4)
    mid = int(start + (total - start) / 2)
    assert inverse_sqrt(mid, w, total) == pytest.approx(math.sqrt(w / mid) * (total - mid) / (total - start))
    assert inverse_sqrt(total, w, total) == 0.0


@pytest.mark.parametrize("name", ["adamw", "adafactor"])
def test_build_optimizer_decays_matrices_only(name):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.LayerNorm(4))
    o = {"name": name, "lr": 1e-2, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "warmup_frac": 0.1,
         "min_lr_ratio": 0.1, "warmup_steps": 5, "decay_frac": 0.1}
    opt, sched = build_optimizer(model.parameters(), o, max_steps=100)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in opt.param_groups] == [1, 2]
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    sched.step()


def test_unknown_optimizer_is_an_error():
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer(torch.nn.Linear(2, 2).parameters(), {"name": "sgd", "weight_decay": 0.0}, 10)
