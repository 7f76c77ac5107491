"""The run record, the contract between training and reporting: its schema, validity rule, one writer and one reader.

Every run folder holds `metrics.json` (a `RunRecord`) and `outcome.json` (what the latest invocation did with
the folder: ok, failed, diverged, skipped, reused, refused). The sweep decides skip / resume / reuse / refuse
from the record (ffnlab.runs.decide), the report reads it (ffnlab.report.collect), and the studies commit it
(results/<study>/records/). Torch-free: the report imports this module.

Schema history: 1 (until 2026-11) had no version discipline: fields were added without a bump, a control flag
(`is_global_zero`) could ride along, and some fields are missing from older records. 2 was the first typed
record. 3 adds the `diagnostics` block (ffnlab.model.diagnostics; None in older records); 4 adds `eval_s` and
`setup_s`, where a run's time goes besides its training steps; 6 adds the `blimp` block (ffnlab.data.blimp: BLiMP
accuracies at the run's end; older records migrate as "not scored"). `read_record` migrates every
older record into this dataclass; unknown fields are kept in `extra`, never dropped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffnlab.data.info import DataInfo
from ffnlab.errors import RecordError
from ffnlab.io import atomic_write_text
from ffnlab.runs.keys import identity_hash

RECORD_NAME = "metrics.json"
OUTCOME_NAME = "outcome.json"
SCHEMA_VERSION = 6
STATUSES = ("ok", "failed", "diverged")  # a record's status; a folder without a readable one is missing/corrupt
OUTCOMES = ("ok", "failed", "diverged", "skipped", "reused", "refused", "interrupted")


@dataclass
class Params:
    total: int  # every parameter (the tied embedding once)
    ffn: int  # the FFN blocks' parameters, all layers: the quantity parameter matching holds equal
    non_embedding: int  # total minus the embedding


@dataclass
class Horizon:
    step: int
    val_loss: float | None  # nats per token, whole validation split


@dataclass
class Final:
    step: int
    val_loss: float  # nats per token, whole validation split
    val_ppl: float  # exp(val_loss)
    val_bpb: float | None  # bits per UTF-8 byte of the validation text
    test_loss: float | None  # nats per token, whole test split (None: the corpus has no test split)
    test_bpb: float | None


@dataclass
class Evaluation:
    step: int
    tokens: int  # training tokens seen at this step
    train_loss: float | None  # mean training loss since the previous evaluation
    val_loss: float  # nats per token
    val_partial: bool  # True: the first curve_val_batches batches only (early and final read the whole split)
    train_s: float  # seconds inside training steps so far


@dataclass
class Diagnostics:
    """Activation diagnostics (ffnlab.model.diagnostics defines every statistic) at every evaluation."""

    version: int  # of the statistics' definitions (ffnlab.model.diagnostics.VERSION)
    tokens: int  # fixed validation tokens measured (the first windows of the split)
    small: float  # small_frac / dead_frac threshold, relative to a layer's hidden RMS
    saturation: float  # a bounded activation below this or above 1 − this is saturated
    seconds: float  # wall time spent measuring: the diagnostics' cost
    points: list[dict[str, Any]]  # per evaluation: step, layers {stat: [per layer]}, weights {stat: {matrix: v}}


@dataclass
class Blimp:
    """BLiMP minimal pairs scored by the final model (ffnlab.data.blimp defines the scoring)."""

    status: str  # scored | skipped (reason says why) | not scored (off, or a record older than schema 6)
    reason: str | None = None
    pairs_per_paradigm: int | None = None  # None: all 1,000
    sample_seed: int | None = None
    conditioning: str | None = None  # what each sentence's first token is predicted from ("newline")
    source: str | None = None  # the folder, or hub:nyu-mll/blimp
    n_pairs: int | None = None
    seconds: float | None = None  # wall time of the scoring (apart from training and evaluation)
    overall: float | None = None  # mean accuracy over paradigms (the paper's convention)
    by_phenomenon: dict[str, float] | None = None  # linguistics_term → mean over its paradigms
    by_paradigm: dict[str, float] | None = None  # UID → share of correct pairs


NOT_SCORED_BEFORE_6 = "written before BLiMP scoring (record schema < 6)"


@dataclass
class RunRecord:
    """One run. Fields of a run that failed before or during training stay None (status says which)."""

    status: str  # ok | failed | diverged
    ffn: str
    seed: int
    config: dict[str, Any]  # the resolved Hydra config of the run
    config_hash: str  # identity_hash(config, data sha256) as written (older records: older rules)
    results_revision: int | None  # ffnlab.RESULTS_REVISION of the code that trained it
    run_dir: str
    schema: int = SCHEMA_VERSION
    error: str | None = None
    traceback: str | None = None
    data_seed: int | None = None
    gated: bool | None = None
    d_model: int | None = None
    d_ff: int | None = None
    n_layers: int | None = None
    params: Params | None = None
    params_ffn_active: int | None = None  # the FFN parameters a token uses (a routed FFN's chosen experts and
    # router, ffnlab.model.moe; a dense FFN: params.ffn)
    flops_per_token: float | None = None  # training FLOPs per token (forward + backward), model.flops_per_token
    flops_per_token_forward: float | None = None
    steps: int | None = None
    tokens: int | None = None  # training tokens: steps × batch × seq_len × processes
    train_epochs: float | None = None  # passes over the train split (> 1: tokens repeat)
    early: Horizon | None = None  # the evaluation at 1/8 of the budget
    final: Final | None = None
    history: list[Evaluation] = field(default_factory=list)
    tokens_per_s: float | None = None  # training tokens per second inside training steps
    train_s: float | None = None  # seconds inside training steps
    threads: int | None = None  # torch intra-op threads the run trained with (trainer.threads, or cores ÷ n_jobs)
    wall_s: float | None = None  # seconds for the whole run, data loading and evaluations included
    eval_s: float | None = None  # seconds inside validation and test loops
    setup_s: float | None = None  # seconds from the job's start to its first training step (data, model, Lightning)
    resumed_from_step: int | None = None
    branched_from: str | None = None  # a WSD run started from this longer run's stable checkpoint (ffnlab.runs.branch)
    peak_rss_mb: float | None = None  # peak resident memory of the process, MiB
    peak_gpu_mb: float | None = None  # torch.cuda.max_memory_allocated, MiB (None without CUDA)
    data: DataInfo | None = None
    git_sha: str | None = None  # the code's commit ("-dirty": with uncommitted changes)
    versions: dict[str, str] = field(default_factory=dict)
    reused_from: str | None = None  # a copy: the run folder whose record this is
    diagnostics: Diagnostics | None = None  # None: switched off, or written before schema 3
    blimp: Blimp | None = None  # BLiMP at the run's end (None only while a run is being built)
    extra: dict[str, Any] = field(default_factory=dict)  # fields this schema does not know, kept as read

    @property
    def data_sha256(self) -> str | None:
        return self.data.sha256 if self.data else None

    @property
    def machine(self) -> str | None:
        """The machine that trained the run, as the record names it (machine_label)."""
        return machine_label(self.versions or {}, bool(self.peak_gpu_mb))

    @property
    def early_val_loss(self) -> float | None:
        """The early horizon's loss over the whole validation split; None where the evaluation at that step read
        only the curve's first batches (a WSD branch inherits its early step from the run it branched from, whose
        own early step lies later). Records written before this rule may hold that partial loss in `early`."""
        if self.early is None:
            return None
        row = next((h for h in self.history if h.step == self.early.step), None)
        return None if row is not None and row.val_partial else self.early.val_loss

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        extra = out.pop("extra")
        return {"schema": out.pop("schema"), **out, **extra}


def machine_label(versions: dict[str, str], on_gpu: bool) -> str | None:
    """A machine as records name it: the GPU for a GPU run, else the CPU model with the vector instructions torch
    used ("Intel(R) Xeon(R) Processor (AVX512)"), else (records from before those were written) the platform."""
    if on_gpu and versions.get("gpu"):
        return versions["gpu"]
    if versions.get("cpu"):
        cap = versions.get("cpu_capability")
        return f"{versions['cpu']} ({cap})" if cap else versions["cpu"]
    return versions.get("platform")


_NESTED = {"params": Params, "early": Horizon, "final": Final, "data": DataInfo, "diagnostics": Diagnostics,
           "blimp": Blimp}


# The report's row of a run (ffnlab.report.collect, runs.csv) is the record flattened by `flat`: every field in
# the order declared above, a nested block's fields as <block>_<field>. Left out: the config (the report spreads it
# into cfg.* columns), the history (the curves' rows), free-form blocks, and text that names where a run was made
# (folders, the BLiMP source), which differs between machines; lists and dicts have no cell.
NOT_COLUMNS = ("schema", "config", "results_revision", "run_dir", "traceback", "history", "versions", "extra",
               "diagnostics", "branched_from", "data_description", "data_source", "blimp_source")


def flat(rec: RunRecord) -> dict[str, Any]:
    """The record as one table row: scalar fields by name, a nested block's as <block>_<field> (None where the
    block is absent); `early_val_loss` by the record's rule (RunRecord.early_val_loss)."""
    row: dict[str, Any] = {}
    for f in dataclasses.fields(RunRecord):
        value, block = getattr(rec, f.name), _NESTED.get(f.name)
        if f.name in NOT_COLUMNS or _has_no_cell(f):
            continue
        pairs = [(f"{f.name}_{g.name}", getattr(value, g.name) if value is not None else None)
                 for g in dataclasses.fields(block) if not _has_no_cell(g)] if block else [(f.name, value)]
        row.update((k, v) for k, v in pairs if k not in NOT_COLUMNS)
    row["early_val_loss"] = rec.early_val_loss
    return row


