"""The scaling view (ffnlab.studies.scaling) on records whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ffnlab.studies import scaling, scaling_text

FPT = {64: 2.0e6, 128: 8.0e6}  # training FLOPs per token of two sizes


def runs(losses: dict[tuple[int, int, str], list[float]]) -> pd.DataFrame:
    """Finished runs from {(d_model, tokens, ffn): [loss per seed]}."""
    rows = [{"status": "ok", "ffn": ffn, "seed": s, "params_non_embedding": d * 1000, "d_model": d, "tokens": t,
             "flops_per_token": FPT[d], "final_val_loss": loss}
            for (d, t, ffn), ls in losses.items() for s, loss in enumerate(ls)]
    return pd.DataFrame(rows)


def test_the_multiplier_is_the_relu_compute_that_reaches_the_variants_loss():
    relu = pd.DataFrame({"flops": [1.0, 2.0, 4.0, 8.0], "loss": [4.0, 3.8, 3.6, 3.4]})
    assert scaling.multiplier(relu, 3.6, 2.0) == (pytest.approx(2.0), "")  # ReLU needs 4 for what it gets at 2
    assert scaling.multiplier(relu, 3.7, 1.0) == (pytest.approx(2 ** 1.5), "")  # halfway in log compute
    assert scaling.multiplier(relu, 3.3, 8.0) == (pytest.approx(2 ** 0.5), "~")  # past ReLU's best: its last segment
    assert scaling.multiplier(relu, 2.0, 8.0) == (pytest.approx(scaling.EXTRAPOLATE_MAX), "≥")  # too far: a bound
    flat = pd.DataFrame({"flops": [1.0, 2.0, 4.0], "loss": [4.0, 3.6, 3.7]})  # its last segment rises
    assert scaling.multiplier(flat, 3.5, 4.0) == (pytest.approx(0.5), "≥")
    assert scaling.multiplier(relu, 4.1, 2.0) == (pytest.approx(0.5), "≤")


def test_cells_give_delta_and_multiplier_per_size_and_budget():
    base = {(64, t, "relu"): [5.0 - 0.2 * i + e for e in (0.0, 0.01, -0.01)] for i, t in enumerate((1, 2, 4, 8))}
    glu = {(64, t, "swiglu"): [5.0 - 0.2 * (i + 1) + e for e in (0.0, 0.01, -0.01)]
           for i, t in enumerate((1, 2, 4))}  # exactly ReLU's loss at twice the tokens
    c = scaling.cells(runs(base | glu)).set_index(["tokens", "ffn"])
    assert c.loc[(2, "swiglu"), "delta"] == pytest.approx(-0.2)
    assert c.loc[(2, "swiglu"), "multiplier"] == pytest.approx(2.0) and c.loc[(2, "swiglu"), "bound"] == ""
    lo, hi = c.loc[(2, "swiglu"), ["multiplier_lo", "multiplier_hi"]]
    assert lo <= 2.0 <= hi and hi / lo < 1.2  # seeds agree to ±0.01 nats: a tight interval
    assert c.loc[(2, "swiglu"), "p"] < 0.01 and c.loc[(1, "relu"), "multiplier"] == pytest.approx(1.0)


def test_a_size_is_named_by_relus_parameter_count_whatever_other_variants_a_report_holds():
    r = runs({(64, 1, "relu"): [5.0], (64, 1, "glu"): [4.9], (64, 1, "swiglu"): [4.9]})
    r.loc[r["ffn"] == "glu", "params_non_embedding"] = 64_100  # matched variants land within 1% of ReLU's count
    r.loc[r["ffn"] == "swiglu", "params_non_embedding"] = 63_900
    assert set(scaling.points(r)["size"]) == {64_000}
    assert set(scaling.points(r[r["ffn"] != "glu"])["size"]) == {64_000}
    assert set(scaling.points(r[r["ffn"] != "relu"])["size"]) == {64_100}  # no ReLU: the largest among them


def test_a_power_law_is_recovered_from_its_own_points():
    c = np.array([1e12, 2e12, 4e12, 8e12, 16e12, 32e12])
    e, a, alpha, rms = scaling.fit_power_law(c, 2.0 + 3e3 * c ** -0.3)
    assert (e, alpha) == (pytest.approx(2.0, abs=1e-3), pytest.approx(0.3, abs=1e-3)) and rms < 1e-6
    assert a == pytest.approx(3e3, rel=1e-2)
    assert all(math.isnan(x) for x in scaling.fit_power_law(c[:2], [3.0, 2.9]))


def test_the_frontier_is_the_lower_envelope_of_the_sizes_curves_and_the_view_needs_two_cells():
    # Training FLOPs: 64: 2e6 per token, 128: 8e6 (FPT). relu's points by compute:
    #   (64, 1) 2e6: 5.0 | (64, 2) 4e6: 4.7 | (128, 1) 8e6: 4.8 | (64, 6) 1.2e7: 4.65 | (128, 2) 1.6e7: 4.2 |
    #   (128, 4) 3.2e7: 4.0
    r = runs({(64, 1, "relu"): [5.0, 5.0], (64, 2, "relu"): [4.7, 4.7], (64, 6, "relu"): [4.65, 4.65],
              (128, 1, "relu"): [4.8, 4.8], (128, 2, "relu"): [4.2, 4.2], (128, 4, "relu"): [4.0, 4.0],
              (64, 1, "gelu"): [5.1, 5.1]})
    front = scaling.frontier(scaling._means(scaling.points(r)))
    relu = front[front["ffn"] == "relu"]
    # (128, 1) loses to the cheaper (64, 2). (64, 6) beats every cheaper point, but 128's curve from 4.8 at 8e6 to
    # 4.2 at 1.6e7 passes below it at 1.2e7 (4.45 in log compute): a compute-optimal choice would not train it.
    assert relu[["tokens", "size"]].values.tolist() == [[1, 64000], [2, 64000], [2, 128000], [4, 128000]]
    assert relu["flops"].is_monotonic_increasing and relu["loss"].is_monotonic_decreasing
    assert scaling.has_scaling(r) and not scaling.has_scaling(r[r["tokens"] == 1].query("d_model == 64"))


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_a_wsd_ladder_branches_exactly_and_reports_its_scaling_view(env, tmp_path):
    """A real ladder (2 sizes × budgets 32 and 16 steps × relu/swiglu, warmup-stable-decay): each
    16-step run branches from its 32-step sibling at step 13 and ends bitwise where a run trained from scratch
    ends; ffnlab-report's scaling view gives each cell the Δ its setting has in summary.csv."""
    from conftest import TINY, ffnlab_train, records
    from ffnlab.cli.report import report

    wsd = [*TINY, "optim=wsd", "optim.warmup_steps=2", "optim.cooldown_frac=0.2", "trainer.eval_every=2",
           "trainer.curve_val_batches=1", "diagnostics.enabled=false"]
    ffnlab_train("-m", "trainer.max_steps=32,16", "model.d_model=32,48", "ffn=relu,swiglu", "seed=1", *wsd,
                 "trainer.branch_budgets=[16,32]", "sweep_name=ladder", env=env, cwd=tmp_path)
    scratch_env = dict(env, FFNLAB_OUTPUT=str(tmp_path / "scratch"))
    ffnlab_train("trainer.max_steps=16", "model.d_model=32", "ffn=swiglu", "seed=1", *wsd, env=scratch_env,
                 cwd=tmp_path)
    (scratch,) = records(tmp_path / "scratch").values()
    ladder = [r for r in records(tmp_path / "multirun").values() if r["config_hash"] == scratch["config_hash"]]
    assert len(ladder) == 1 and ladder[0]["resumed_from_step"] == 13 and "stable-13-" in ladder[0]["branched_from"]
    assert ladder[0]["final"]["val_loss"] == scratch["final"]["val_loss"]  # bitwise: the same experiment
    # Its early step (2) comes from the 32-step run, where it was a curve evaluation of one batch: no early loss.
    assert ladder[0]["early"]["val_loss"] is None and scratch["early"]["val_loss"] is not None

    out = tmp_path / "report"
    report([str(tmp_path / "multirun" / "ladder")], out, n_boot=40)
    c = pd.read_csv(out / "scaling_cells.csv")
    assert len(c) == 8 and set(c["n"]) == {1} and (out / "figures" / "scaling_multiplier.png").is_file()
    summary = pd.read_csv(out / "summary.csv")
    row = c[(c["ffn"] == "swiglu") & (c["d_model"] == 32) & (c["tokens"] == 16 * 8 * 32)].iloc[0]
    setting = summary[(summary["ffn"] == "swiglu") & summary["setting"].str.contains("d_model=32")
                      & summary["setting"].str.contains("max_steps=16")]
    assert len(setting) == 1 and row["delta"] == pytest.approx(setting["delta"].iloc[0])
    md = (out / "scaling.md").read_text()
    assert "| swiglu |" in md
    assert "## Findings by the study's rules" in md and set(c["finding"].fillna("")) == {"", "untested"}  # one seed
    # Compute spent: per size 2 runs from step 0 and 2 branches that trained 16 − 13 = 3 steps each (of 256 tokens).
    assert f"| 4 (2) | {(2 * 32 + 2 * 3) * 8 * 32:,} |" in md


