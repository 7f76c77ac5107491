"""The typed config: one dataclass per section, registered in Hydra's ConfigStore as the schema of conf/train.yaml.

conf/train.yaml lists `train_schema` first in its defaults, so every YAML file and every override merges into
these dataclasses: an unknown key (`trainer.max_step=10`) or a wrong type (`trainer.max_steps=ten`) fails at
composition, before any work. The YAML files hold the values; this module holds the names, types and meanings.
Torch-free.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from ffnlab.io import REPO_ROOT

CONF_DIR = REPO_ROOT / "conf"


@dataclass
class ModelSection:
    """The transformer (ffnlab.model.ModelConfig without ffn and vocab_size, which come from elsewhere)."""

    seq_len: int = 128  # context length
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    ffn_mult: float = 4.0  # plain d_ff = ffn_mult · d_model; gated variants get 2/3 of it when match_params
    match_params: bool = True  # False: every variant at the plain d_ff (the 1.5× pitfall)
    multiple_of: int | None = None  # round d_ff to the nearest multiple of this (None: nearest integer)
    round_up: bool | None = None  # LLaMA's rounding: the integer part, then up to multiple_of
    ffn_bias: bool | None = None  # biases in the FFN only (GPT-2 ships them); null: none
    dropout: float = 0.0
    init: str = "fan_in"  # fan_in (T5) | gpt2 (std 0.02, scaled output projections)
    rope_base: float = 10000.0
    norm_eps: float = 1e-6


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
    vocab_size: int = 4096  # BPE vocabulary asked for (the tokenizer may learn fewer)
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
    # checkpoint where each shorter budget's cool-down starts, and a shorter run starts there (ffnlab.branch)


@dataclass
class PerfSection:
    """How, not what: speed and memory options, each held to the reference loss curve by the tests."""

    ffn_impl: str = "naive"  # naive | fused | recompute
    compile: bool = False


@dataclass
class DiagnosticsSection:
    """How, not what: activation diagnostics at every evaluation (ffnlab.diagnostics); never changes a loss."""

    enabled: bool = True
    tokens: int = 4096  # the fixed validation tokens measured (the first windows of the split)


ENGLISH_CORPORA = ("pgbooks", "pg19", "wikitext2", "wikitext2_raw", "wikitext103", "c4", "tinystories",
                   "tinyshakespeare")
BLIMP_MIN_SEQ_LEN = 64  # BLiMP's longest sentence is 45 BPE-4096 tokens (plus the newline it is conditioned on)


@dataclass
class BlimpSection:
    """How, not what: BLiMP minimal pairs scored by the trained model at the end of every run (ffnlab.blimp), in
    the record's `blimp` block (which says what was scored); never changes training."""

    enabled: bool | None = None  # null: on where data.corpus is English text and model.seq_len >= 64, else off
    dir: str | None = None  # the BLiMP folder (default <corpora>/blimp)
    hub: bool = True  # where the folder is absent, read the hub's nyu-mll/blimp (verified) if the network allows
    pairs_per_paradigm: int | None = None  # null: all 1,000 (the studies); k: k pairs per paradigm, seeded
    sample_seed: int = 0  # which k pairs (the same for every run)
    batch_size: int = 256  # sentences per forward pass


def blimp_on(cfg) -> bool:
    """blimp.enabled, or for null: an English corpus and a context that holds BLiMP's sentences."""
    b = cfg.get("blimp")
    if b is None:
        return False
    if b.get("enabled") is not None:
        return bool(b.enabled)
    return cfg.data.corpus in ENGLISH_CORPORA and cfg.model.seq_len >= BLIMP_MIN_SEQ_LEN


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


