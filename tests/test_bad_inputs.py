"""Every bad input gets one line that says what to do, exit code 2, and leaves what was written untouched."""

import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import TINY, ffnlab_train
from ffnlab.cli.report import main as report_main
from ffnlab.cli.train import _compose_check

# A finished study's real records (committed): what the bad inputs must leave alone and the reports read.
QUICKSTART = Path(__file__).resolve().parents[1] / "results" / "quickstart" / "records" / "quickstart"


@pytest.fixture
def study_records() -> Path:
    return QUICKSTART


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _one_error(stderr: str, tool: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith(f"{tool}: error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-2000:]
    return errors[0]


# Caught when the config is composed, before Hydra starts a job (tested in-process: the CLI calls the same check).
COMPOSITION = [
    (["+trainer.max_step=8"], "trainer.max_step is not a setting"),  # Hydra's own advice for a typo, refused
    (["trainer.max_step=10"], "Key 'max_step' not in 'TrainerSection'"),
    (["trainer.max_steps=ten"], "'ten' of type 'str' could not be converted to Integer"),
    (["seed=abc"], "could not be converted to Integer"),
    (["model.vocab_size=-5"], "Key 'vocab_size' not in 'ModelSection'"),  # the tokenizer decides it
    (["model.dropout=[1]"], "could not be converted to Float"),
    (["data=nope"], "choose one of: c4, embedded, pg19, pgbooks, text"),
    (["-m", "ffn=relu,gelu", "optim.lrr=1e-3,2e-3"], "Key 'lrr' not in 'OptimSection'"),
    (["trainer.max_steps=0"], "trainer.max_steps=0 must be at least 1"),
    (["trainer.max_steps=-1"], "trainer.max_steps=-1 must be at least 1"),
    (["data.vocab_size=0"], "data.vocab_size=0 must be between 256"),
    (["data.batch_size=0"], "data.batch_size=0 must be at least 1"),
    (["-m", "data.eval_batch_size=0,8"], "data.eval_batch_size=0 must be at least 1"),
    (["paths.output=/proc/ffnlab-runs"], "set paths.output (or $FFNLAB_OUTPUT) to a writable folder"),
    (["blimp.pairs_per_paradigm=0"], "blimp.pairs_per_paradigm=0 must be null or at least 1"),
    (["optim.lr=-0.01"], "optim.lr=-0.01 must be a positive finite number"),
    (["optim.lr=nan"], "optim.lr=nan must be a positive finite number"),
    (["trainer.precision=17"], "trainer.precision=17 must be one of 32-true"),
    (["seed=1180591620717411303424"], "must be between 0 and 2**63"),
    (["perf.ffn_impl=turbo"], "perf.ffn_impl=turbo must be one of naive, fused"),
    (["-m", "sweep_name=../../escaped", "ffn=relu,gelu"], "sweep_name=../../escaped must be one folder under"),
    (["trainer.branch_budgets=[4,8]"], "trainer.branch_budgets needs optim=wsd"),
    (["optim=wsd", "trainer.max_steps=3", "optim.warmup_steps=0", "optim.cooldown_frac=0.1"],
     "rounds to a cool-down of 0"),
    (["blimp.batch_size=0"], "blimp.batch_size=0 must be at least 1"),
    (["-m", "hydra.sweep.dir=/proc/ffnlab-sweep", "ffn=relu,gelu"], "set hydra.sweep.dir to a writable folder"),
    (["hydra.run.dir=/proc/ffnlab-run"], "set hydra.run.dir to a writable folder"),
    (["model.seq_len=100000000"], "model.seq_len=100000000 must be between 1 and 1,048,576"),
]


@pytest.mark.parametrize("args,needle", COMPOSITION, ids=[" ".join(a) for a, _ in COMPOSITION])
def test_bad_settings_fail_at_composition(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        _compose_check([*TINY, *args])
    assert e.value.code == 2 and needle in _one_error(capsys.readouterr().err, "ffnlab-train")


def _short_text(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("a few words of text\n" * 30)  # 5% of it is shorter than one sequence
    return f"data.path={path}"


def _bad_sums(tmp_path):
    folder = tmp_path / "corpora" / "tinyshakespeare"
    folder.mkdir(parents=True)
    (folder / "input.txt").write_text("To be, or not to be.\n" * 2000)
    (folder / "SHA256SUMS").write_text("not-a-hash\n")
    return f"data.corpora_dir={tmp_path / 'corpora'}"


def _unwritable_cache(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")  # unwritable even for root, unlike a chmod
    return f"data.cache_dir={tmp_path / 'a-file' / 'cache'}"


HELD = []  # locks this test process holds while a CLI run tries the same folder


def _locked_folder(tmp_path):
    from filelock import FileLock

    folder = tmp_path / "owned"
    folder.mkdir()
    lock = FileLock(str(folder / ".ffnlab.lock"))
    lock.acquire()
    HELD.append(lock)
    return f"hydra.run.dir={folder}"


def _planted_record(tmp_path):
    """A run folder holding a record whose final loss contradicts its own history (0.123 against ~6)."""
    import glob
    import json

    src = sorted(glob.glob(str(tmp_path / "multirun" / "small" / "**" / "metrics.json"), recursive=True))[0]
    rec = json.loads(Path(src).read_text())
    rec["final"]["val_loss"] = 0.123
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(rec))
    return f"hydra.run.dir={folder}"


# Caught when the job runs (through the real CLI).
RUN = [
    (["data.vocab_size=390", _unwritable_cache], "cannot write to"),
    (["ffn=swishglu"], "unknown FFN variant 'swishglu'; valid names: relu"),
    (["-m", "ffn=relu,swishglu"], "unknown FFN variant 'swishglu'"),
    (["model.d_model=30", "model.n_heads=4"], "divisible by n_heads"),
    (["data=wikitext2", "data.corpora_dir=/nonexistent/corpora"], "not found; set data.corpora_dir"),
    (["data=text"], "corpus 'text' needs data.path=FILE_OR_FOLDER"),
    (["data=text", "data.path=/nonexistent/file.txt"], "not found; set data.path"),
    (["data=text", _short_text], "split of 'text' has"),
    (["data=tinyshakespeare", _bad_sums], "SHA256SUMS:1 is not a 'SHA256  FILE' line"),
    ([_locked_folder], "is being written by another ffnlab-train"),
    ([_planted_record], "is not a valid run record"),
]


@pytest.mark.parametrize("args,needle", RUN, ids=[" ".join(a if isinstance(a, str) else a.__name__ for a in args)
                                                  for args, _ in RUN])
def test_bad_input_is_one_line_and_exit_2_and_touches_nothing(env, tmp_path, study_records, args, needle):
    study = tmp_path / "multirun" / "small"
    shutil.copytree(study_records, study, ignore=shutil.ignore_patterns("*.ckpt"))  # a finished study beside it
    before = _snapshot(study)
    args = [a(tmp_path) if callable(a) else a for a in args]
    budget = [] if any("max_steps" in a for a in args) else ["trainer.max_steps=4"]
    placed = [tmp_path / d for d in ("owned", "planted") if (tmp_path / d).is_dir()]
    placed_before = [_snapshot(d) for d in placed]
    proc = ffnlab_train(*TINY, *budget, *args, env=env, cwd=tmp_path, check=False)  # the bad one last
    while HELD:
        HELD.pop().release()
    assert proc.returncode == 2 and needle in _one_error(proc.stderr, "ffnlab-train")
    assert _snapshot(study) == before  # nothing already written changed
    # nor the folder it was refused: only the empty lock file of its owner and Hydra's empty job log may appear
    after = [{k: v for k, v in _snapshot(d).items() if k not in (".ffnlab.lock", "train.log") or v} for d in placed]
    assert after == [{k: v for k, v in b.items() if k != ".ffnlab.lock"} for b in placed_before]
    assert not list((tmp_path / "runs").rglob("*.ckpt"))  # and nothing was trained


def test_report_refuses_bad_output_folders_in_one_line(study_records, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes")
    (tmp_path / "file.txt").write_text("x")
    for out, needle in ((tmp_path / "mine", "holds files that no ffnlab report wrote"),
                        (tmp_path / "file.txt", "is a file"), (Path("/proc/ffnlab-report"), "set --out to a writable"),
                        (tmp_path / "nope", None)):
        args = [str(study_records if needle else tmp_path / "missing"), "--out", str(out)]
        with pytest.raises(SystemExit) as e:
            report_main(args)
        assert e.value.code == 2
        assert (needle or "does not exist") in _one_error(capsys.readouterr().err, "ffnlab-report")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "my notes" and len(list((tmp_path / "mine").iterdir())) == 1


def test_a_report_replaces_only_what_a_report_wrote(study_records, tmp_path):
    out = tmp_path / "out"
    report_main([str(study_records), "--out", str(out), "--bootstrap", "20"])
    (out / "figures" / "mine").mkdir()
    (out / "figures" / "mine" / "keep.png").write_bytes(b"png")
    (out / "notes.md").write_text("mine")
    report_main([str(study_records), "--out", str(out), "--bootstrap", "20"])
    assert (out / "figures" / "mine" / "keep.png").read_bytes() == b"png" and (out / "notes.md").exists()
    assert (out / "figures" / "delta_by_horizon.png").is_file()


@pytest.mark.parametrize("override", ["data.path=../../outside.txt", "data.path=/etc/passwd", "seed=a/b"])
def test_run_folder_names_from_overrides_never_leave_the_sweep(override, tmp_path):
    from ffnlab.runs.config import _subdir

    name = _subdir(override)
    sweep = tmp_path / "multirun" / "s"
    assert "/" not in name and (sweep / name).resolve().parent == sweep.resolve()



def _override(key, value) -> str:
    if isinstance(value, float) and value != value:
        text = "nan"
    elif isinstance(value, list):
        text = "[" + ",".join(str(v) for v in value) + "]"
    elif value == "":
        text = "''"
    else:
        text = str(value)
    return f"{key}={text}"


def test_every_key_of_the_typed_schema_is_range_checked_or_named_as_checked_elsewhere():
    """A new option is covered the day it is added: it must join config.RANGES (with a value it refuses) or be
    named in config.CHECKED_ELSEWHERE."""
    from omegaconf import OmegaConf

    from ffnlab.runs.config import CHECKED_ELSEWHERE, RANGES, TrainConfig
    from ffnlab.runs.keys import leaf_keys

    keys = set(leaf_keys(OmegaConf.to_container(OmegaConf.structured(TrainConfig), throw_on_missing=False)))
    assert keys == set(RANGES) | set(CHECKED_ELSEWHERE), keys ^ (set(RANGES) | set(CHECKED_ELSEWHERE))


def _range_keys():
    from ffnlab.runs.config import RANGES

    return sorted(RANGES)


@pytest.mark.parametrize("key", _range_keys())
def test_an_out_of_range_or_type_wrong_value_of_every_key_is_one_line(key, capsys):
    from ffnlab.runs.config import RANGES

    for value in (RANGES[key][2], "not-a-number"):
        if value == "not-a-number" and isinstance(RANGES[key][2], str):
            continue  # a string setting takes any text: its range value above is the bad one
        with pytest.raises(SystemExit) as e:
            _compose_check([*TINY, _override(key, value)])
        err = _one_error(capsys.readouterr().err, "ffnlab-train")
        assert e.value.code == 2 and (key.split(".")[-1] in err), err


def test_rerendering_an_unrelated_table_is_one_line(tmp_path, capsys):
    from ffnlab.bench.cli import main as bench_main

    (tmp_path / "study_throughput.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit) as e:
        bench_main(["--mode", "study", "--rerender", "--out", str(tmp_path)])
    assert e.value.code == 2 and "is not a study_throughput table" in _one_error(capsys.readouterr().err,
                                                                                 "ffnlab-bench")
    assert (tmp_path / "study_throughput.csv").read_text() == "a,b\n1,2\n"


def test_corpus_problems_say_what_to_do(tmp_path, monkeypatch):
    from ffnlab.data.corpora import CorpusError, load_corpus, text_files
    from ffnlab.data.fetch import CANONICAL

    folder = tmp_path / "corpora" / "tinyshakespeare"  # a canonical copy without SHA256SUMS, one byte changed
    folder.mkdir(parents=True)
    (folder / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 50)
    assert CANONICAL["tinyshakespeare"].sha256["input.txt"]
    with pytest.raises(CorpusError, match="differs from the canonical tinyshakespeare release"):
        load_corpus("tinyshakespeare", root=tmp_path / "corpora")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("FFNLAB_CORPORA", str(empty))
    with pytest.raises(CorpusError, match="unset \\$FFNLAB_CORPORA to fetch a verified copy"):
        load_corpus("wikitext2")
    (tmp_path / "long.txt").write_text(("word " * 5000 + "\n") * 3)
    with pytest.raises(CorpusError, match="split at line boundaries"):
        text_files(tmp_path / "long.txt")


def test_a_report_never_takes_a_studys_pending_records_for_its_own(study_records, tmp_path):
    out = tmp_path / "out"
    report_main([str(study_records), "--out", str(out), "--bootstrap", "20"])
    pending = out / "pending" / "scaling" / "run" / "metrics.json"
    pending.parent.mkdir(parents=True)
    pending.write_text("{}")
    stamp = time.time() + 3600  # as if written while the next report ran: it must not list it, nor later remove it
    os.utime(pending, (stamp, stamp))
    report_main([str(study_records), "--out", str(out), "--bootstrap", "20"])
    report_main([str(study_records), "--out", str(out), "--bootstrap", "20"])
    assert pending.read_text() == "{}"