def test_a_learning_rate_sweep_picks_the_best_rate_per_size_and_is_never_averaged_into_scaling_cells():
    r = runs({(64, 4, "relu"): [5.0], (64, 4, "swiglu"): [4.9], (128, 4, "relu"): [4.6], (128, 4, "swiglu"): [4.5]})
    r = pd.concat([r.assign(**{"cfg.optim.lr": lr, "final_val_loss": r["final_val_loss"] + bump * (r["d_model"] == 64)
                                                   - bump * (r["d_model"] == 128)})
                   for lr, bump in ((0.004, 0.1), (0.008, 0.0), (0.016, 0.2))], ignore_index=True)
    assert scaling.has_lr_sweep(r) and not scaling.has_scaling(r)  # two runs per (size, budget, variant, seed)
    t = scaling.lr_choice(r).set_index(["d_model", "lr"])
    assert t.loc[(64, 0.008), "best"] and t.loc[(64, 0.008), "mean"] == pytest.approx(4.95)
    assert not t.loc[(64, 0.008), "edge"]
    # at d_model 128 the loss falls with the rate: the best is the largest swept, flagged as the range's edge
    assert t.loc[(128, 0.016), "best"] and t.loc[(128, 0.016), "edge"] and t["best"].sum() == 2
    assert "widen it" in scaling_text.lr_markdown(scaling.lr_choice(r))
    one = r[r["cfg.optim.lr"] == 0.008]
    assert not scaling.has_lr_sweep(one) and scaling.has_lr_sweep(r)