def _has_no_cell(f: dataclasses.Field) -> bool:
    """A list or dict field (by its declared type): no table cell holds it."""
    return "list[" in str(f.type) or "dict[" in str(f.type)


def _build(cls, values: dict[str, Any]):
    """A dataclass from a dict, missing fields None (older records lack some)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{n: values.get(n) for n in names})


def migrate(raw: dict[str, Any]) -> RunRecord:
    """Any record ffnlab ever wrote → a RunRecord of this schema. Raises ValueError if it is not a run record."""
    if not isinstance(raw, dict) or "status" not in raw:
        raise RecordError("not a run record (no 'status')")
    version = raw.get("schema", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(f"record schema {version!r} is newer than this ffnlab ({SCHEMA_VERSION}); update ffnlab")
    raw = dict(raw)
    raw.pop("schema", None)
    raw.pop("is_global_zero", None)  # schema 1 could carry this control flag of the DDP path
    names = {f.name for f in dataclasses.fields(RunRecord)} - {"schema", "extra"}
    values = {k: raw.get(k) for k in names}
    for key, cls in _NESTED.items():
        if isinstance(values[key], dict):
            values[key] = _build(cls, values[key])
    values["history"] = [_build(Evaluation, h) for h in raw.get("history") or []]
    values["config"] = raw.get("config") or {}
    values["versions"] = raw.get("versions") or {}
    for key in ("ffn", "config_hash", "run_dir"):
        values[key] = values[key] if values[key] is not None else ""
    values["extra"] = {k: v for k, v in raw.items() if k not in names}
    if values["blimp"] is None and version < 6:
        values["blimp"] = Blimp(status="not scored", reason=NOT_SCORED_BEFORE_6)
    rec = RunRecord(**values)
    problem = invalid(rec, version)
    if problem:
        raise RecordError(problem)
    return rec


def invalid(rec: RunRecord, version: int = SCHEMA_VERSION) -> str | None:
    """Why a record that says 'ok' is not a valid finished run (None: it is, or it does not say 'ok'). The one
    rule that skip, reuse and the report all apply (through migrate): a final validation loss that is finite
    (the test loss too, where there is one) and equals its history's last evaluation, at the same step; from
    schema 6 on, a config_hash that recomputes from its config and data hash (older records used older rules)."""
    if rec.status != "ok":
        return None
    f = rec.final
    if f is None or f.val_loss is None:
        return "status 'ok' but no final validation loss"
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (f.val_loss, f.test_loss or 0.0)):
        return f"status 'ok' but a non-finite final loss ({f.val_loss}, test {f.test_loss})"
    if rec.history and (rec.history[-1].step != f.step or rec.history[-1].val_loss != f.val_loss):
        last = rec.history[-1]
        return (f"its final validation loss {f.val_loss} at step {f.step} contradicts its history's last "
                f"evaluation ({last.val_loss} at step {last.step})")
    if version >= 6 and rec.config and rec.config_hash != identity_hash(rec.config, rec.data_sha256):
        return f"its config_hash {rec.config_hash} does not recompute from its config and data hash"
    return None


def read_record(path: str | Path) -> RunRecord | None:
    """The record in a run folder (or at a metrics.json path): None if there is none; ValueError if unreadable."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    if not path.exists():
        return None
    try:
        return migrate(json.loads(path.read_text()))
    except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        raise RecordError(f"{path}: unreadable run record ({e})") from e


