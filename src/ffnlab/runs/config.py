"""The typed config: one dataclass per section, registered in Hydra's ConfigStore as the schema of conf/train.yaml.

conf/train.yaml lists `train_schema` first in its defaults, so every YAML file and every override merges into
these dataclasses: an unknown key (`trainer.max_step=10`) or a wrong type (`trainer.max_steps=ten`) fails at
composition, before any work. `settings()` is the one place the values are checked (`check`: RANGES and the rules
that tie keys together) and the composed config becomes a TrainConfig object, which is all that builds a run
(ffnlab.runs.build, ffnlab.runs.fit). The YAML files hold the values; this module holds the names, types, meanings
and rules. Torch-free.
"""

from __future__ import annotations

import importlib.util
import math
import typing
import uuid
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

from ffnlab.data.info import TOKENIZERS
from ffnlab.errors import ConfigError
from ffnlab.io import REPO_ROOT
from ffnlab.model.config import ATTENTION, HEADS, ModelFields
from ffnlab.runs.keys import folder_exclude_keys
from ffnlab.runs.schedules import OPTIMIZERS, SCHEDULES, ckpt_interval, cooldown_start, eval_schedule

CONF_DIR = REPO_ROOT / "conf"


MODEL_FROM_ELSEWHERE = ("vocab_size", "ffn")  # the tokenizer's vocabulary; the top-level `ffn`
ModelSection = make_dataclass(
    "ModelSection", [(f.name, typing.get_type_hints(ModelFields)[f.name], field(default=f.default))
                     for f in fields(ModelFields) if f.name not in MODEL_FROM_ELSEWHERE])
ModelSection.__doc__ = ("The transformer: ffnlab.model.config.ModelFields, its one definition, less vocab_size and "
                        "ffn, which come from elsewhere.")


@dataclass
class HubSection:
    """A corpus streamed from the Hugging Face hub (conf/data/c4.yaml explains each field)."""

    dataset: str = MISSING
    config: str | None = None
    text_field: str = "text"
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "val": "validation"})
    revision: str | None = None
    path: str | None = None  # a copy saved with datasets' save_to_disk (no network)
    max_tokens: dict[str, int] = field(default_factory=dict)  # per split; absent: the whole split
    tokenizer_chars: int = 50_000_000  # characters of train the BPE is trained on


@dataclass
class DataSection:
    corpus: str = "embedded"  # embedded | wikitext2 | tinyshakespeare | text | a hub corpus name
    path: str | None = None  # data=text: a file or folder of *.txt
    corpora_dir: str | None = None  # the shared corpora (default $FFNLAB_CORPORA, else ../shared/corpora)
    fetch_from: str | None = None  # wikitext2 / tinyshakespeare without the shared folder: a save_to_disk copy
    vocab_size: int = 4096  # BPE vocabulary asked for (the tokenizer may learn fewer); data.tokenizer=words: unused
    tokenizer: str | None = None  # null: bpe (byte-level, trained on train); words: the corpus's own whitespace-
    # separated tokens and a newline token (WikiText's tokenized release: its 33,278 words), ffnlab.data.words
    batch_size: int = 16  # sequences per training step (per process under DDP)
    eval_batch_size: int = 32
    cache_dir: str | None = None  # tokenizers and token files (default $FFNLAB_CACHE, else ~/.cache/ffnlab)
    hub: HubSection | None = None
    max_tokens: dict[str, int] | None = None  # streamed local corpora (pgbooks): cap per split, e.g. {val: 524288}
    tokenizer_chars: int | None = None  # streamed local corpora: characters of train the BPE is trained on


