"""The Hydra app `ffnlab-train`: open the data, decide (ffnlab.plan), fit, and write the run record.

One job: its run folder gets `.hydra/` (the composed config, written only when the job trains or reuses, so a
skipped or refused folder keeps its files), `metrics.json` (the RunRecord) and `outcome.json` (for the tally).
"""

from __future__ import annotations

import logging
import math
import os
import resource
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ffnlab import RESULTS_REVISION, blimp, config
from ffnlab.corpora import open_corpus
from ffnlab.errors import ConfigError, FfnlabError, fail
from ffnlab.ffn import VARIANTS, UnknownVariantError, get_variant
from ffnlab.io import (
    FolderBusyError,
    atomic_write_text,
    ensure_writable,
    output_dir,
    run_folder_lock,
    threads_per_job,
)
from ffnlab.keys import folder_exclude_keys
from ffnlab.plan import Decision, decide
from ffnlab.quiet import quiet_third_party
from ffnlab.record import (
    Blimp,
    Diagnostics,
    Evaluation,
    Final,
    Horizon,
    Params,
    RunRecord,
    find_finished,
    git_sha,
    identity_hash,
    read_record,
    try_read_record,
    versions,
    write_outcome,
    write_record,
)
from ffnlab.schedules import is_wsd

log = logging.getLogger("ffnlab")
CONF_DIR = config.CONF_DIR


def _subdir(name: str) -> str:
    """A run folder's name from its overrides, made safe: no path separators, so never outside the sweep."""
    return (name or "default").replace("/", "_").replace("\\", "_")


OmegaConf.register_new_resolver("ffnlab_uid", lambda: uuid.uuid4().hex[:8], use_cache=True, replace=True)
OmegaConf.register_new_resolver("ffnlab_subdir", _subdir, replace=True)
OmegaConf.register_new_resolver("ffnlab_variants", lambda: ", ".join(VARIANTS), replace=True)
OmegaConf.register_new_resolver(
    "ffnlab_folder_exclude",
    lambda *, _root_: folder_exclude_keys(OmegaConf.to_container(_root_, resolve=False, enum_to_str=True)),
    replace=True)
config.register()


def _resume_point(ckpt_dir: Path) -> tuple[Path | None, int, str | None]:
    """(checkpoint, its step, the identity stamped in it) for the run's own last checkpoint; Nones if none."""
    import torch

    path = ckpt_dir / "last.ckpt"
    if not path.is_file():
        return None, 0, None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unreadable: start over, but keep the file for inspection
        log.warning("ignoring unreadable checkpoint %s (%s); starting from scratch", path, e)
        path.rename(path.with_suffix(".ckpt.unreadable"))
        return None, 0, None
    return path, int(ckpt["global_step"]), ckpt.get("ffnlab", {}).get("config_hash")