def test_compute_spent_counts_a_branch_from_its_branch_point_only():
    r = runs({(64, 8000, "relu"): [4.0], (64, 2000, "relu"): [4.3], (128, 8000, "relu"): [3.9]})
    r["steps"] = r["tokens"] // 1  # one token per step keeps the arithmetic plain
    r["train_s"], r["eval_s"], r["wall_s"], r["threads"] = [7000.0, 9999.0, 3000.0], [200.0, 99.0, 600.0], \
        [7300.0, 360.0, 3700.0], [1, 1, 2]
    r["branch_step"] = [None, 1600, None]  # the 2000-token run branched from the 8000's stable phase at 1600
    r["machine"] = ["cpu A", "cpu A", "cpu B"]
    t = scaling.compute_spent(r).set_index("d_model")
    assert t.loc[64, "runs"] == 2 and t.loc[64, "branches"] == 1
    assert t.loc[64, "tokens_trained"] == 8000 + 400  # the branch trained its last 400 tokens only
    assert t.loc[64, "hours"] == pytest.approx((7200 + 360) / 3600)  # train + eval; the branch's own wall time
    assert t.loc[128, "cpu_hours"] == pytest.approx(2 * 3600 / 3600)  # two threads: twice its hours
    md = scaling_text.compute_markdown(t.reset_index())
    assert "| 64,000 | 64 | cpu A | 2 (1) | 8,400 | 2.10 | 2.10 |" in md
    assert "| **total** | | | 3 (1) | 16,400 | 3.10 | 4.10 |" in md