def check(cfg: DictConfig) -> None:
    """Values the types allow but no run can use: a ConfigError naming the setting. (Model shapes are checked by
    ffnlab.model.ModelConfig, the data's lengths by the data module.)"""
    from ffnlab.errors import ConfigError

    if cfg.trainer.max_steps < 1:
        raise ConfigError(f"trainer.max_steps must be at least 1, got {cfg.trainer.max_steps}")
    for key in ("batch_size", "eval_batch_size"):
        if cfg.data[key] < 1:
            raise ConfigError(f"data.{key} must be at least 1, got {cfg.data[key]}")
    if cfg.diagnostics.enabled and cfg.diagnostics.tokens < cfg.model.seq_len:
        raise ConfigError(f"diagnostics.tokens={cfg.diagnostics.tokens} is less than one window of model.seq_len="
                          f"{cfg.model.seq_len} tokens; set it to {cfg.model.seq_len} or more, or "
                          "diagnostics.enabled=false")
    _check_values(cfg)
    b = cfg.get("blimp")
    if b is not None:
        if b.pairs_per_paradigm is not None and b.pairs_per_paradigm < 1:
            raise ConfigError(f"blimp.pairs_per_paradigm={b.pairs_per_paradigm} must be at least 1, or null for all "
                              "1,000 pairs")
        if b.batch_size < 1:
            raise ConfigError(f"blimp.batch_size must be at least 1, got {b.batch_size}")
    packages = LOGGER_PACKAGES.get(cfg.logger.name)
    if packages is None:
        raise ConfigError(f"logger.name={cfg.logger.name} is not a logger of ffnlab; choose one of "
                          f"{', '.join(LOGGER_PACKAGES)}")
    if packages and not any(importlib.util.find_spec(p) for p in packages):
        raise ConfigError(f"logger={cfg.logger.name} needs the {packages[0]} package: pip install {packages[0]} "
                          "(or choose logger=csv)")
    o = cfg.optim
    if o.get("schedule") not in (None, "cosine", "wsd"):
        raise ConfigError(f"optim.schedule={o.schedule} is not a schedule of ffnlab; use cosine or wsd")
    if o.get("schedule") == "wsd":
        if o.warmup_steps is None or o.cooldown_frac is None or not 0 < o.cooldown_frac <= 1:
            raise ConfigError("optim.schedule=wsd needs optim.warmup_steps and optim.cooldown_frac in (0, 1] "
                              "(conf/optim/wsd.yaml sets both)")
        from ffnlab.schedules import cooldown_start

        if o.warmup_steps > cooldown_start(cfg.trainer.max_steps, o.cooldown_frac):
            raise ConfigError(f"optim.warmup_steps={o.warmup_steps} outlasts the stable phase of trainer.max_steps="
                              f"{cfg.trainer.max_steps}; lower it or raise max_steps")
    if cfg.data.vocab_size < 256:
        raise ConfigError(f"data.vocab_size={cfg.data.vocab_size} cannot work: a byte-level BPE has at least the "
                          "256 byte symbols; set data.vocab_size=256 or more (the studies use 4096)")


PRECISIONS = ("32-true", "32", "bf16-mixed", "bf16-true", "bf16", "16-mixed", "16-true", "16", "64-true", "64")
FFN_IMPLS = ("naive", "fused", "recompute")  # ffnlab.ffn.IMPLS (torch-free here)
MAX_SEED = 2**63 - 1  # torch's generators take a 64-bit seed


def _check_values(cfg: DictConfig) -> None:
    """Numbers and names the types allow but no run can use, each a ConfigError naming the setting."""
    import math

    from ffnlab.errors import ConfigError

    o, t = cfg.optim, cfg.trainer
    if not (math.isfinite(o.lr) and o.lr > 0):
        raise ConfigError(f"optim.lr={o.lr} must be a positive finite number (the studies use 2e-3 to 1.6e-2)")
    if not (math.isfinite(o.weight_decay) and o.weight_decay >= 0):
        raise ConfigError(f"optim.weight_decay={o.weight_decay} must be a finite number ≥ 0")
    if str(t.precision) not in PRECISIONS:
        raise ConfigError(f"trainer.precision={t.precision} is not a precision Lightning knows; use one of "
                          f"{', '.join(PRECISIONS[:5])}")
    for key in ("seed", "data_seed"):
        if not 0 <= cfg[key] <= MAX_SEED:
            raise ConfigError(f"{key}={cfg[key]} must be between 0 and 2**63 − 1 (a 64-bit generator seed)")
    if cfg.perf.ffn_impl not in FFN_IMPLS:
        raise ConfigError(f"perf.ffn_impl={cfg.perf.ffn_impl} is not an FFN implementation; use one of "
                          f"{', '.join(FFN_IMPLS)}")
    name = str(cfg.sweep_name)
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ConfigError(f"sweep_name={name} must name one folder under <output>/multirun/ (no '/' or '..'), so "
                          "that every sweep stays where plan, reuse and branching look for it")
    if t.branch_budgets and o.get("schedule") != "wsd":
        raise ConfigError("trainer.branch_budgets needs optim=wsd (a warmup-stable-decay schedule, whose stable "
                          "phase shorter budgets can branch from); drop it or choose optim=wsd")
    if o.get("schedule") == "wsd" and o.cooldown_frac is not None and 0 < o.cooldown_frac <= 1:
        from ffnlab.schedules import cooldown_start

        if cooldown_start(t.max_steps, o.cooldown_frac) >= t.max_steps:
            raise ConfigError(f"optim.cooldown_frac={o.cooldown_frac} of trainer.max_steps={t.max_steps} rounds to "
                              "a cool-down of 0 steps; raise one of them")


def register() -> None:
    """Put the schema in Hydra's ConfigStore (idempotent); conf/train.yaml names it first in its defaults."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)


def compose(overrides: list[str] = (), hydra: bool = False) -> DictConfig:
    """ffnlab-train's config, composed as the CLI composes it (for the benchmark, tests and notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import ffnlab.train  # noqa: F401  (registers the schema and the resolvers the config uses)

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=list(overrides), return_hydra_config=hydra)
