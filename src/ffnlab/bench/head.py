"""`ffnlab-bench --mode head`: the output head's cost at a large vocabulary, full softmax against adaptive softmax.

At the studies' small size (conf/model/small.yaml, 16 × 128 tokens a step) and WikiText-2's 33,278 words
(`data.tokenizer=words`; the batch is real train text, whose word frequencies decide how often adaptive softmax
reaches into its tails; without ../shared/corpora, ids drawn from a Zipf law over the same vocabulary, and the
table says so). Two measurements, each interleaved in random order over rounds (ffnlab.bench.measure), medians
with the interquartile range: the whole training step of the model with each head (ReLU and SwiGLU FFNs, the
`experiment=adaptive_softmax` grid), and the head alone (forward, backward and AdamW of the head on fixed hidden
states). Beside each: tokens/s, its ratio to the full head, the activation memory autograd keeps (exact, from
saved-tensor hooks) and its ratio, and the parameters each head owns. Written to `<out>/head.csv` and `head.md`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ffnlab.bench import measure
from ffnlab.bench.models import Built, Size
from ffnlab.data.datamodule import LMDataModule
from ffnlab.errors import CorpusError
from ffnlab.io import corpora_dir
from ffnlab.model import head as heads
from ffnlab.model.transformer import ModelConfig, Transformer

WORDS = 33278  # WikiText-2's word vocabulary (ffnlab.data.words; a test holds the count)
SMALL = Size("small_words", d_model=128, n_layers=4, n_heads=4, seq_len=128, batch_size=16, vocab_size=WORDS)
HEAD_CHOICES = (None, "adaptive")  # model.head: null is the full softmax tied to the embedding


def _train_words(size: Size) -> np.ndarray | None:
    """WikiText-2's train split as word ids, through the data module a study trains with (its caches too); None
    where the shared folder lacks it (a benchmark never fetches) or `size` has another vocabulary."""
    if size.vocab_size != WORDS:
        return None
    dm = LMDataModule(corpus="wikitext2", corpora_dir=str(corpora_dir()), tokenizer="words", seq_len=size.seq_len,
                      batch_size=size.batch_size, max_steps=1)
    try:
        dm.load()
    except CorpusError:
        return None
    return dm.tokens["train"]


def batch(size: Size, seed: int = 0) -> tuple[torch.Tensor, str]:
    """(a batch of (B, T+1) word ids, where it came from): random windows of WikiText-2's train words, else Zipf."""
    g = np.random.default_rng(seed)
    ids = _train_words(size)
    if ids is None:
        p = 1.0 / np.arange(1, size.vocab_size + 1)
        rows = g.choice(size.vocab_size, (size.batch_size, size.seq_len + 1), p=p / p.sum())
        return torch.from_numpy(rows.astype(np.int64)), "Zipf-distributed ids (no WikiText-2 words here)"
    starts = g.integers(0, len(ids) - size.seq_len - 1, size.batch_size)
    rows = np.stack([ids[s:s + size.seq_len + 1] for s in starts]).astype(np.int64)
    return torch.from_numpy(rows), "WikiText-2 train words (random windows)"


def model(size: Size, ffn: str, head: str | None, seed: int = 0) -> Built:
    cfg = ModelConfig(vocab_size=size.vocab_size, seq_len=size.seq_len, d_model=size.d_model,
                      n_layers=size.n_layers, n_heads=size.n_heads, ffn=ffn, head=head)
    m = Transformer(cfg, seed=seed)
    return Built(f"{ffn}|{head or 'full'}", m, lambda x, y: m(x, y)[1], m.param_counts()["ffn"])