def _readable(path: Path) -> bool:
    """Whether a checkpoint file loads (a truncated or corrupt one does not)."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return True
    except Exception:
        return False


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux), so a run in a multi-run process reports its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process lifetime peak


def _launcher_threads() -> int | None:
    """trainer.threads=null in a sweep whose launcher runs n_jobs side by side: cores ÷ n_jobs (never more threads
    than cores); otherwise None (torch's default)."""
    try:
        n_jobs = HydraConfig.get().launcher.get("n_jobs")
    except ValueError:  # no Hydra context (a notebook or a test calling fit)
        return None
    return threads_per_job(n_jobs) if isinstance(n_jobs, int) and n_jobs > 0 else None


def fit(cfg: DictConfig, run_dir: Path, identity: str, source, resume: Path | None, start_step: int,
        t_job: float | None = None, prefix: str | None = None) -> tuple[dict[str, Any], bool]:
    """Train one model; returns (the record's measured fields, whether this process is rank 0). Raises on failure."""
    import torch

    from ffnlab import branch
    from ffnlab.build import build, ckpt_interval, datamodule, eval_schedule, validate_model, world_size
    from ffnlab.callbacks import History, MeasureDiagnostics, SaveLast
    from ffnlab.data import bits_per_byte
    from ffnlab.lit import DivergedError

    quiet_third_party()  # again, now that Lightning is imported (it adds console handlers of its own on import)
    t_start = time.time()
    t_job = t_job or t_start
    _reset_peak_rss()
    t = cfg.trainer
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        if t.get("gpu_memory_share"):  # launcher=gpu_pack: several runs share the device
            torch.cuda.set_per_process_memory_fraction(float(t.gpu_memory_share))
    threads = t.threads or _launcher_threads()
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(cfg.seed)  # the global RNG draws only dropout masks (init and batches have their own seeds)
    early, every = eval_schedule(t.max_steps, t.eval_every)
    validate_model(cfg)
    hc = HydraConfig.get()
    in_sweep = hc.mode == RunMode.MULTIRUN and "submitit" not in str(hc.launcher.get("_target_", ""))
    if t.strategy not in ("auto", None) and in_sweep:  # on SLURM, srun starts one task per device instead
        raise ConfigError(f"trainer.strategy={t.strategy} starts its own processes and cannot run inside a -m sweep "
                          "here; run it as a single run, or sweep on SLURM (launcher=slurm) with one task per device")

    world = world_size(t)
    history = History(tokens_per_step=cfg.data.batch_size * cfg.model.seq_len * world)
    dm = datamodule(cfg, source=source)
    dm.start_step = start_step
    diag = MeasureDiagnostics(every, cfg.diagnostics.tokens) if cfg.diagnostics.enabled else None
    # SaveLast comes last: the checkpoint after an evaluation holds that evaluation's history and diagnostics
    keep = branch.points_to_keep(cfg) if prefix else set()
    callbacks = [history, *([diag] if diag else []),
                 *([branch.KeepStable(run_dir / "checkpoints", keep, prefix, every)] if keep else []),
                 SaveLast(run_dir / "checkpoints", ckpt_interval(t.ckpt_every, every), identity)]
    parts = build(cfg, run_dir, callbacks, dm=dm, logger_version=f"from_step_{start_step}")
    info, lit, trainer = dm.info, parts.module, parts.trainer
    if resume:
        log.info("resuming %s from %s (step %d)", run_dir, resume, start_step)
    trainer.fit(lit, datamodule=dm, ckpt_path=str(resume) if resume else None, weights_only=True)
    if not history.rows or history.rows[-1]["step"] != t.max_steps:
        trainer.validate(lit, datamodule=dm, verbose=False)
    test_loss, test_error = None, None
    if info.test_tokens is not None:  # a failure here must not discard the trained model's validation results
        try:
            test_loss = float(trainer.test(lit, datamodule=dm, verbose=False)[0]["test/loss"])
        except Exception as e:
            test_error = f"test evaluation failed ({type(e).__name__}: {e}); validation results kept"
            log.warning("%s: %s", run_dir, test_error)

    model, rows = lit.model, history.rows
    if trainer.is_global_zero:
        save_final(run_dir, model, identity)
    scored = score_blimp(cfg, model, dm.tokenizer) if trainer.is_global_zero else None
    early_row = next((r for r in rows if r["step"] == early and not r["val_partial"]), None)  # whole split only
    final_val = rows[-1]["val_loss"]
    if not math.isfinite(final_val):
        raise DivergedError(f"non-finite validation loss ({final_val}) at step {rows[-1]['step']}")
    train_tokens = t.max_steps * history.tokens_per_step
    flops = model.flops_per_token()
    counts = model.param_counts()
    fields = dict(
        data_seed=cfg.data_seed, gated=get_variant(cfg.ffn).gated, d_model=model.cfg.d_model, d_ff=model.cfg.d_ff,
        n_layers=model.cfg.n_layers, params=Params(**{k: v for k, v in counts.items() if k != "ffn_active"}),
        params_ffn_active=counts["ffn_active"], flops_per_token=flops["train"],
        flops_per_token_forward=flops["forward"], steps=t.max_steps, tokens=train_tokens,
        train_epochs=dm.train_epochs() * world,
        early=Horizon(step=early, val_loss=early_row["val_loss"] if early_row else None),
        final=Final(step=rows[-1]["step"], val_loss=final_val, val_ppl=math.exp(final_val),
                    val_bpb=bits_per_byte(final_val, info.bytes_per_token["val"]), test_loss=test_loss,
                    test_bpb=bits_per_byte(test_loss, info.bytes_per_token["test"]) if test_loss else None),
        history=[Evaluation(**r) for r in rows],
        tokens_per_s=train_tokens / history.train_s if history.train_s else None, train_s=history.train_s,
        threads=torch.get_num_threads(),
        wall_s=time.time() - t_start, eval_s=round(history.eval_s, 3),
        setup_s=round(history.first_step_at - t_job, 3) if history.first_step_at else None,
        resumed_from_step=dm.start_step or None,
        peak_rss_mb=_peak_rss_mb(),  # this run's peak resident memory (the whole process, data included)
        peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        data=info, error=test_error, diagnostics=Diagnostics(**diag.block()) if diag else None, blimp=scored,
    )
    return fields, trainer.is_global_zero


FINAL_CKPT = "final.ckpt"


def save_final(run_dir: Path, model, identity: str) -> Path:
    """The trained weights and the model's config at the run's end (`checkpoints/final.ckpt`, never committed):
    what `ffnlab-eval` scores later."""
    import torch

    from ffnlab.io import atomic_path

    path = run_dir / "checkpoints" / FINAL_CKPT
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "model_config": model.cfg.to_dict(), "config_hash": identity}, tmp)
    return path