def test_the_largest_budget_section_gives_each_size_its_own_last_budget_and_carries_the_delta_interval():
    base = {(64, t, "relu"): [5.0 - 0.2 * i, 5.01 - 0.2 * i] for i, t in enumerate((1, 2, 4, 8))}
    base |= {(128, t, "relu"): [4.5 - 0.2 * i, 4.51 - 0.2 * i] for i, t in enumerate((1, 2, 4))}  # one budget less
    glu = {(d, t, v): [loss - 0.1, loss - 0.09] for (d, t, _), (loss, _) in base.items() for v in ("swiglu", "gelu")}
    c = scaling.cells(runs(base | glu))
    md = scaling_text.largest_markdown(c)
    assert "| FFN | 64,000 params, 8e-06M tokens | 128,000 params, 4e-06M tokens |" in md
    assert md.index("| gelu |") < md.index("| swiglu |")  # the papers' order
    assert "| swiglu | -0.100 [" in md and "| relu |" not in md
    assert "carried through ReLU's curve" in md
    # the multiplier's interval is the Δ interval's ends mapped through ReLU's curve at that size
    r = c[(c["ffn"] == "swiglu") & (c["d_model"] == 128)].sort_values("tokens").iloc[-1]
    curve = c[(c["ffn"] == "relu") & (c["size"] == r["size"])][["flops", "loss"]]
    relu = curve["loss"].iloc[-1]
    assert r["multiplier_lo"] == scaling.multiplier(curve, relu + r["delta_hi"], r["flops"])[0]
    assert r["multiplier_hi"] == scaling.multiplier(curve, relu + r["delta_lo"], r["flops"])[0]
    assert r["multiplier_lo"] < r["multiplier"] < r["multiplier_hi"]


def test_agreement_ranks_one_variant_set_in_every_cell_and_follows_the_papers_order():
    # Paper order by Shazeer's 65k column: geglu < swiglu < reglu < glu < gelu < swish < relu (lower is better).
    order = ["geglu", "swiglu", "reglu", "glu", "gelu", "swish", "relu"]
    small = {(64, t, v): [4.0 + 0.01 * i, 4.002 + 0.01 * i] for t in (1, 2) for i, v in enumerate(order)}
    small[(64, 1, "mishglu")] = [3.0, 3.0]  # no paper names it: never ranked
    small[(64, 1, "bilinear")] = [3.0, 3.0]  # only the smallest size has it: would tilt xs's ρ
    large = {(128, t, v): [3.0 - 0.01 * i, 3.002 - 0.01 * i] for t in (1, 2) for i, v in enumerate(order)}  # reversed
    r = runs(small | large)
    assert scaling.agreement_set(scaling.points(r))[0] == ["relu", "gelu", "swish", "glu", "reglu", "geglu",
                                                             "swiglu"]
    a = scaling.agreement(r, n_boot=50).set_index(["d_model", "tokens", "reference"])
    sh = "Shazeer 2020, 65,536 steps"
    assert (a["n_variants"] == 7).all()
    assert a.loc[(64, 1, sh), "spearman_rho"] == pytest.approx(1.0)  # bilinear and mishglu left out
    assert a.loc[(128, 2, sh), "spearman_rho"] == pytest.approx(-1.0)
    lo, hi = a.loc[(64, 1, sh), ["rho_lo", "rho_hi"]]
    assert lo <= 1.0 <= hi and lo > 0.8  # seeds 0.002 apart, variants 0.01 apart: the order survives resampling
    md = scaling_text.agreement_markdown(a.reset_index(), scaling.agreement_set(scaling.points(r))[0])
    assert "| 64,000 | 1 | 7 | +1.00 [" in md and "| 128,000 | 2 | 7 | -1.00 [" in md


