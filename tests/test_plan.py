"""The sweep decision: one unit test per branch of plan.decide."""

import dataclasses

from ffnlab.data.info import DataInfo
from ffnlab.runs.decide import decide
from ffnlab.runs.keys import identity_hash
from ffnlab.runs.record import Final, RunRecord

CFG = {"ffn": "relu", "seed": 0, "optim": {"lr": 0.002}, "trainer": {"max_steps": 8, "threads": None}}
SHA = "a" * 64
ID = identity_hash(CFG, SHA)


def _record(status="ok", config=CFG, sha=SHA, revision=2) -> RunRecord:
    data = DataInfo(corpus="x", description="", source="", sha256=sha, tokenizer="", vocab_size=1, train_tokens=1,
                    val_tokens=1, test_tokens=None, bytes_per_token={})
    final = Final(step=8, val_loss=5.0, val_ppl=1.0, val_bpb=None, test_loss=None, test_bpb=None)
    return RunRecord(status=status, ffn="relu", seed=0, config=config, config_hash="x", results_revision=revision,
                     run_dir="r", data=data, final=final if status == "ok" else None)


def _decide(existing, config=CFG, sha=SHA, **kw):
    return decide(existing, config, sha, 2, identity_hash(config, sha), **kw)


def test_skip_a_finished_run_of_the_same_experiment_whatever_the_how_keys():
    assert _decide(_record()).action == "skip"
    assert _decide(_record(), config={**CFG, "trainer": {"max_steps": 8, "threads": 1}}).action == "skip"
    newer = {**CFG, "model": {"rope_base": 10000.0}}  # a key added since the run finished, at its default
    d = _decide(_record(), config=newer)
    assert d.action == "skip" and "model" in d.reason
    assert _decide(_record(), config={**CFG, "model": {"rope_base": 500.0}}).action == "refuse"


def test_refuse_another_config_and_say_what_differs():
    d = _decide(_record(), config={**CFG, "optim": {"lr": 0.001}})
    assert d.action == "refuse" and "optim.lr: 0.002 → 0.001" in d.reason


def test_refuse_other_data_and_another_results_revision():
    assert _decide(_record(), sha="b" * 64).action == "refuse"
    assert "other data" in _decide(_record(), sha="b" * 64).reason
    d = _decide(_record(revision=1))
    assert d.action == "refuse" and "revision 1" in d.reason


def test_reuse_a_donor_when_the_folder_has_no_finished_run():
    for existing in (None, _record(status="failed")):
        d = _decide(existing, donor="multirun/other/ffn=relu,seed=0")
        assert d.action == "reuse" and str(d.donor).endswith("ffn=relu,seed=0")


def test_resume_only_from_a_checkpoint_of_this_experiment():
    assert _decide(None, checkpoint_identity=ID).action == "resume"
    assert _decide(_record(status="failed"), checkpoint_identity=ID).action == "resume"
    d = _decide(None, checkpoint_identity="another")
    assert d.action == "train" and "another experiment" in d.reason


def test_train_when_there_is_nothing_to_skip_reuse_or_resume():
    assert _decide(None).action == "train"
    assert _decide(_record(status="diverged")).action == "train"
    assert _decide(dataclasses.replace(_record(status="failed"))).action == "train"


def test_a_donor_is_reused_only_from_the_machine_kind_this_run_is_on(tmp_path):
    """A seed block stays on one machine kind: a finished run of the same experiment trained on another CPU kind
    is no donor (it is trained again here), a run from this one is; without a machine given, any is."""
    from ffnlab.runs.identity import find_finished
    from ffnlab.runs.record import write_record

    rec = _record()
    rec.config_hash = identity_hash(CFG, SHA)
    rec.versions = {"cpu": "AMD EPYC 9B14", "cpu_capability": "AVX2", "platform": "Linux"}
    write_record(tmp_path / "other" / "run", rec)
    assert rec.machine == "AMD EPYC 9B14 (AVX2)"
    assert find_finished(tmp_path, CFG, SHA, 2, machine="Intel(R) Xeon(R) Processor (AVX512)") is None
    assert find_finished(tmp_path, CFG, SHA, 2, machine="AMD EPYC 9B14 (AVX2)") == tmp_path / "other" / "run"
    assert find_finished(tmp_path, CFG, SHA, 2) == tmp_path / "other" / "run"


def test_a_gpu_runs_machine_is_its_gpu_and_this_process_names_its_own_cpu():
    from ffnlab.runs.provenance import this_machine

    rec = _record()
    rec.versions, rec.peak_gpu_mb = {"cpu": "Xeon", "cpu_capability": "AVX512", "gpu": "NVIDIA H100"}, 900.0
    assert rec.machine == "NVIDIA H100"
    rec.peak_gpu_mb = None  # a CPU run on a machine that has a GPU
    assert rec.machine == "Xeon (AVX512)"
    assert this_machine("cpu").endswith(")") and "(" in this_machine("cpu")  # model (vector instructions)