@dataclass
class OptimSection:
    """AdamW + warmup/cosine (conf/optim/adamw.yaml) or Adafactor + inverse sqrt (optim=shazeer). A field that
    the chosen optimizer does not use stays null (and null fields do not enter a run's identity)."""

    name: str | None = None  # null: adamw | adafactor
    schedule: str | None = None  # adamw: null (cosine) | wsd (warmup-stable-decay, conf/optim/wsd.yaml)
    lr: float = 2e-3
    weight_decay: float = 0.1  # on matrices only
    betas: list[float] | None = None  # adamw
    eps: float | None = None  # adamw
    warmup_frac: float | None = None  # adamw: linear warmup over this fraction of the steps
    min_lr_ratio: float | None = None  # adamw: cosine decays to lr × this
    warmup_steps: int | None = None  # adafactor: constant lr for these steps, then 1/sqrt(step); wsd: linear warmup
    cooldown_frac: float | None = None  # wsd: the last fraction of the steps decays linearly to 0
    decay_frac: float | None = None  # adafactor: linear decay to 0 over this last fraction


@dataclass
class TrainerSection:
    max_steps: int = 1000
    accelerator: str = "cpu"
    devices: Any = 1  # an int, or what Lightning accepts
    strategy: str = "auto"  # auto | ddp | ...: several processes (single runs or SLURM only)
    precision: str = "32-true"  # 32-true | bf16-mixed | ...
    gradient_clip_val: float | None = 1.0
    eval_every: int | None = None  # null: every max_steps/8 steps
    ckpt_every: int | None = None  # null: at every evaluation
    curve_val_batches: int | None = None  # intermediate evaluations read this many val batches (null: all)
    log_every_n_steps: int = 10
    progress_bar: bool = True
    threads: int | None = None  # torch intra-op threads (null: cores ÷ the launcher's n_jobs, else torch's default)
    gpu_memory_share: float | None = None  # launcher=gpu_pack: this run's fraction of the GPU's memory
    branch_budgets: list[int] | None = None  # optim.schedule=wsd: the max_steps a sweep trains; a run keeps its
    # checkpoint where each shorter budget's cool-down starts, and a shorter run starts there (ffnlab.runs.branch)


@dataclass
class PerfSection:
    """How, not what: speed and memory options, each held to the reference loss curve by the tests."""

    ffn_impl: str = "naive"  # naive | fused | recompute
    compile: bool = False


@dataclass
class DiagnosticsSection:
    """How, not what: activation diagnostics at every evaluation (ffnlab.model.diagnostics); never changes a loss."""

    enabled: bool = True
    tokens: int = 4096  # the fixed validation tokens measured (the first windows of the split)


ENGLISH_CORPORA = ("pgbooks", "pg19", "wikitext2", "wikitext2_raw", "wikitext103", "c4", "tinystories",
                   "tinyshakespeare")
BLIMP_MIN_SEQ_LEN = 64  # BLiMP's longest sentence is 45 BPE-4096 tokens (plus the newline it is conditioned on)


@dataclass
class BlimpSection:
    """How, not what: BLiMP minimal pairs scored by the trained model at the end of every run (ffnlab.data.blimp), in
    the record's `blimp` block (which says what was scored); never changes training."""

    enabled: bool | None = None  # null: on where data.corpus is English text and model.seq_len >= 64, else off
    dir: str | None = None  # the BLiMP folder (default <corpora>/blimp)
    hub: bool = True  # where the folder is absent, read the hub's nyu-mll/blimp (verified) if the network allows
    pairs_per_paradigm: int | None = None  # null: all 1,000 (the studies); k: k pairs per paradigm, seeded
    sample_seed: int = 0  # which k pairs (the same for every run)
    batch_size: int = 256  # sentences per forward pass


@dataclass
class LoggerSection:
    """How, not what: where Lightning also streams the curves (conf/logger/). The CSV log is always written."""

    name: str = "csv"  # csv | tensorboard | mlflow


LOGGER_PACKAGES = {"csv": (), "tensorboard": ("tensorboardX", "tensorboard"), "mlflow": ("mlflow",)}