def try_read_record(path: str | Path) -> RunRecord | None:
    """Like read_record, but an unreadable record reads as None (the sweep treats it as not finished)."""
    try:
        return read_record(path)
    except ValueError:
        return None


def write_record(run_dir: str | Path, record: RunRecord) -> Path:
    """Write metrics.json atomically. A finished ('ok') record is never replaced by one that is not."""
    path = Path(run_dir) / RECORD_NAME
    try:
        existing = read_record(path)
    except ValueError as e:  # a newer schema, a malformed or self-contradicting record: never rewritten
        raise FileExistsError(f"{path} holds a record this ffnlab cannot vouch for ({e}); refusing to overwrite "
                              "it: move it aside") from e
    if existing is not None and existing.status == "ok" and record.status != "ok":
        raise FileExistsError(f"{path} holds a finished run; refusing to overwrite it with a {record.status} one")
    problem = invalid(record)
    if problem:  # what the readers would refuse is never written
        raise RecordError(f"not writing {path}: {problem}")
    record.schema = SCHEMA_VERSION
    atomic_write_text(path, json.dumps(record.to_dict(), indent=2, default=str) + "\n")
    return path


def write_outcome(run_dir: str | Path, outcome: str, detail: str = "") -> None:
    """What this invocation did with the run folder, for the sweep's tally."""
    atomic_write_text(Path(run_dir) / OUTCOME_NAME, json.dumps({"outcome": outcome, "at": time.time(),
                                                                "detail": detail}))