def score_blimp(cfg: DictConfig, model, tokenizer) -> Blimp:
    """The record's blimp block: scored (ffnlab.blimp), or why not."""
    if not config.blimp_on(cfg):
        return Blimp(status="not scored", reason="blimp.enabled is off for this run (or null, and the corpus or "
                                                 "the context length rules it out)")
    settings = OmegaConf.to_container(cfg.blimp, resolve=True)
    try:
        block = blimp.evaluate(model, tokenizer, settings, cfg.data.get("corpora_dir"))
    except Exception as e:  # a trained run never fails at its end for BLiMP: the record says why it was skipped
        log.exception("BLiMP scoring failed")
        block = {"status": "skipped", "reason": f"scoring failed ({type(e).__name__}: {e})"}
    if block["status"] == "scored":
        log.info("BLiMP: %.4f over %d paradigms (%d pairs, %.0f s)", block["overall"], len(block["by_paradigm"]),
                 block["n_pairs"], block["seconds"])
    else:
        log.warning("BLiMP skipped: %s", block["reason"])
    return Blimp(**block)


def _save_hydra_files(run_dir: Path, cfg: DictConfig) -> None:
    """What Hydra writes to .hydra/ (conf/train.yaml sets output_subdir null, so only a job that trains or reuses
    writes it, and a skipped or refused folder keeps the config of the run it holds)."""
    hc = HydraConfig.instance().cfg
    folder = run_dir / ".hydra"
    atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(folder / "hydra.yaml", OmegaConf.to_yaml(hc))
    atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hc.hydra.overrides.task))


def _decide(cfg: DictConfig, run_dir: Path, resolved: dict, data_sha: str, identity: str, multirun: bool
            ) -> tuple[Decision, Path | None, int]:
    try:
        existing = read_record(run_dir)
    except ValueError as e:  # never trusted, never rewritten: the user decides what happens to it
        return Decision("refuse", f"its metrics.json is not a valid run record ({e.__cause__ or e}); move the "
                                  "file aside to train this run"), None, 0
    if existing is not None and existing.status == "ok":
        return decide(existing, resolved, data_sha, RESULTS_REVISION, identity), None, 0
    donor = None
    if multirun and cfg.get("reuse_runs", False):  # only where ffnlab's own sweeps live: <output>/multirun
        donor = find_finished(output_dir(cfg.paths.output) / "multirun", resolved, data_sha, RESULTS_REVISION,
                              exclude=run_dir)
    ckpt, step, stamp = (None, 0, None) if donor else _resume_point(run_dir / "checkpoints")
    decision = decide(existing, resolved, data_sha, RESULTS_REVISION, identity, stamp, donor)
    return decision, (ckpt if decision.action == "resume" else None), (step if decision.action == "resume" else 0)