@dataclass
class PathsSection:
    output: str = "."


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    ffn: str = "relu"
    ffn_family: str | None = None  # set by conf/family/*: which family's FFN this run builds (a label)
    seed: int = 0
    data_seed: int = 0
    perf: PerfSection = field(default_factory=PerfSection)
    diagnostics: DiagnosticsSection = field(default_factory=DiagnosticsSection)
    blimp: BlimpSection = field(default_factory=BlimpSection)
    logger: LoggerSection = field(default_factory=LoggerSection)
    reuse_runs: bool = True
    report_at_end: bool = True  # a -m sweep with 2+ finished variants reports into <sweep>/report/
    sweep_name: str = MISSING
    paths: PathsSection = field(default_factory=PathsSection)


def blimp_on(cfg: TrainConfig) -> bool:
    """blimp.enabled, or for null: an English corpus, its BPE, and a context that holds BLiMP's sentences."""
    if cfg.blimp.enabled is not None:
        return bool(cfg.blimp.enabled)
    return (cfg.data.corpus in ENGLISH_CORPORA and cfg.model.seq_len >= BLIMP_MIN_SEQ_LEN
            and cfg.data.tokenizer != "words")  # BLiMP's sentences are not split as WikiText's words are


def settings(cfg: DictConfig | TrainConfig) -> TrainConfig:
    """The composed config, checked (every rule, here) and instantiated once into the typed dataclasses: what
    builds a run. A TrainConfig passes through unchanged; Hydra's own `hydra` node, where composed in, is left out."""
    if isinstance(cfg, TrainConfig):
        return cfg
    if "hydra" in cfg:  # composed with Hydra's own node: left out, the schema's type kept
        cfg = cfg.copy()
        with open_dict(cfg):
            del cfg["hydra"]
    check(cfg)
    return OmegaConf.to_object(cfg)


def check(cfg: DictConfig) -> None:
    """Values the types allow but no run can use: a ConfigError naming the setting. (Model shapes are checked by
    ffnlab.model.transformer.ModelConfig, the data's lengths by the data module.)"""
    _check_values(cfg)
    _, every = eval_schedule(cfg.trainer.max_steps, cfg.trainer.eval_every)
    ckpt_interval(cfg.trainer.ckpt_every, every)
    if cfg.diagnostics.enabled and cfg.diagnostics.tokens < cfg.model.seq_len:
        raise ConfigError(f"diagnostics.tokens={cfg.diagnostics.tokens} is less than one window of model.seq_len="
                          f"{cfg.model.seq_len} tokens; set it to {cfg.model.seq_len} or more, or "
                          "diagnostics.enabled=false")
    packages = LOGGER_PACKAGES.get(cfg.logger.name)
    if packages is None:
        raise ConfigError(f"logger.name={cfg.logger.name} is not a logger of ffnlab; choose one of "
                          f"{', '.join(LOGGER_PACKAGES)}")
    if packages and not any(importlib.util.find_spec(p) for p in packages):
        raise ConfigError(f"logger={cfg.logger.name} needs the {packages[0]} package: pip install {packages[0]} "
                          "(or choose logger=csv)")
    o = cfg.optim
    if o.get("name") not in (None, *OPTIMIZERS):
        raise ConfigError(f"optim.name={o.name} is not an optimizer of ffnlab; use optim=adamw or optim=shazeer "
                          "(adafactor)")
    if o.get("schedule") not in (None, *SCHEDULES):
        raise ConfigError(f"optim.schedule={o.schedule} is not a schedule of ffnlab; use cosine or wsd")
    if o.get("schedule") == "wsd":
        if o.warmup_steps is None or o.cooldown_frac is None or not 0 < o.cooldown_frac <= 1:
            raise ConfigError("optim.schedule=wsd needs optim.warmup_steps and optim.cooldown_frac in (0, 1] "
                              "(conf/optim/wsd.yaml sets both)")
        if o.warmup_steps > cooldown_start(cfg.trainer.max_steps, o.cooldown_frac):
            raise ConfigError(f"optim.warmup_steps={o.warmup_steps} outlasts the stable phase of trainer.max_steps="
                              f"{cfg.trainer.max_steps}; lower it or raise max_steps")