class HeadOnly(nn.Module):
    """The head on fixed hidden states of unit scale: the full head's tied matrix, or the adaptive head."""

    def __init__(self, size: Size, head: str | None, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = nn.Parameter(torch.randn(size.vocab_size, size.d_model, generator=g) * size.d_model ** -0.5)
        self.head = heads.adaptive(size.d_model, size.vocab_size, None, None) if head else None
        self.register_buffer("h", torch.randn(size.batch_size, size.seq_len, size.d_model, generator=g))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return heads.nll(self.head, self.h, self.emb, y, "mean")[1]


def head_only(size: Size, head: str | None) -> Built:
    m = HeadOnly(size, head)
    return Built(f"head|{head or 'full'}", m, m, 0)


def run(size: Size, ffns: list[str], rounds: int, steps: int, warmup: int, log=print) -> tuple[pd.DataFrame, str]:
    """One row per (part, FFN, head): timing, memory and the head's own parameters, with ratios to the full head."""
    torch.manual_seed(0)
    b, source = batch(size)
    built = {("model", f, h): model(size, f, h) for f in ffns for h in HEAD_CHOICES}
    built |= {("head", "", h): head_only(size, h) for h in HEAD_CHOICES}
    timers = {"|".join(map(str, k)): measure.StepTimer(v, b) for k, v in built.items()}
    times = pd.DataFrame(list(measure.interleaved(timers, rounds, steps, warmup, progress=log)))
    rows = []
    for (part, ffn, head), v in built.items():
        t = times.loc[times["key"] == f"{part}|{ffn}|{head}", "s_per_step"]
        own = sum(p.numel() for n, p in v.module.named_parameters() if n.startswith("head."))
        rows.append({"part": part, "ffn": ffn, "head": head or "full", "vocab": size.vocab_size,
                     "head_params": own, "s_per_step": t.median(),
                     "s_per_step_iqr": t.quantile(0.75) - t.quantile(0.25),
                     "tokens_per_s": size.batch_size * size.seq_len / t.median(),
                     "activation_mb": measure.saved_activation_bytes(v, b) / 2**20, "rounds": len(t)})
    out = pd.DataFrame(rows)
    full = out[out["head"] == "full"].set_index(["part", "ffn"])
    key = list(zip(out["part"], out["ffn"], strict=True))
    out["speed_vs_full"] = out["tokens_per_s"] / full.loc[key, "tokens_per_s"].to_numpy()
    out["memory_vs_full"] = out["activation_mb"] / full.loc[key, "activation_mb"].to_numpy()
    return out, source


def markdown(t: pd.DataFrame, machine: str, source: str) -> str:
    lines = ["# Output heads at a large vocabulary: full softmax against adaptive softmax", "",
             f"Measured by `ffnlab-bench --mode head` on {machine}: {int(t['rounds'].max())} interleaved rounds, "
             f"medians (IQR in head.csv); vocabulary {int(t['vocab'].iloc[0]):,} words, batch: {source}. "
             "Full: the softmax over every word, tied to the embedding (no parameters of its own). Adaptive: "
             f"Grave et al. (2017) with cutoffs {list(heads.CUTOFFS)} and div {heads.DIV:g}, its own matrices. "
             "Model rows: a whole training step (forward, backward, AdamW) of the studies' small model; head rows: "
             "the head alone on fixed hidden states.", "",
             "| part | FFN | head | head params | tokens/s | speed vs full | activation MB | memory vs full |",
             "|---|---|---|---|---|---|---|---|"]
    for r in t.itertuples():
        lines.append(f"| {r.part} | {r.ffn or '–'} | {r.head} | {r.head_params:,} | {r.tokens_per_s:,.0f} "
                     f"| {r.speed_vs_full:.2f}× | {r.activation_mb:.1f} | {r.memory_vs_full:.2f}× |")
    return "\n".join(lines) + "\n"


def main_head(args, machine: dict, log=print) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = Size("tiny_words", 48, 2, 2, 32, 4, vocab_size=WORDS) if args.quick else SMALL
    t, source = run(size, ["relu", "swiglu"], args.rounds, args.steps, args.warmup, log=log)
    t.round(6).to_csv(out / "head.csv", index=False)
    name = f"{machine.get('cpu', '?')} ({machine.get('cpu_capability', '?')}, {torch.get_num_threads()} threads)"
    (out / "head.md").write_text(markdown(t, name, source))
    log(f"wrote {out}/head.csv, head.md")