def test_a_size_with_fewer_than_three_paper_variants_does_not_narrow_the_agreement_set():
    order = ["relu", "gelu", "swish", "glu"]
    r = runs({(64, 1, v): [4.0 - 0.01 * i] for i, v in enumerate(order)} | {(128, 1, "relu"): [3.9],
                                                                             (128, 1, "gelu"): [3.8]})
    p = scaling.points(r)
    assert scaling.agreement_set(p)[0] == order  # the 128 size (two variants) gives no ρ and is left aside
    a = scaling.agreement(r, n_boot=10)
    assert a[a["d_model"] == 128]["spearman_rho"].isna().all() and a[a["d_model"] == 64]["n_variants"].eq(4).all()


def test_a_fit_that_misses_its_points_by_more_than_the_seed_spread_is_flagged():
    budgets = (1, 2, 4, 8, 16)
    law = {t: 2.0 + 3.0 * (FPT[64] * t / 1e12) ** -0.3 for t in budgets}  # a power law in compute, exactly
    kinked = {t: law[t] + (0.05 if t == 4 else 0.0) for t in budgets}  # one point far off it
    for curve, flagged in ((law, False), (kinked, True)):
        r = runs({(64, t, "relu"): [loss - 0.001, loss + 0.001] for t, loss in curve.items()})
        f = scaling.fits(r, n_boot=0).set_index("ffn")
        assert f.loc["relu", "seed_std"] == pytest.approx(0.001 * 2 ** 0.5)
        assert ("†" in scaling_text.fits_markdown(f.reset_index()).split("\n")[4]) == flagged


def test_the_verdict_reads_its_numbers_from_the_cells():
    base = {(d, t, "relu"): [5.0 - 0.2 * i - (d == 128) * 0.3 + e for e in (0.0, 0.01, -0.01)]
            for d in (64, 128) for i, t in enumerate((1, 2, 4))}
    losses = dict(base)
    for (d, t, _), ls in base.items():
        losses[(d, t, "swiglu")] = [x - (0.05 if d == 64 else 0.10) for x in ls]  # its lead doubles with width
        losses[(d, t, "gelu")] = [x + 0.05 for x in ls]
    r = runs(losses)
    r["gated"] = r["ffn"] == "swiglu"
    c = scaling.cells(r)
    text = scaling_text.verdict_markdown(r, c, scaling.agreement(r, n_boot=40))
    assert text.startswith("## Verdict\n\nAt the largest size (128,000 non-embedding parameters)")
    assert "1 of 2 variants have a lower mean loss than ReLU; swiglu (-0.100 [" in text and "]) leads it" in text
    assert "gelu (+0.050 [" in text and "]) trails it so; 2 of them survive Holm's correction" in text
    assert "(swiglu) differ from ReLU by a mean Δ of -0.050 at 64,000, -0.100 at 128,000 parameters" in text
    assert "-0.100 → -0.100 → -0.100 from" in text
    begun = runs({(128, 1, "relu"): [4.0, 4.01]}).assign(d_model=256, params_non_embedding=256_000,
                                                          flops_per_token=3.2e7, gated=False)  # ReLU only so far
    r_next = pd.concat([r, begun], ignore_index=True)
    assert scaling_text.verdict_markdown(r_next, scaling.cells(r_next), scaling.agreement(r_next, n_boot=0)
                                    ).startswith("## Verdict\n\nAt the largest size (128,000 non-embedding")
    swiglu = c[(c["size"] == 128000) & (c["tokens"] == 4) & (c["ffn"] == "swiglu")].iloc[0]
    assert f"swiglu {swiglu['bound']}{swiglu['multiplier']:.2f}×" in text and "glu " not in text.split("swiglu")[0]
    assert "*" not in text  # swiglu's Δ is a finding: its multiplier is claimed
    noisy = dict(losses)
    for (d, t, _), ls in base.items():  # leads by 0.02 on average, by -0.03 to +0.07 per seed: a null result
        noisy[(d, t, "geglu")] = [x - 0.02 + e for x, e in zip(ls, (0.05, -0.05, 0.0), strict=True)]
    r2 = runs(noisy).assign(gated=lambda df: df["ffn"].isin(["swiglu", "geglu"]))
    c2 = scaling.cells(r2)
    text2 = scaling_text.verdict_markdown(r2, c2, scaling.agreement(r2, n_boot=0))
    geglu = c2[(c2["size"] == 128000) & (c2["tokens"] == 4) & (c2["ffn"] == "geglu")].iloc[0]
    assert geglu["delta_lo"] < 0 < geglu["delta_hi"]
    assert f"geglu {geglu['bound']}{geglu['multiplier']:.2f}× [" in text2 and "]*" in text2.split("geglu ")[-1]
    assert "*: not a finding by the study's rules" in text2 and "]*" not in text2.split("swiglu ")[-1].split(",")[0]