PRECISIONS = ("32-true", "32", "bf16-mixed", "bf16-true", "bf16", "16-mixed", "16-true", "16", "64-true", "64")
FFN_IMPLS = ("naive", "fused", "recompute")  # ffnlab.model.ffn.IMPLS (torch-free here)
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
MAX_SEED = 2**63 - 1  # torch's generators take a 64-bit seed


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _at_least(lo):
    return lambda v: _finite(v) and v >= lo


def _within(lo, hi, open_lo=False, open_hi=False):
    return lambda v: _finite(v) and (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)


def _optional(ok):
    return lambda v: v is None or ok(v)


def _one_of(names):
    return lambda v: str(v) in names


# Every value a user can set, checked in this one place before anything is built: key → (ok, what it must be,
# a value it refuses). Keys not listed here are names or paths checked where they are used (data.corpus,
# ffn, model.init, logger.name, optim.name and optim.schedule below; paths when written to) or booleans, whose
# type Hydra checks. tests/test_bad_inputs.py walks the typed schema: a key in neither list fails it.
RANGES = {
    "model.seq_len": (_within(1, 2**20), "between 1 and 1,048,576 tokens", 0),
    "model.d_model": (_at_least(1), "at least 1", 0),
    "model.n_layers": (_at_least(1), "at least 1", 0),
    "model.n_heads": (_at_least(1), "at least 1", 0),
    "model.ffn_mult": (_within(0, math.inf, open_lo=True), "a finite number above 0", 0.0),
    "model.multiple_of": (_optional(_at_least(1)), "null or at least 1", 0),
    "model.dropout": (_within(0, 1, open_hi=True), "in [0, 1)", 1.5),
    "model.rope_base": (_within(0, math.inf, open_lo=True), "a finite number above 0", -1.0),
    "model.norm_eps": (_within(0, 1, open_lo=True), "in (0, 1]", 0.0),
    "model.moe_experts": (_optional(_at_least(1)), "null (a dense FFN) or at least 1", 0),
    "model.moe_top_k": (_optional(_at_least(1)), "null or at least 1 (and at most model.moe_experts)", 0),
    "model.moe_shared": (_optional(_at_least(0)), "null or at least 0", -1),
    "model.moe_match": (_optional(_one_of(("active", "total"))), "null, active or total", "half"),
    "model.attention": (_optional(_one_of(ATTENTION)), f"null or one of {', '.join(ATTENTION)}", "cosine"),
    "model.head": (_optional(_one_of(HEADS)), f"null (full) or one of {', '.join(HEADS)}", "hierarchical"),
    "model.adaptive_cutoffs": (_optional(lambda v: len(v) > 0 and all(_at_least(1)(c) for c in v)
                                         and list(v) == sorted(set(v))),
                               "null or rising token counts ≥ 1 (below the vocabulary)", [10000, 2000]),
    "model.adaptive_div": (_optional(_at_least(1)), "null or a finite number ≥ 1", 0.5),
    "model.moe_balance": (_optional(_at_least(0)), "null or a finite number ≥ 0", -1.0),
    "model.moe_zloss": (_optional(_at_least(0)), "null or a finite number ≥ 0", float("nan")),
    "data.vocab_size": (_within(256, 2**31 - 1), "between 256 (the byte symbols of a byte-level BPE) and 2**31 − 1",
                        0),
    "data.batch_size": (_at_least(1), "at least 1", 0),
    "data.eval_batch_size": (_at_least(1), "at least 1", 0),
    "data.tokenizer": (_optional(_one_of(TOKENIZERS)), f"null (bpe) or one of {', '.join(TOKENIZERS)}", "chars"),
    "data.tokenizer_chars": (_optional(_at_least(1)), "null or at least 1", 0),
    "optim.lr": (_within(0, math.inf, open_lo=True), "a positive finite number (the studies use 2e-3 to 1.6e-2)",
                 -0.01),
    "optim.weight_decay": (_at_least(0), "a finite number ≥ 0", float("nan")),
    "optim.eps": (_optional(_within(0, 1, open_lo=True)), "null or in (0, 1]", 0.0),
    "optim.warmup_frac": (_optional(_within(0, 1)), "null or in [0, 1]", 1.5),
    "optim.min_lr_ratio": (_optional(_within(0, 1)), "null or in [0, 1]", -0.5),
    "optim.warmup_steps": (_optional(_at_least(0)), "null or at least 0", -1),
    "optim.cooldown_frac": (_optional(_within(0, 1, open_lo=True)), "null or in (0, 1]", 0.0),
    "optim.decay_frac": (_optional(_within(0, 1)), "null or in [0, 1]", 2.0),
    "optim.betas": (_optional(lambda v: len(v) == 2 and all(_within(0, 1, open_hi=True)(b) for b in v)),
                    "null or two numbers in [0, 1)", [0.9, 1.5]),
    "trainer.max_steps": (_at_least(1), "at least 1", 0),
    "trainer.accelerator": (_one_of(ACCELERATORS), f"one of {', '.join(ACCELERATORS)}", "quantum"),
    "trainer.devices": (lambda v: (isinstance(v, int) and not isinstance(v, bool) and (v >= 1 or v == -1))
                        or v == "auto" or (isinstance(v, list) and all(isinstance(i, int) for i in v))
                        or (isinstance(v, str) and all(x.strip().isdigit() for x in v.split(",") if x.strip())
                            and v.strip() != ""),
                        "a count of at least 1 (-1: all), auto, or device ids", 0),
    "trainer.strategy": (lambda v: isinstance(v, str) and v != "", "a Lightning strategy name (auto, ddp, ...)", ""),
    "trainer.precision": (_one_of(PRECISIONS), f"one of {', '.join(PRECISIONS[:5])}", "17"),
    "trainer.gradient_clip_val": (_optional(_at_least(0)), "null or a finite number ≥ 0", -1.0),
    "trainer.eval_every": (_optional(_at_least(1)), "null or at least 1", 0),
    "trainer.ckpt_every": (_optional(_at_least(1)), "null or at least 1", 0),
    "trainer.curve_val_batches": (_optional(_at_least(1)), "null or at least 1", 0),
    "trainer.log_every_n_steps": (_at_least(1), "at least 1", 0),
    "trainer.threads": (_optional(_at_least(1)), "null or at least 1", 0),
    "trainer.gpu_memory_share": (_optional(_within(0, 1, open_lo=True)), "null or in (0, 1]", 1.5),
    "trainer.branch_budgets": (_optional(lambda v: all(_at_least(1)(b) for b in v)), "null or budgets ≥ 1", [0]),
    "seed": (_within(0, MAX_SEED), "between 0 and 2**63 − 1 (a 64-bit generator seed)", -1),
    "data_seed": (_within(0, MAX_SEED), "between 0 and 2**63 − 1 (a 64-bit generator seed)", -1),
    "perf.ffn_impl": (_one_of(FFN_IMPLS), f"one of {', '.join(FFN_IMPLS)}", "turbo"),
    "diagnostics.tokens": (_at_least(1), "at least 1", 0),
    "blimp.pairs_per_paradigm": (_optional(_at_least(1)), "null or at least 1 (null: all 1,000)", 0),
    "blimp.sample_seed": (_within(0, MAX_SEED), "between 0 and 2**63 − 1", -1),
    "blimp.batch_size": (_at_least(1), "at least 1", 0),
    "sweep_name": (lambda v: "/" not in str(v) and "\\" not in str(v) and str(v) not in ("", ".", ".."),
                   "one folder under <output>/multirun/ (no '/' or '..'), so that every sweep stays where plan, "
                   "reuse and branching look for it", "../../escaped"),
}
# Keys whose values are checked where they are used, or whose type says it all.
CHECKED_ELSEWHERE = ("model.match_params", "model.round_up", "model.ffn_bias", "model.init", "data.corpus",
                     "data.path", "data.corpora_dir", "data.fetch_from", "data.cache_dir", "data.hub",
                     "data.max_tokens", "optim.name", "optim.schedule", "trainer.progress_bar", "ffn", "ffn_family",
                     "perf.compile", "diagnostics.enabled", "blimp.enabled", "blimp.dir", "blimp.hub", "logger.name",
                     "reuse_runs", "report_at_end", "paths.output")


