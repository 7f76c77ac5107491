"""`ffnlab-report` on a real tiny sweep: numbers checked against independent computations; bad records."""

import json
import math
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ffnlab.cli.report import main as report_main
from ffnlab.report.paper import SHAZEER
from ffnlab.report.stats import holm, rank_corr_rows, rank_differences, welch
from ffnlab.report.tables import LATEX_COLUMNS, verdict
from ffnlab.runs.keys import identity_hash


def _finals(sweep):
    out = {}
    for p in sweep.rglob("metrics.json"):
        r = json.loads(p.read_text())
        out.setdefault(r["ffn"], []).append(r["final"]["val_loss"])
    return {k: np.array(v) for k, v in out.items()}


def _finals_by_seed(sweep):
    rows = [json.loads(p.read_text()) for p in sweep.rglob("metrics.json")]
    return pd.DataFrame([(r["ffn"], r["seed"], r["final"]["val_loss"]) for r in rows],
                        columns=["ffn", "seed", "loss"]).pivot(index="ffn", columns="seed", values="loss")


@pytest.fixture
def report(small_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(small_sweep, sweep)
    out = tmp_path / "out"
    return sweep, out


def test_report_numbers_match_independent_computation(report):
    sweep, out = report
    report_main([str(sweep), "--out", str(out), "--bootstrap", "200"])
    s = pd.read_csv(out / "summary.csv").set_index("ffn")
    finals = _finals(sweep)
    relu = finals["relu"]
    for name, v in finals.items():
        assert s.loc[name, "n_seeds"] == 3
        # summary.csv holds 12 significant digits (no ulp noise across libraries and machines)
        assert s.loc[name, "val_loss"] == pytest.approx(v.mean(), rel=1e-11)
        assert s.loc[name, "val_loss_std"] == pytest.approx(v.std(ddof=1), rel=1e-11)
        assert s.loc[name, "delta"] == pytest.approx(v.mean() - relu.mean(), rel=1e-9, abs=1e-12)
        if name == "relu":
            continue
        # Welch interval, written out: Welch–Satterthwaite df and the t quantile.
        va, vb = v.var(ddof=1) / 3, relu.var(ddof=1) / 3
        df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
        half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
        assert s.loc[name, "delta_lo"] == pytest.approx(v.mean() - relu.mean() - half, rel=1e-9)
        assert s.loc[name, "delta_hi"] == pytest.approx(v.mean() - relu.mean() + half, rel=1e-9)
        assert s.loc[name, "p_welch"] == pytest.approx(stats.ttest_ind(v, relu, equal_var=False).pvalue, rel=1e-9)
    # The seed-blocked interval, written out: the two-way (variant × seed) residual, df (V−1)(B−1), SE √(2·MSE/B).
    by_seed = _finals_by_seed(sweep)
    x = by_seed.to_numpy()
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    dof = (x.shape[0] - 1) * (x.shape[1] - 1)
    se = math.sqrt((resid**2).sum() / dof * 2 / x.shape[1])
    for name in finals:
        if name == "relu":
            continue
        d = by_seed.loc[name].mean() - by_seed.loc["relu"].mean()
        half = stats.t.ppf(0.975, dof) * se
        assert s.loc[name, "test"] == "seed-blocked"
        assert s.loc[name, "blocked_lo"] == pytest.approx(d - half, rel=1e-9)
        assert s.loc[name, "blocked_hi"] == pytest.approx(d + half, rel=1e-9)
        assert s.loc[name, "p_blocked"] == pytest.approx(2 * stats.t.sf(abs(d) / se, dof), rel=1e-9)
    # Ranks and the rank correlation with Shazeer's 65k column, computed here from the raw records.
    means = pd.Series({k: v.mean() for k, v in finals.items()})
    assert (s["rank"] == means.rank(method="min").astype(int).reindex(s.index)).all()
    rho = stats.spearmanr(means[list(finals)], [SHAZEER[k][0] for k in finals]).statistic
    agreement = (out / "agreement.md").read_text()
    assert f"| Shazeer 2020, 65,536 steps | 3 | {rho:.2f} [" in agreement
    assert "**Verdict.**" in agreement
    # Our early (1/8-budget) ranking against the papers' own 1/8-budget column, from the raw records too.
    early = {}
    for p in sweep.rglob("metrics.json"):
        r = json.loads(p.read_text())
        early.setdefault(r["ffn"], []).append(r["early"]["val_loss"])
    early_means = pd.Series({k: np.mean(v) for k, v in early.items()})
    rho_early = stats.spearmanr(early_means[list(finals)], [SHAZEER[k][0] for k in finals]).statistic
    assert f"| early (1/8) | Shazeer 2020, 65,536 steps | 3 | {rho_early:.2f} [" in agreement
    # The headline: one row per variant with its Δ and interval, and the same verdict as agreement.md.
    head = (out / "headline.md").read_text()
    for name in finals:
        row = next(ln for ln in head.splitlines() if ln.startswith(f"| {name} |"))
        lo, hi = s.loc[name, "blocked_lo"], s.loc[name, "blocked_hi"]
        if name != "relu":
            assert f"{s.loc[name, 'delta']:+.3f} [{lo:+.3f}, {hi:+.3f}]" in row
    assert head.split("**Verdict.**")[1] == agreement.split("**Verdict.**")[1]
    relu_row = next(ln for ln in (out / "table.md").read_text().splitlines() if ln.startswith("| relu |"))
    assert "(baseline)" in relu_row and "[" not in relu_row  # no interval of ReLU against itself
    for f in ("runs.csv", "curves.csv", "table.md", "table.tex", "REPORT_COMMAND.txt"):
        assert (out / f).stat().st_size > 0
    # table.tex: the paper-sized columns as a booktabs tabular (pandas' Styler), LaTeX's special characters escaped
    tex = (out / "table.tex").read_text().splitlines()
    assert tex[0] == r"\begin{tabular}{l" + "r" * (len(LATEX_COLUMNS) - 1) + "}"
    assert tex[1] == r"\toprule" and tex[3] == r"\midrule" and tex[-2:] == [r"\bottomrule", r"\end{tabular}"]
    assert sorted(r.split(" & ")[0] for r in tex[4:-2]) == sorted(finals)
    assert "±" not in "".join(tex) and "Δ" not in "".join(tex) and "%" not in "".join(tex).replace(r"\%", "")
    for fig in ("final_loss", "curves", "delta_vs_paper", "delta_by_horizon", "loss_vs_flops", "loss_vs_time",
                "throughput_memory"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000 and (out / "figures" / f"{fig}.svg").exists()
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 9 * 8 and {"step", "tokens", "train_loss", "val_loss"} <= set(curves.columns)


def test_corrupt_and_missing_records_are_listed_not_fatal(report, recwarn):
    sweep, out = report
    victim = sorted(sweep.glob("*ffn=swiglu,*seed=2,*"))[0] / "metrics.json"
    victim.write_text(victim.read_text()[:100])  # truncated
    (sweep / "ffn=gelu,seed=9" / ".hydra").mkdir(parents=True)
    (sweep / "ffn=gelu,seed=9" / ".hydra" / "config.yaml").write_text("ffn: gelu\nseed: 9\n")
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["status"].unique()) == ["corrupt", "missing", "ok"]
    assert runs.loc[runs["status"] == "missing", "seed"].tolist() == [9]
    s = pd.read_csv(out / "summary.csv").set_index("ffn")
    assert s.loc["swiglu", "n_seeds"] == 2 and s.loc["gelu", "n_seeds"] == 3
    assert any("corrupt" in str(w.message) for w in recwarn)


def test_mixed_settings_are_split_never_averaged(report, recwarn):
    sweep, out = report
    other = next(sweep.glob("*ffn=relu,*seed=0,*"))
    clone = sweep / "other-size"
    shutil.copytree(other, clone)
    rec = json.loads((clone / "metrics.json").read_text())
    rec["config"]["model"]["d_model"] = 64
    rec["config_hash"] = identity_hash(rec["config"], rec["data"]["sha256"])  # a valid record of another size
    rec["final"]["val_loss"] = rec["history"][-1]["val_loss"] = 99.0
    (clone / "metrics.json").write_text(json.dumps(rec))
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    s = pd.read_csv(out / "summary.csv")
    assert sorted(s["setting"].unique()) == ["model.d_model=48", "model.d_model=64"]
    assert s.loc[s["setting"] == "model.d_model=48"].set_index("ffn").loc["relu", "val_loss"] < 50
    assert any("mix settings" in str(w.message) for w in recwarn)
    # settings.md puts the variants side by side across the settings, each at its own best.
    lines = (out / "settings.md").read_text().splitlines()
    assert "| FFN | model.d_model=48 | model.d_model=64 | best setting |" in lines[2]
    relu = next(ln for ln in lines if ln.startswith("| relu |"))
    assert "99.000" in relu and relu.count("model.d_model=48") == 1  # the best setting is the real one
    gelu = next(ln for ln in lines if ln.startswith("| gelu |"))
    assert "| – |" in gelu  # no gelu run at d_model 64
    assert (out / "figures" / "by_setting.png").stat().st_size > 1000
    # Reported again without the odd run, into the same folder: nothing of the split report is left behind.
    shutil.rmtree(clone)
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    assert not (out / "settings.md").exists() and not (out / "figures" / "by_setting.png").exists()
    assert sorted(p.name for p in (out / "figures").iterdir() if p.is_dir()) == []
    assert (out / "figures" / "final_loss.png").exists()


def test_runs_from_two_machines_are_counted_per_machine_and_never_split(report, recwarn, capsys):
    sweep, out = report
    recs = sorted(sweep.rglob("metrics.json"))
    first = json.loads(recs[0].read_text())["versions"]
    import torch

    assert first["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # the record names its machine
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    assert not (out / "machines.md").exists()  # one machine: nothing to say
    assert "machines.md" not in capsys.readouterr().out
    before = pd.read_csv(out / "summary.csv").set_index("ffn")["val_loss"]
    for p in sorted(sweep.glob("*ffn=gelu,*"))[:2]:  # two gelu runs "trained elsewhere"
        rec = json.loads((p / "metrics.json").read_text())
        rec["versions"].update(cpu="Other CPU", cpu_capability="AVX2")
        (p / "metrics.json").write_text(json.dumps(rec))
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    table = (out / "machines.md").read_text().splitlines()
    assert "| machine | relu | gelu | swiglu | runs |" in table
    assert "| Other CPU (AVX2) | 0 | 2 | 0 | 2 |" in table
    here = f"| {first['cpu']} ({first['cpu_capability']}) | 3 | 1 | 3 | 7 |"
    assert here in table
    assert any("2 machines" in str(w.message) for w in recwarn)
    assert "machines.md" in capsys.readouterr().out.splitlines()[-1]  # the closing "wrote ..." line names it
    assert "machine" not in pd.read_csv(out / "runs.csv").columns
    after = pd.read_csv(out / "summary.csv").set_index("ffn")["val_loss"]
    pd.testing.assert_series_equal(before, after)  # a machine is not a setting: the runs stay pooled


def test_single_seed_variant_warns_and_still_reports(report, recwarn):
    sweep, out = report
    for p in sweep.glob("*ffn=gelu,*seed=[12],*"):
        shutil.rmtree(p)
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    s = pd.read_csv(out / "summary.csv").set_index("ffn")
    assert s.loc["gelu", "n_seeds"] == 1 and math.isnan(s.loc["gelu", "delta_lo"])
    assert any("only one seed for gelu" in str(w.message) for w in recwarn)


def test_missing_folder_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        report_main([str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("ffnlab-report: error:")
    assert "does not exist" in err[0]


def _tree(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_report_rebuilds_from_its_own_records_byte_for_byte(small_sweep, tmp_path, monkeypatch):
    """What git holds of a study (the report folder with records/) is enough to rebuild it exactly, anywhere:
    every file but REPORT_COMMAND.txt, whose first line becomes the rebuild's command (which needs git alone)
    with the first command kept below it; rebuilt again, the folder is the same to the byte."""
    out = tmp_path / "results" / "study"
    monkeypatch.setattr(sys, "argv", ["ffnlab-report", "multirun/study", "--out", "results/study"])
    report_main([str(small_sweep), "--out", str(out), "--bootstrap", "50"])
    published = _tree(out)
    records = sorted((out / "records").rglob("metrics.json"))
    assert len(records) == 9 and not list((out / "records").rglob("*.ckpt"))
    assert all(r.read_bytes() == (small_sweep / r.parent.name / "metrics.json").read_bytes() for r in records)
    clone = tmp_path / "clone"  # another checkout: only the committed folder, the sweep itself is gone
    shutil.copytree(out, clone)
    monkeypatch.setattr(sys, "argv", ["ffnlab-report", "clone/records/study", "--out", "clone"])
    rebuild = [str(p) for p in sorted((clone / "records").iterdir())] + ["--out", str(clone), "--bootstrap", "50"]
    report_main(rebuild)
    again = _tree(clone)
    command = again.pop("REPORT_COMMAND.txt")
    assert command == (b"ffnlab-report clone/records/study --out clone\n"
                       b"# first written by: ffnlab-report multirun/study --out results/study\n")
    assert again == {k: v for k, v in published.items() if k != "REPORT_COMMAND.txt"}
    report_main(rebuild)
    assert _tree(clone) == {**again, "REPORT_COMMAND.txt": command}


def test_welch_and_holm_helpers():
    d, lo, hi, p = welch([1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0])
    assert d == pytest.approx(-1.5) and lo < d < hi
    assert p == pytest.approx(stats.ttest_ind([1, 2, 3], [2, 3, 4, 5], equal_var=False).pvalue)
    adj = holm(pd.Series({"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")}))
    assert adj["a"] == pytest.approx(0.03) and adj["c"] == pytest.approx(0.06) and adj["b"] == pytest.approx(0.06)
    assert math.isnan(adj["d"])


def test_paired_interval_matches_scipy(report):
    sweep, out = report
    report_main([str(sweep), "--out", str(out), "--bootstrap", "20"])
    s = pd.read_csv(out / "summary.csv").set_index("ffn")
    by = {}
    for p in sweep.rglob("metrics.json"):
        r = json.loads(p.read_text())
        by.setdefault(r["ffn"], {})[r["seed"]] = r["final"]["val_loss"]
    a, b = pd.Series(by["swiglu"]).sort_index(), pd.Series(by["relu"]).sort_index()
    res = stats.ttest_rel(a, b)
    assert s.loc["swiglu", "p_paired"] == pytest.approx(res.pvalue, rel=1e-9)
    lo, hi = res.confidence_interval(0.95)
    assert s.loc["swiglu", "paired_lo"] == pytest.approx(lo, rel=1e-9)
    assert s.loc["swiglu", "paired_hi"] == pytest.approx(hi, rel=1e-9)


def test_rank_differences_lists_moves_of_two_or_more_places():
    s = pd.DataFrame({"val_loss": [1.0, 2.0, 3.0, 4.0], "paper": [3.0, 2.0, 1.0, 4.0], "only_ours": [1, 2, 3, 4]},
                     index=["a", "b", "c", "d"])
    assert rank_differences(s, "paper") == [("a", 1, 3), ("c", 3, 1)]
    s.loc["d", "paper"] = math.nan  # variants the paper lacks are left out of both rankings
    assert rank_differences(s, "paper", min_shift=1) == [("a", 1, 3), ("c", 3, 1)]


def test_keys_that_are_not_identity_never_split_a_report(report):
    """A record carries keys whose role (ffnlab.runs.keys) is where, how or source: they must not split the runs into
    settings, whatever their values, and neither may a key added by a newer ffnlab (absent from older records)."""
    from ffnlab.runs.keys import ROLES

    sweep, out = report
    path = next(sweep.glob("*ffn=relu,*seed=0,*")) / "metrics.json"
    rec = json.loads(path.read_text())
    for key, role in ROLES.items():
        if role.setting or key in ("ffn", "seed", "data_seed"):
            continue
        *heads, last = key.split(".")
        node = rec["config"]
        for head in heads:
            if not isinstance(node.get(head), dict):  # absent, or null (data.hub without a hub corpus)
                node[head] = {}
            node = node[head]
        node[last] = "only-here"
    rec["config_hash"] = identity_hash(rec["config"], rec["data"]["sha256"])  # as if written with these values
    path.write_text(json.dumps(rec))
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    s = pd.read_csv(out / "summary.csv")
    assert s["setting"].isna().all() or (s["setting"] == "").all()
    assert not (out / "settings.md").exists()
    assert s.set_index("ffn").loc["relu", "n_seeds"] == 3


def test_runs_on_other_data_are_another_setting_even_with_the_same_config(report):
    sweep, out = report
    clone = sweep / "edited-corpus"
    shutil.copytree(next(sweep.glob("*ffn=relu,*seed=0,*")), clone)
    rec = json.loads((clone / "metrics.json").read_text())
    rec["data"]["sha256"] = "0" * 64
    rec["config_hash"] = identity_hash(rec["config"], rec["data"]["sha256"])
    rec["final"]["val_loss"] = rec["history"][-1]["val_loss"] = 99.0
    (clone / "metrics.json").write_text(json.dumps(rec))
    report_main([str(sweep), "--out", str(out), "--bootstrap", "50"])
    s = pd.read_csv(out / "summary.csv")
    assert s["setting"].nunique() == 2 and s["setting"].str.startswith("data_sha256=").all()
    runs = pd.read_csv(out / "runs.csv")
    assert not runs["duplicate"].any()  # another corpus is another experiment, never a duplicate


def test_verdict_names_one_early_winner_in_the_singular():
    s = pd.DataFrame({"n_seeds": [3, 3, 3], "delta": [0.0, -0.01, 0.02], "significant": [None, False, False],
                      "p_holm": [math.nan, 0.4, 0.3], "early_delta": [0.0, -0.135, -0.02],
                      "early_p_holm": [math.nan, 0.01, 0.5], "early_significant": [None, True, False]},
                     index=["relu", "swiglu", "gelu"])
    text = verdict(s, pd.DataFrame())
    assert "no variant beat ReLU significantly" in text and "not significant" in text
    assert "At 1/8 of the budget swiglu was significantly below ReLU (Δ -0.135 nats)." in text


def test_a_verdict_on_two_seeds_says_its_tests_are_fragile_and_three_seeds_do_not():
    from ffnlab.report.tables import FRAGILE

    def s(n):
        return pd.DataFrame({"n_seeds": [n, n], "delta": [0.0, -0.02], "significant": [None, True],
                             "p_holm": [math.nan, 0.01], "early_delta": [0.0, -0.03],
                             "early_p_holm": [math.nan, 0.2], "early_significant": [None, False]},
                            index=["relu", "gelu"])

    assert FRAGILE in verdict(s(2), pd.DataFrame()) and "gelu beat ReLU significantly" in verdict(s(2), pd.DataFrame())
    assert FRAGILE not in verdict(s(3), pd.DataFrame())
    assert FRAGILE not in verdict(s(1).assign(p_holm=math.nan, significant=None), pd.DataFrame())  # nothing tested


def test_each_experiment_counts_once_across_studies_whoever_copied_whom():
    from ffnlab.report.collect import duplicates

    runs = pd.DataFrame([
        # shazeer's seed 1 was itself copied from a pilot that is not reported here; narang copied it again
        {"run_dir": "shazeer/s1", "status": "ok", "experiment_hash": "h1", "reused_from": "pilot/s1"},
        {"run_dir": "narang/s1", "status": "ok", "experiment_hash": "h1", "reused_from": "shazeer/s1"},
        # an original written by an older ffnlab (stale stored hash) and its copy: the copy goes
        {"run_dir": "narang/s0", "status": "ok", "experiment_hash": "h0", "reused_from": "shazeer/s0"},
        {"run_dir": "shazeer/s0", "status": "ok", "experiment_hash": "h0", "reused_from": None},
        # the same experiment trained twice, neither a copy: the first stays
        {"run_dir": "a/s2", "status": "ok", "experiment_hash": "h2", "reused_from": None},
        {"run_dir": "b/s2", "status": "ok", "experiment_hash": "h2", "reused_from": None},
        {"run_dir": "c/s3", "status": "ok", "experiment_hash": "h3", "reused_from": None},
        {"run_dir": "c/s4", "status": "failed", "experiment_hash": "h3", "reused_from": None},
    ])
    dup = dict(zip(runs["run_dir"], duplicates(runs), strict=True))
    assert [d for d, is_dup in dup.items() if is_dup] == ["narang/s1", "narang/s0", "b/s2"]


def test_settings_follow_the_grid_by_value_not_as_text():
    from ffnlab.report.collect import setting_labels, settings

    runs = pd.DataFrame({"status": ["ok"] * 6 + ["failed"], "ffn": ["relu", "gelu"] * 3 + ["relu"],
                         "cfg.model.d_model": [256, 256, 64, 64, 128, 128, 32], "cfg.optim.lr": [1e-3] * 7})
    assert settings(runs) == ["model.d_model=64", "model.d_model=128", "model.d_model=256"]  # text order: 128 first
    assert setting_labels(runs).iloc[-1] == "model.d_model=32"  # labelled, but not a setting of finished runs
    assert settings(runs.drop(columns="cfg.model.d_model")) == [""]


def test_the_report_never_imports_torch_or_lightning(small_sweep, tmp_path):
    """ffnlab.report reads records as files: it runs with torch and lightning made unimportable."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'lightning', 'pytorch_lightning'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from ffnlab.cli.report import main\n"
        f"main([{str(small_sweep)!r}, '--out', {str(tmp_path / 'out')!r}, '--bootstrap', '20'])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning')]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / "summary.csv").is_file()


def test_diagnostics_table_and_figures_match_the_records(report):
    """diagnostics.md's cells are the seed mean of the layer-averaged record values at each horizon."""
    sweep, out = report
    report_main([str(sweep), "--out", str(out), "--bootstrap", "20"])
    recs = [json.loads(p.read_text()) for p in sorted(sweep.rglob("metrics.json"))]
    final = {}
    for r in recs:
        last = r["diagnostics"]["points"][-1]["layers"]
        final.setdefault(r["ffn"], []).append({k: np.mean(v) for k, v in last.items() if None not in v})
    relu_zero = 100 * np.mean([f["zero_frac"] for f in final["relu"]])
    assert relu_zero > 30 and np.mean([f["zero_frac"] for f in final["swiglu"]]) == 0
    text = (out / "diagnostics.md").read_text()
    final_table = text.split("### At the final horizon")[1]
    relu_row = next(ln for ln in final_table.splitlines() if ln.startswith("| relu |"))
    assert relu_row.split("|")[3].strip().startswith(f"{relu_zero:.1f} ± ")
    csv = pd.read_csv(out / "diagnostics.csv")
    assert len(csv) == sum(len(r["diagnostics"]["points"]) for r in recs)
    assert set(csv.loc[csv["horizon"] == "early", "step"]) == {recs[0]["early"]["step"]}
    for name in ("diagnostics_over_training", "diagnostics_by_layer", "sparsity_vs_loss"):
        assert (out / "figures" / f"{name}.png").is_file()


def test_records_without_diagnostics_report_without_them(report):
    sweep, out = report
    for p in sweep.rglob("metrics.json"):
        r = json.loads(p.read_text())
        r["diagnostics"] = None
        p.write_text(json.dumps(r))
    report_main([str(sweep), "--out", str(out), "--bootstrap", "20"])
    assert (out / "table.md").is_file() and not (out / "diagnostics.md").exists()
    assert not (out / "figures" / "sparsity_vs_loss.png").exists()


def test_welch_power_matches_simulation_and_seeds_needed_is_the_first_n_reaching_it():
    from ffnlab.report.stats import seeds_needed, welch_power

    rng = np.random.default_rng(0)
    delta, sd_a, sd_b, n, level = 0.02, 0.012, 0.008, 5, 0.025
    sims = stats.ttest_ind(rng.normal(delta, sd_a, (20000, n)), rng.normal(0, sd_b, (20000, n)), equal_var=False,
                           axis=1).pvalue < level  # 20,000 simulated studies at once
    assert welch_power(delta, sd_a, sd_b, n, level) == pytest.approx(np.mean(sims), abs=0.04)
    need = seeds_needed(delta, sd_a, sd_b, level)
    power = [welch_power(delta, sd_a, sd_b, k, level) for k in (int(need) - 1, int(need))]
    assert power[0] < 0.8 <= power[1]
    assert math.isnan(seeds_needed(0.0, sd_a, sd_b, level)) and math.isnan(seeds_needed(delta, math.nan, sd_b, level))


def test_the_report_prints_the_sweep_that_adds_the_missing_seeds():
    from ffnlab.report.seeds import more_seeds_command

    s = pd.DataFrame({"significant": [False, False, True], "seeds_needed": [math.nan, 7.0, 3.0],
                      "n_seeds": [3, 3, 3]}, index=pd.Index(["relu", "glu", "swiglu"], name="ffn"))
    runs = pd.DataFrame({"cfg.sweep_name": ["shazeer"] * 3,
                         "run_dir": [f"shazeer/ffn={v},seed=0" for v in ("relu", "glu", "swiglu")]})
    assert more_seeds_command(runs, s) == "ffnlab-train -m experiment=shazeer ffn=relu,glu seed=0,1,2,3,4,5,6"
    assert more_seeds_command(runs, s.assign(seeds_needed=[math.nan, 2.0, 3.0])) is None  # glu has enough already
    # a study of one setting, not from an experiment file: its own overrides and folder, so that run verbatim
    # it plans only the new seeds of the same configuration
    adhoc = pd.DataFrame({"cfg.sweep_name": ["adhoc"] * 2,
                          "run_dir": [f"adhoc/ffn={v},model=tiny,seed=0,trainer.max_steps=16"
                                      for v in ("relu", "glu")]})
    assert more_seeds_command(adhoc, s) == ("ffnlab-train -m sweep_name=adhoc model=tiny trainer.max_steps=16 "
                                            "ffn=relu,glu seed=0,1,2,3,4,5,6")
    # One setting of a study that spans several (a size and budget of a ladder): the command narrows to it.
    ladder = pd.DataFrame({"cfg.sweep_name": ["shazeer"] * 2,
                           "run_dir": ["scaling/ffn=relu,scale=s,seed=0,trainer.max_steps=8000",
                                       "scaling/ffn=glu,scale=s,seed=1,trainer.max_steps=8000"]})
    assert more_seeds_command(ladder, s, setting=ladder) == ("ffnlab-train -m experiment=shazeer scale=s "
                                                             "trainer.max_steps=8000 ffn=relu,glu seed=0,1,2,3,4,5,6")
    odd = ladder.assign(run_dir=["scaling/run-a", "scaling/run-b"])  # folders not named by their overrides
    assert "experiment=shazeer <the sweep's own overrides> ffn=" in more_seeds_command(odd, s, setting=odd)


def test_loss_correlations_rank_each_statistic_against_the_loss_at_its_horizon():
    from ffnlab.report.diagnostics import correlations_markdown, loss_correlations

    names = ["relu", "gelu", "glu", "swiglu", "geglu"]
    write = [0.8, 0.7, 0.4, 0.6, 0.65]
    final = [4.40, 4.38, 4.44, 4.38, 4.385]
    dsum = pd.DataFrame({"ffn": names * 2, "horizon": ["final"] * 5 + ["early"] * 5,
                         "ffn_write": write + write, "zero_frac": [0.5, 0, 0, 0, 0] * 2})
    summary = pd.DataFrame({"val_loss": final, "early_val_loss": final[::-1]}, index=names)
    corr = loss_correlations(dsum, summary)
    got = corr.set_index(["horizon", "stat"])
    assert got.loc[("final", "ffn_write"), "rho"] == pytest.approx(stats.spearmanr(write, final)[0])
    assert got.loc[("early", "ffn_write"), "rho"] == pytest.approx(stats.spearmanr(write, final[::-1])[0])
    assert got.loc[("final", "ffn_write"), "n_variants"] == 5
    assert "| FFN write |" in correlations_markdown(corr)


def test_families_view_puts_shipped_ffns_beside_their_parameters_and_matched_twins():
    from ffnlab.report.stats import paired, welch
    from ffnlab.studies.families import markdown, table

    rng = np.random.default_rng(0)
    rows = []
    spec = {"relu": ("relu", 131072, 4.40, "r"), "palm": ("swiglu", 196608, 4.35, "p"),
            "palm_matched": ("swiglu", 130944, 4.38, "s"), "llama_matched": ("swiglu", 130944, 4.38, "s")}
    for label, (ffn, params, mean, exp) in spec.items():
        for seed in range(4):
            loss = mean + 0.004 * rng.standard_normal() if exp != "s" else 4.38 + 0.001 * seed
            rows.append({"status": "ok" if label != "llama_matched" else "duplicate", "cfg.ffn_family": label,
                         "ffn": ffn, "seed": seed, "final_val_loss": loss, "params_ffn": params, "d_ff": 1,
                         "flops_per_token": 3.0 * params, "tokens": 1000, "experiment_hash": f"{exp}{seed}"})
    runs = pd.DataFrame(rows)
    t = table(runs)
    loss = {k: runs.loc[runs["cfg.ffn_family"] == k, "final_val_loss"].to_numpy() for k in spec}
    assert t.loc["palm", "params_vs_relu"] == pytest.approx(1.5)
    assert t.loc["palm", "vs_matched"] == pytest.approx(welch(loss["palm"], loss["palm_matched"])[0])
    seed = {k: runs.loc[runs["cfg.ffn_family"] == k].set_index("seed")["final_val_loss"] for k in spec}
    assert t.loc["palm", "vs_matched_lo"] == pytest.approx(paired(seed["palm"], seed["palm_matched"])[1])
    assert t.loc["palm", "vs_matched_pairs"] == 4
    assert t.loc["palm", "welch_hi"] == pytest.approx(welch(loss["palm"], loss["relu"])[2])
    # Δ vs ReLU is seed-blocked over the distinct run sets (palm_matched and llama_matched are one): with every
    # label at every seed the estimate is the difference of means, and the twins' Δ is one test, not two
    assert t.loc["palm", "delta"] == pytest.approx(loss["palm"].mean() - loss["relu"].mean())
    assert t.loc["palm_matched", "p_holm"] == t.loc["llama_matched", "p_holm"]
    assert t.loc["llama_matched", "n"] == 4 and t.loc["palm_matched", "same_runs_as"] == "llama_matched"
    assert list(t.index) == ["relu", "llama_matched", "palm", "palm_matched"] and "1.50×" in markdown(t)


def test_families_view_pairs_shipped_and_matched_by_seed_so_a_shared_seed_effect_cancels():
    from ffnlab.report.stats import welch
    from ffnlab.studies.families import table

    seed_effect = [0.03, -0.02, 0.01, -0.025, 0.005]  # what one seed's init and batches do to every FFN
    rows = [{"status": "ok", "cfg.ffn_family": label, "ffn": "swiglu", "seed": s, "params_ffn": 100, "d_ff": 1,
             "final_val_loss": 4.4 + e + (-0.01 + 0.001 * (s % 2) if label == "palm" else 0.0),
             "flops_per_token": 300, "tokens": 1000, "experiment_hash": f"{label}{s}"}
            for label in ("palm", "palm_matched") for s, e in enumerate(seed_effect)]
    runs = pd.DataFrame(rows)
    t = table(runs)
    a, b = (runs.loc[runs["cfg.ffn_family"] == k, "final_val_loss"] for k in ("palm", "palm_matched"))
    _, wlo, whi, wp = welch(a, b)
    assert t.loc["palm", "vs_matched"] == pytest.approx(-0.0096)
    assert t.loc["palm", "vs_matched_hi"] < 0 < whi  # resolved paired, lost in the seed spread unpaired
    assert t.loc["palm", "vs_matched_p"] < 0.001 < wp


def test_families_view_counts_a_run_once_per_label_when_its_copy_is_reported_beside_it():
    from ffnlab.studies.families import table

    rows = [{"status": "ok", "cfg.ffn_family": label, "ffn": "relu" if label == "relu" else "swiglu", "seed": seed,
             "final_val_loss": 4.4 - 0.01 * (label != "relu") + 0.002 * seed, "params_ffn": 100, "d_ff": 1,
             "flops_per_token": 300, "tokens": 1000, "experiment_hash": f"{label}{seed}"}
            for label in ("relu", "llama") for seed in range(3)]
    copies = [dict(r, status="duplicate") for r in rows if r["cfg.ffn_family"] == "relu"]  # e.g. a reused study
    t = table(pd.DataFrame(rows + copies))
    assert t.loc["relu", "n"] == 3 and t.loc["relu", "val_loss_std"] == pytest.approx(0.002)


def test_the_claims_view_puts_each_papers_claim_beside_the_measured_deltas():
    from ffnlab.report.stats import paired
    from ffnlab.studies import claims

    loss = {"relu": [4.40, 4.41, 4.39], "swiglu": [4.38, 4.37, 4.39], "relu2": [4.36, 4.37, 4.35],
            "xielu": [4.50, 4.485, 4.512]}
    runs = pd.DataFrame([{"status": "ok", "ffn": f, "seed": i, "final_val_loss": v}
                         for f, vs in loss.items() for i, v in enumerate(vs)])
    summary = pd.DataFrame({"n_seeds": 3, "delta": [0.0, -0.02, -0.04, 0.1], "delta_lo": [math.nan, -0.05, -0.06, 0.08],
                            "delta_hi": [math.nan, 0.01, -0.02, 0.12], "p_holm": [math.nan, 0.2, 0.01, 0.001]},
                           index=list(loss))
    t = claims.table(runs, summary).set_index("ffn")
    assert list(t.index) == ["relu2", "xielu"]  # relu and swiglu make no claim
    assert t.loc["relu2", "delta_vs_relu"] == "-0.040 [-0.060, -0.020]" and t.loc["relu2", "p_holm"] == 0.01
    vs = [welch(np.array(loss["xielu"]), np.array(loss[o]))[:3] for o in ("relu2", "swiglu")]
    assert t.loc["xielu", "vs_compared_welch"] == "; ".join(
        f"vs {o}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for o, (d, lo, hi) in zip(("relu2", "swiglu"), vs, strict=True))
    assert "lower perplexity than ReLU² and SwiGLU" in claims.markdown(t.reset_index())
    # the claim tests: paired by seed (two variants: the blocked fit is the paired t), Holm over all of them
    seed = {f: pd.Series(vs) for f, vs in loss.items()}
    pr = [paired(seed["xielu"], seed[o]) for o in ("relu2", "swiglu")]
    from statsmodels.stats.multitest import multipletests

    holm = multipletests([pr[0][3], pr[1][3]], method="holm")[1]
    for (o, (d, lo, hi, _, _)), h in zip(zip(("relu2", "swiglu"), pr, strict=True), holm, strict=True):
        assert f"vs {o}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}] (Holm p {h:.2g}, " in t.loc["xielu", "vs_compared"]
    assert pr[1][2] - pr[1][1] < vs[1][2] - vs[1][1]  # xielu and swiglu move together by seed: pairing narrows
    assert t.loc["relu2", "vs_compared"] == ""  # its compared variant (gelu) did not run


def test_replication_matches_runs_by_study_and_folder_and_names_the_runs_a_rerun_lacks():
    from ffnlab.studies.replication import compare, markdown

    published = pd.DataFrame({
        "run_dir": ["/work/runs/multirun/narang/ffn=elu,seed=0", "/work/runs/multirun/narang/ffn=elu,seed=1",
                    "/work/runs/multirun/narang/ffn=relu,seed=0", "/work/runs/multirun/shazeer/ffn=elu,seed=0"],
        "status": ["ok", "ok", "ok", "ok"], "duplicate": [False, False, True, False],
        "ffn": ["elu", "elu", "relu", "elu"],
        "seed": [0, 1, 0, 0], "early_val_loss": [5.0, 5.1, 5.2, 9.0], "final_val_loss": [4.5, 4.6, 4.7, 9.0]})
    rerun = pd.DataFrame({"run_dir": ["narang/ffn=elu,seed=0", "narang/ffn=relu,seed=0", "narang/ffn=elu,seed=1"],
                          "status": ["ok", "ok", "failed"], "ffn": ["elu", "relu", "elu"], "seed": [0, 0, 1],
                          "early_val_loss": [5.0, 5.2, None], "final_val_loss": [4.5 + 2e-3, 4.7, None]})
    both, missing = compare(published, rerun)
    assert list(both["run"]) == ["narang/ffn=elu,seed=0"]  # the published duplicate and the failed re-run drop out
    assert both.loc[0, "final_diff"] == pytest.approx(2e-3) and both.loc[0, "early_diff"] == 0.0
    assert missing == ["narang/ffn=elu,seed=1", "shazeer/ffn=elu,seed=0"]  # same folder name, other study: not a match
    md = markdown(both, missing, "runs.csv")
    assert "1 runs matched, 0 bit-identical" in md and "shazeer/ffn=elu,seed=0" in md


def test_rank_correlations_of_many_resamples_at_once_equal_scipys_row_by_row():
    rng = np.random.default_rng(3)
    theirs = np.array([1.95, 1.95, 1.98, 1.94, 2.00, 1.96])  # the papers tie (Narang's relu and gelu do)
    ours = np.round(rng.normal(size=(300, 6)), 1)  # rounding makes ties among ours too
    ours[0] = 4.0  # a constant row: no ranking, NaN as scipy gives
    rho, tau = rank_corr_rows(ours, theirs)
    want_rho = [stats.spearmanr(r, theirs).statistic for r in ours[1:]]
    want_tau = [stats.kendalltau(r, theirs).statistic for r in ours[1:]]
    assert np.isnan(rho[0]) and np.isnan(tau[0])
    assert np.allclose(rho[1:], want_rho, atol=1e-12) and np.allclose(tau[1:], want_tau, atol=1e-12)
    assert any(len(set(r)) < len(r) for r in ours[1:])  # the tie handling was exercised


def test_report_command_rebuilds_from_git_and_keeps_the_first_command():
    from ffnlab.report.folder import report_command

    first = "ffnlab-report /work/runs/multirun/x --out results/x\n"
    rebuilt = report_command(["results/x/records/x", "--out", "results/x"], first)
    assert rebuilt == ("ffnlab-report results/x/records/x --out results/x\n"
                       "# first written by: ffnlab-report /work/runs/multirun/x --out results/x\n")
    assert report_command(["results/x/records/x", "--out", "results/x"], rebuilt) == rebuilt  # stable
    assert report_command(["multirun/x", "--out", "results/x"], None) == "ffnlab-report multirun/x --out results/x\n"

