"""`ffnlab-eval RUN_DIR...`: score finished runs on BLiMP from their final checkpoint, after the fact.

A run trained before BLiMP scoring existed, or with it off, keeps `checkpoints/final.ckpt` (written at every
run's end since record schema 6). This command loads it, checks it is the run's own (its stamped identity
equals the record's `config_hash`), scores BLiMP (ffnlab.data.blimp) and writes the record's `blimp` block into
metrics.json, leaving every other field (its schema number too) as it was. A run already scored is left alone
unless --force; a run without a final checkpoint is reported and passed over (exit 2 at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ffnlab.data import blimp
from ffnlab.data.corpora import open_corpus
from ffnlab.data.datamodule import load_or_train_tokenizer
from ffnlab.errors import EvalError, cli_errors
from ffnlab.io import atomic_write_text, cache_dir
from ffnlab.model.transformer import ModelConfig, Transformer
from ffnlab.runs.record import RECORD_NAME, read_record

FINAL = Path("checkpoints") / "final.ckpt"



def _model(run_dir: Path, config_hash: str):
    path = run_dir / FINAL
    if not path.is_file():
        raise EvalError(f"{run_dir}: no {FINAL} (runs keep it since record schema 6; retrain the run to score it)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("config_hash") != config_hash:
        raise EvalError(f"{path} was written by another configuration than the record's ({ckpt.get('config_hash')} "
                        f"vs {config_hash}); retrain the run")
    model = Transformer(ModelConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model


def _tokenizer(config: dict):
    data = config["data"]
    corpus = open_corpus(data)
    tok, _ = load_or_train_tokenizer(corpus, int(data["vocab_size"]), cache_dir(data.get("cache_dir")),
                                     data.get("tokenizer"))
    return tok


def score_run(run_dir: Path, settings: dict, force: bool = False) -> dict | None:
    """Score one finished run and write its blimp block; None when it was scored already (and not force)."""
    rec = read_record(run_dir)
    if rec is None or rec.status != "ok":
        raise EvalError(f"{run_dir}: no finished run record ({RECORD_NAME} with status ok)")
    if rec.blimp is not None and rec.blimp.status == "scored" and not force:
        return None
    model = _model(run_dir, rec.config_hash)
    block = blimp.evaluate(model, _tokenizer(rec.config), settings, rec.config.get("data", {}).get("corpora_dir"))
    if block["status"] != "scored":
        raise EvalError(f"{run_dir}: BLiMP not scored: {block['reason']}")
    path = run_dir / RECORD_NAME
    raw = json.loads(path.read_text())
    raw["blimp"] = block  # its schema number stays: the record's other fields follow that schema's rules
    atomic_write_text(path, json.dumps(raw, indent=2, default=str) + "\n")
    return block


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ffnlab-eval", description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--pairs-per-paradigm", type=int, default=None, help="k pairs per paradigm (default: all 1,000)")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--blimp-dir", default=None, help="the BLiMP folder (default <corpora>/blimp)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--force", action="store_true", help="score runs that are scored already, again")
    args = p.parse_args(argv)
    if args.pairs_per_paradigm is not None and args.pairs_per_paradigm < 1:
        p.error("--pairs-per-paradigm must be at least 1")
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    return args


@cli_errors("ffnlab-eval")
def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = {"dir": args.blimp_dir, "hub": True, "pairs_per_paradigm": args.pairs_per_paradigm,
                "sample_seed": args.sample_seed, "batch_size": args.batch_size}
    failed = 0
    for run_dir in args.run_dirs:
        try:
            block = score_run(run_dir, settings, args.force)
        except EvalError as e:
            print(f"ffnlab-eval: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{run_dir}: " + ("scored already (--force scores it again)" if block is None else
                                f"BLiMP {block['overall']:.4f} ({block['n_pairs']} pairs, {block['seconds']:.0f} s)"))
    return 2 if failed else 0


def cli() -> None:
    sys.exit(main())