def _lookup(cfg, key: str):
    node = cfg
    for part in key.split("."):
        if node is None or part not in node:
            return None, False
        node = node[part]
    return node, True


def _check_values(cfg: DictConfig) -> None:
    """Every key of RANGES, then the rules that tie two keys together; a ConfigError naming the setting."""
    for key, (ok, must, _) in RANGES.items():
        value, present = _lookup(cfg, key)
        if not present:
            continue
        plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        if not ok(plain):
            raise ConfigError(f"{key}={plain} must be {must}")
    o, t, m = cfg.optim, cfg.trainer, cfg.model
    moe = [k for k in ("moe_top_k", "moe_shared", "moe_match", "moe_balance", "moe_zloss") if m.get(k) is not None]
    if moe and not m.get("moe_experts"):
        raise ConfigError(f"model.{moe[0]} needs model.moe_experts (the number of experts of a routed FFN)")
    if m.get("moe_experts") and (m.get("moe_top_k") or 2) > m.moe_experts:
        raise ConfigError(f"model.moe_top_k={m.get('moe_top_k') or 2} must be at most model.moe_experts="
                          f"{m.moe_experts}")
    if t.branch_budgets and o.get("schedule") != "wsd":
        raise ConfigError("trainer.branch_budgets needs optim=wsd (a warmup-stable-decay schedule, whose stable "
                          "phase shorter budgets can branch from); drop it or choose optim=wsd")
    if o.get("schedule") == "wsd" and o.cooldown_frac is not None and 0 < o.cooldown_frac <= 1:
        if cooldown_start(t.max_steps, o.cooldown_frac) >= t.max_steps:
            raise ConfigError(f"optim.cooldown_frac={o.cooldown_frac} of trainer.max_steps={t.max_steps} rounds to "
                              "a cool-down of 0 steps; raise one of them")


def _subdir(name: str) -> str:
    """A run folder's name from its overrides, made safe: no path separators, so never outside the sweep."""
    return (name or "default").replace("/", "_").replace("\\", "_")


def _folder_exclude(*, _root_) -> list[str]:
    return folder_exclude_keys(OmegaConf.to_container(_root_, resolve=False, enum_to_str=True))


def register() -> None:
    """Put the schema in Hydra's ConfigStore and the resolvers conf/train.yaml uses in OmegaConf (idempotent);
    conf/train.yaml names the schema first in its defaults. (ffnlab_variants, for --help, is ffnlab-train's.)"""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
    OmegaConf.register_new_resolver("ffnlab_uid", lambda: uuid.uuid4().hex[:8], use_cache=True, replace=True)
    OmegaConf.register_new_resolver("ffnlab_subdir", _subdir, replace=True)
    OmegaConf.register_new_resolver("ffnlab_folder_exclude", _folder_exclude, replace=True)


def compose(overrides: list[str] = (), hydra: bool = False) -> DictConfig:
    """ffnlab-train's config, composed as the CLI composes it (for the benchmark, tests and notebooks)."""
    register()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=list(overrides), return_hydra_config=hydra)