def _interrupted(run_dir: Path, e: BaseException, multirun: bool) -> None:
    """Mark the run interrupted (no record: its checkpoint resumes it), say so with the sweep's tally, and exit."""
    from ffnlab.sweep import SIGNAL_EXIT, interrupted_tally, report_if_asked

    how = "SIGTERM" if type(e).__name__ == "SIGTERMException" else "Ctrl-C" if isinstance(e, KeyboardInterrupt) \
        else "an exit"
    write_outcome(run_dir, "interrupted", f"stopped by {how}; re-run the same command to resume it from its last "
                                          "checkpoint")
    log.warning("interrupted %s (stopped by %s): finished runs are kept; re-run the same command to continue",
                run_dir, how)
    if multirun:
        log.warning(interrupted_tally(run_dir.parent))
        report_if_asked(figures=False)  # what finished, as tables (figures: ffnlab-report)
    raise SystemExit(SIGNAL_EXIT)


def run(cfg: DictConfig) -> float:
    """One Hydra job; returns its final validation loss (inf when it has none), for sweepers that optimise.
    In a sweep, each job ends with where the sweep stands (ffnlab.progress)."""
    result = _job(cfg)
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        from ffnlab import progress

        text = progress.line(Path(hc.sweep.dir))
        if text:
            log.info("sweep: %s", text)
    return result