def test_the_gated_margin_leaves_out_a_size_in_progress_and_one_sizes_extras():
    def sets(**have):
        c = pd.DataFrame([{"size": z, "ffn": v} for z, vs in have.items() for v in ["relu", *vs]])
        c["size"] = c["size"].map({"xs": 1, "s": 2, "m": 3})
        r = pd.DataFrame({"ffn": c["ffn"], "gated": c["ffn"].str.endswith("glu") | c["ffn"].eq("bilinear")})
        return scaling.gated_set(r, c)

    ladder = ["glu", "reglu", "swiglu"]
    assert sets(xs=ladder + ["bilinear"], s=ladder, m=["gelu"]) == (["glu", "reglu", "swiglu"], [1, 2])
    assert sets(xs=ladder + ["bilinear"], s=ladder, m=["gelu", "glu"]) == (["glu", "reglu", "swiglu"], [1, 2])
    assert sets(xs=ladder + ["bilinear"], s=ladder, m=ladder) == (["glu", "reglu", "swiglu"], [1, 2, 3])
    assert sets(xs=["glu", "reglu"], s=["reglu", "swiglu"]) == (["glu", "reglu"], [1])  # 2 pairs either way
    assert sets(xs=["gelu"], s=["gelu"]) == ([], [])


def test_a_size_in_progress_leaves_the_agreement_set_and_its_cells_unranked(monkeypatch):
    monkeypatch.setitem(FPT, 256, 3.2e7)
    order = ["geglu", "swiglu", "reglu", "glu", "gelu", "swish", "relu"]
    done = {(d, 1, v): [4.0 + 0.01 * i, 4.002 + 0.01 * i] for d in (64, 128) for i, v in enumerate(order)}
    begun = {(256, 1, v): [3.0 + 0.01 * i, 3.002 + 0.01 * i] for i, v in enumerate(["gelu", "swish", "relu"])}
    r = runs(done | begun)
    assert scaling.agreement_set(scaling.points(r)) == (
        ["relu", "gelu", "swish", "glu", "reglu", "geglu", "swiglu"], [64000, 128000])
    a = scaling.agreement(r, n_boot=0)
    assert set(a["size"]) == {64000, 128000} and (a["n_variants"] == 7).all()
    md = scaling_text.agreement_markdown(a, scaling.agreement_set(scaling.points(r))[0], [256000])
    assert "Left out until it has them all: 256,000 params." in md


def test_agreement_vs_compute_draws_an_interval_that_misses_its_point():
    import matplotlib

    matplotlib.use("Agg")
    from ffnlab.report import plots

    agree = pd.DataFrame({"reference": ["P", "P"], "size": [1, 1], "tokens": [1, 2], "flops": [1.0, 2.0],
                          "spearman_rho": [0.8, 0.1], "rho_lo": [0.85, -0.2], "rho_hi": [1.0, 0.4]})
    ax = plots.agreement_vs_compute(agree)  # a percentile interval above ρ itself (few variants, ties)
    assert len(ax.collections) == 1 and ax.collections[0].get_segments()[0][0][1] == pytest.approx(0.85)