def _job(cfg: DictConfig) -> float:
    quiet_third_party()  # here, not only in cli(): a launcher's worker processes run this function alone
    t_job = time.time()
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    run_dir = Path(hc.runtime.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return _owned_job(cfg, run_dir, multirun, t_job)  # a DDP worker Lightning started: rank 0 owns the folder
    try:
        with run_folder_lock(run_dir):  # the folder's owner for the run's life: no second writer
            return _owned_job(cfg, run_dir, multirun, t_job)
    except FolderBusyError as e:
        if not multirun:
            fail("ffnlab-train", e)
        log.error("%s", e)
        return math.inf


def _owned_job(cfg: DictConfig, run_dir: Path, multirun: bool, t_job: float) -> float:
    from ffnlab.lit import DivergedError

    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        source = open_corpus(resolved["data"])
    except FfnlabError as e:
        if not multirun:
            fail("ffnlab-train", e)
        log.error("run %s: %s", run_dir, e)
        write_outcome(run_dir, "failed", str(e))
        return math.inf
    data_sha = source.sha256
    identity = identity_hash(resolved, data_sha)
    decision, resume, start_step = _decide(cfg, run_dir, resolved, data_sha, identity, multirun)
    prefix, branched_from = None, None
    if is_wsd(resolved):
        from ffnlab import branch

        prefix = branch.prefix_hash(resolved, data_sha)
        if decision.action == "train" and multirun and cfg.get("reuse_runs", False):
            found = branch.find_branch(output_dir(cfg.paths.output) / "multirun", run_dir,
                                       branch.stable_point(resolved), prefix)
            if found is not None and not _readable(found):  # set aside, as a resumed run's would be
                log.warning("branch %s: the parent checkpoint %s is unreadable; set aside as .unreadable, "
                            "training from scratch", run_dir, found)
                found.rename(found.with_suffix(".ckpt.unreadable"))
                found = None
            if found is not None:
                resume, start_step, branched_from = found, branch.stable_point(resolved), str(found)
                log.info("branch %s: from %s (step %d)", run_dir, found, start_step)

    if decision.action == "skip":
        existing = try_read_record(run_dir)
        log.info("skip %s: finished with the same config%s", run_dir, f" ({decision.reason})" if decision.reason
                 else "")
        write_outcome(run_dir, "skipped", decision.reason)
        return existing.final.val_loss
    if decision.action == "refuse":
        where = "a new sweep_name or hydra.sweep.dir" if multirun else "another hydra.run.dir"
        msg = f"{run_dir}: {decision.reason}; not overwriting it: use {where}"
        if not multirun:  # a single run's folder is left exactly as it was
            fail("ffnlab-train", msg)
        write_outcome(run_dir, "refused", msg)
        log.error(msg)
        return math.inf
    _save_hydra_files(run_dir, cfg)
    if decision.action == "reuse":  # the same experiment finished in another sweep: copy its record
        donor = try_read_record(decision.donor)
        donor.config, donor.config_hash, donor.run_dir = resolved, identity, str(run_dir)
        donor.reused_from = str(decision.donor)
        write_record(run_dir, donor)
        write_outcome(run_dir, "reused", str(decision.donor))
        log.info("reuse %s: %s", run_dir, decision.reason)
        return donor.final.val_loss

    record = RunRecord(status="ok", ffn=cfg.ffn, seed=cfg.seed, config=resolved, config_hash=identity,
                       results_revision=RESULTS_REVISION, run_dir=str(run_dir), git_sha=git_sha(),
                       versions=versions())
    t0, rank0 = time.time(), True
    try:
        fields, rank0 = fit(cfg, run_dir, identity, source, resume, start_step, t_job, prefix)
        fields["branched_from"] = branched_from
        for key, value in fields.items():
            setattr(record, key, value)
    except DivergedError as e:
        record.status, record.error, record.wall_s = "diverged", str(e), time.time() - t0
    except (KeyboardInterrupt, SystemExit) as e:  # Ctrl-C, or SIGTERM (Lightning stops after the current step)
        _interrupted(run_dir, e, multirun)
    except Exception as e:  # recorded, not fatal: the sweep goes on
        record.status, record.error, record.wall_s = "failed", f"{type(e).__name__}: {e}", time.time() - t0
        record.traceback = traceback.format_exc()
        write_record(run_dir, record)
        write_outcome(run_dir, "failed", record.error)
        if isinstance(e, FfnlabError):  # the user's to fix: one line, no traceback
            if not multirun:
                fail("ffnlab-train", e)
            log.error("run %s failed: %s", run_dir, e)
            return math.inf
        log.exception("run %s failed", run_dir)
        if not multirun:
            sys.exit(1)
        return math.inf
    final = record.final.val_loss if record.final else None
    if not rank0:
        return final  # DDP: only rank 0 writes
    write_record(run_dir, record)
    write_outcome(run_dir, record.status, record.error or "")
    log.info("%s %s seed=%s: %s%s", record.status, cfg.ffn, cfg.seed, run_dir,
             f" val_loss={final:.4f}" if final is not None else f" ({record.error})")
    return final if final is not None else math.inf


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float:
    return run(cfg)


def _precheck(argv: list[str]) -> None:
    """Fail before any work on an unknown variant name in `ffn=...` (single value or a sweep list)."""
    for arg in argv:
        if arg.startswith(("ffn=", "+ffn=")):
            value = arg.split("=", 1)[1]
            if value.startswith(("choice(", "range(", "glob(")):
                continue
            for name in value.split(","):
                try:
                    get_variant(name.strip())
                except UnknownVariantError as e:
                    fail("ffnlab-train", e)


# Hydra flags that take a value; the pre-composition below passes over both.
_HYDRA_FLAGS_WITH_VALUE = ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "-c", "--cfg",
                           "-p", "--package", "--info", "--experimental-rerun")


def _one_line(e: Exception) -> str:
    """Hydra's multi-line composition error as one line (without its advice to add unknown keys with +)."""
    raw = [ln for ln in str(e).splitlines() if ln.strip()]
    if any("Available options" in ln for ln in raw):  # an unknown choice of a config group
        options = [ln.strip() for ln in raw[1:] if ln[:1].isspace() and "=" not in ln]  # not the search path
        return f"{raw[0].strip()}; choose one of: {', '.join(options)}"
    keep = [ln.strip() for ln in raw if not ln.strip().startswith(
        ("full_key:", "object_type=", "reference_type=", "To append to your config"))]
    cause = str(e.__cause__).splitlines()[0].strip() if e.__cause__ is not None else ""
    return "; ".join(dict.fromkeys(keep[:2] + ([cause] if cause else []))) + \
        " (ffnlab-train --cfg job prints the composed config)"


def _in_schema(key: str) -> bool:
    """Whether a dotted key exists in the typed config, or lies inside one of its free-form dicts (data.hub.*)."""
    node: object = OmegaConf.structured(config.TrainConfig)
    for part in key.split("."):
        if node is None or (OmegaConf.is_dict(node) and OmegaConf.get_type(node) is dict):
            return True  # a free-form dict (or an optional section that is unset): any key may be added
        if not OmegaConf.is_dict(node) or part not in node:
            return False
        node = node[part]
    return True


def _compose_check(argv: list[str]) -> None:
    """Compose the config as Hydra will (for a sweep, each swept key's first value) so that an unknown key, a
    wrong type or a missing value fails here with one line and exit 2, not Hydra's multi-line report."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if any(a.startswith(_HYDRA_FLAGS_WITH_VALUE[:6]) or a.startswith("--help") for a in argv):
        return  # another config tree, or help: leave it all to Hydra
    items, skip = [], False
    for a in argv:
        if skip or a.startswith("-"):
            skip = a in _HYDRA_FLAGS_WITH_VALUE and not skip
            continue
        items.append(a)
    try:
        chosen, placed = [], []
        for o in OverridesParser.create().parse_overrides(items):
            key = o.get_key_element().lstrip("+~")
            if key in ("hydra.sweep.dir", "hydra.run.dir") and not o.is_sweep_override():
                placed.append((key, o.value()))
            if key.startswith("hydra."):
                continue
            if o.is_sweep_override():
                if not o.is_discrete_sweep():
                    continue  # an interval for a tuning sweeper: its type is checked when sampled
                chosen.append(f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}")
            else:
                chosen.append(o.input_line)
        cfg = config.compose(chosen)
        config.check(cfg)
        ensure_writable(output_dir(cfg.paths.output), "paths.output (or $FFNLAB_OUTPUT)")
        for key, folder in placed:  # where Hydra itself writes (multirun.yaml, logs): one line, not an OSError
            if "${" not in str(folder):
                ensure_writable(Path(str(folder)).expanduser(), key)
    except (HydraException, OmegaConfBaseException) as e:
        fail("ffnlab-train", _one_line(e))
    except FfnlabError as e:
        fail("ffnlab-train", e)
    for key in (o.split("=", 1)[0][1:] for o in chosen if o.startswith("+") and not o.startswith("++")):
        if not _in_schema(key):  # Hydra's `+key=` would add a setting that nothing reads
            fail("ffnlab-train", f"{key} is not a setting of ffnlab-train (a typo?); ffnlab-train --cfg job lists "
                                 "the settings")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        fail("ffnlab-train", f"{', '.join(missing)} must be set (e.g. {missing[0]}=...), "
                             "the chosen config leaves it without a value")


def cli() -> None:
    _precheck(sys.argv[1:])
    _compose_check(sys.argv[1:])
    try:
        _hydra_main()
    except KeyboardInterrupt:  # a sweep in worker processes stopped by Ctrl-C or SIGTERM (ffnlab.sweep)
        from ffnlab.sweep import SIGNAL_EXIT, mark_interrupted, report_if_asked

        line = mark_interrupted()
        report_if_asked(figures=False)
        print(f"ffnlab-train: {line or 'interrupted'}; finished runs are kept, re-run the same command to continue",
              file=sys.stderr)
        sys.exit(SIGNAL_EXIT)


if __name__ == "__main__":
    cli()
