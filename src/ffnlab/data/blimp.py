"""BLiMP (Warstadt et al. 2020): zero-shot minimal pairs scored by a trained model, beside its validation loss.

67 paradigms × 1,000 pairs of a grammatical and an ungrammatical English sentence. Read top to bottom:
where the pairs come from (the shared folder, checked against the authors' checksums, or the hub's copy checked
against the same content), which pairs (all, or k per paradigm drawn with a fixed seed: the same pairs for every
run), how a sentence is scored, and how accuracies aggregate. Torch is imported only where a model scores.

Scoring is the paper's "simple LM method": the total log-probability of each whole sentence; a pair is correct
only when good > bad strictly (a tie is wrong, so a constant model scores 0 on pairs of equal length).
Conditioning: ffnlab's models have no document-start token. The corpora are encoded line by line, so the token
before a line's first token is always the newline that ended the previous line; every sentence is therefore
scored as a line: its first token is predicted from a single "\\n" token, and each later token from the newline
and the sentence so far. Every sentence token is scored; the newline is not, and no end-of-line token is added.

Accuracy per paradigm, per phenomenon (the files' `linguistics_term`, the mean of its paradigms) and overall
(the mean over paradigms, the paper's convention).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from ffnlab.data.blimp_sums import CONTENT, FILES
from ffnlab.errors import BlimpError
from ffnlab.io import corpora_dir

FOLDER = "blimp"
HUB_DATASET = "nyu-mll/blimp"
CONDITIONING = "newline"  # the one token every sentence is conditioned on (see the module docstring)
REFERENCE_MODELS = {"ngram": "5-gram", "lstm": "LSTM", "txl": "Transformer-XL", "gpt2": "GPT-2"}
HOW_TO_GET = (f"put the BLiMP folder (the authors' data/*.jsonl and SHA256SUMS) at <corpora>/{FOLDER}/ or set "
              "blimp.dir=PATH; with the network, `pip install datasets` lets ffnlab read the hub's nyu-mll/blimp")



@dataclass(frozen=True)
class Pair:
    uid: str  # the paradigm
    term: str  # its phenomenon (linguistics_term)
    pair_id: int
    good: str
    bad: str


# --- where the pairs come from ----------------------------------------------------------------------------------

def folder(configured: str | None = None, corpora: str | None = None) -> Path:
    """blimp.dir, else <data.corpora_dir or $FFNLAB_CORPORA or ../shared/corpora>/blimp."""
    return Path(configured).expanduser().resolve() if configured else corpora_dir(corpora) / FOLDER


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content_sha(pairs: list[tuple[str, str]]) -> str:
    return hashlib.sha256("\n".join(f"{g}\t{b}" for g, b in pairs).encode()).hexdigest()


def read_folder(root: Path, strict: bool = True) -> tuple[dict[str, list[Pair]], bool]:
    """(pairs by paradigm, whether they are the authors' BLiMP) from `root`/data/*.jsonl.

    Every file is checked before it is read. The authors' files must match their published checksums (also the
    ones the folder's SHA256SUMS lists); `strict` (the default location) refuses anything else. A folder named
    by blimp.dir may instead hold other minimal pairs in the same layout, each file matching the folder's own
    SHA256SUMS: they are scored, and labelled as not BLiMP."""
    files = sorted((root / "data").glob("*.jsonl"))
    if not files:
        raise BlimpError(f"no paradigm files in {root / 'data'}; {HOW_TO_GET}")
    sums = root / "SHA256SUMS"
    listed = {}
    if sums.is_file():
        listed = {name[5:-6]: sha for sha, name in (ln.split() for ln in sums.read_text().splitlines() if ln.strip())
                  if name.startswith("data/") and name.endswith(".jsonl")}
    out, authors = {}, True
    for path in files:
        uid, sha = path.stem, _file_sha(path)
        if FILES.get(uid) == sha and listed.get(uid, sha) == sha:
            pass
        elif strict:
            raise BlimpError(f"{path} differs from the authors' file (sha256 mismatch); restore it from the "
                             "BLiMP release (github alexwarstadt/blimp at 3e56b06), or name a folder of other "
                             "minimal pairs with blimp.dir")
        elif listed.get(uid) != sha:
            raise BlimpError(f"{path} does not match {sums} (sha256); fix the file or its SHA256SUMS line")
        else:
            authors = False
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out[uid] = [Pair(uid, r["linguistics_term"], int(r["pairID"]), r["sentence_good"], r["sentence_bad"])
                    for r in rows]
    if strict and set(out) != set(FILES):
        raise BlimpError(f"{root / 'data'} lacks {len(set(FILES) - set(out))} of BLiMP's 67 paradigm files; "
                         f"{HOW_TO_GET}")
    return out, authors and set(out) == set(FILES)


def read_hub(revision: str | None = None) -> dict[str, list[Pair]]:
    """Every paradigm from the hub's copy (one config per paradigm), checked against the authors' content."""
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise BlimpError(f"BLiMP not found locally and the `datasets` package is missing; {HOW_TO_GET}") from e
    out = {}
    for uid, sha in CONTENT.items():
        try:
            rows = load_dataset(HUB_DATASET, uid, split="train", revision=revision)
        except Exception as e:  # offline, or the hub refused: one line
            raise BlimpError(f"BLiMP not found locally and the hub's {HUB_DATASET} could not be read "
                             f"({type(e).__name__}); {HOW_TO_GET}") from e
        pairs = [Pair(uid, r["linguistics_term"], int(r.get("pair_id", i)), r["sentence_good"], r["sentence_bad"])
                 for i, r in enumerate(rows)]
        if _content_sha([(p.good, p.bad) for p in pairs]) != sha:
            raise BlimpError(f"the hub's {HUB_DATASET}/{uid} differs from the authors' files; {HOW_TO_GET}")
        out[uid] = pairs
    return out


def load(configured: str | None = None, corpora: str | None = None, hub: bool = True
         ) -> tuple[dict[str, list[Pair]], str]:
    """(pairs by paradigm, where they came from): the folder when it exists, else the hub when `hub`."""
    root = folder(configured, corpora)
    if (root / "data").is_dir():
        pairs, authors = read_folder(root, strict=not configured)
        return pairs, str(root) if authors else f"{root} (other minimal pairs, not BLiMP)"
    if configured or not hub:
        raise BlimpError(f"BLiMP not found at {root}; {HOW_TO_GET}")
    return read_hub(), f"hub:{HUB_DATASET}"


def sample(pairs: dict[str, list[Pair]], k: int | None, seed: int = 0) -> dict[str, list[Pair]]:
    """k pairs per paradigm (None: all), drawn by a generator seeded with (seed, paradigm): the same pairs for
    every run and every machine, kept in file order."""
    if k is None:
        return pairs
    out = {}
    for uid, rows in pairs.items():
        idx = sorted(random.Random(f"{seed}/{uid}").sample(range(len(rows)), min(k, len(rows))))
        out[uid] = [rows[i] for i in idx]
    return out


# --- scoring (torch) ---------------------------------------------------------------------------------------------

def sentence_logprobs(model, tokenizer, sentences: list[str], batch_size: int = 256) -> dict[str, float]:
    """Total log-probability (nats) of each distinct sentence, conditioned on one newline token; sentences of
    equal token length are batched together (no padding)."""
    import torch
    import torch.nn.functional as F

    newline = tokenizer.encode("\n").ids
    if len(newline) != 1:
        raise BlimpError(f"the tokenizer encodes a newline as {len(newline)} tokens; BLiMP scoring conditions on one")
    texts = list(dict.fromkeys(sentences))
    ids = [enc.ids for enc in tokenizer.encode_batch(texts)]
    limit = model.cfg.seq_len
    longest = max((len(x) for x in ids), default=0)
    if longest > limit:
        raise BlimpError(f"BLiMP sentences of up to {longest} tokens do not fit model.seq_len={limit}")
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(ids):
        by_length.setdefault(len(x), []).append(i)
    out: dict[str, float] = {}
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        for _, members in sorted(by_length.items()):
            for start in range(0, len(members), batch_size):
                chunk = members[start:start + batch_size]
                seqs = torch.tensor([newline + ids[i] for i in chunk], dtype=torch.long, device=device)
                logits, _ = model(seqs[:, :-1])
                nll = F.cross_entropy(logits.float().transpose(1, 2), seqs[:, 1:], reduction="none")  # (B, L)
                for i, total in zip(chunk, (-nll.double()).sum(dim=1).tolist(), strict=True):
                    out[texts[i]] = total
    model.train(was_training)
    return out


def score(model, tokenizer, pairs: dict[str, list[Pair]], batch_size: int = 256) -> dict[str, list[bool]]:
    """Per paradigm, whether each pair is correct: log p(good) > log p(bad), strictly."""
    flat = [p for rows in pairs.values() for p in rows]
    lp = sentence_logprobs(model, tokenizer, [s for p in flat for s in (p.good, p.bad)], batch_size)
    return {uid: [lp[p.good] > lp[p.bad] for p in rows] for uid, rows in pairs.items()}


# --- accuracies --------------------------------------------------------------------------------------------------

def accuracies(pairs: dict[str, list[Pair]], correct: dict[str, list[bool]]) -> dict:
    """{"overall", "by_phenomenon", "by_paradigm"}: the mean over paradigms, over each phenomenon's paradigms,
    and each paradigm's share of correct pairs."""
    by_paradigm = {uid: sum(c) / len(c) for uid, c in correct.items() if c}
    terms: dict[str, list[float]] = {}
    for uid, acc in by_paradigm.items():
        terms.setdefault(pairs[uid][0].term, []).append(acc)
    return {"overall": sum(by_paradigm.values()) / len(by_paradigm),
            "by_phenomenon": {t: sum(v) / len(v) for t, v in sorted(terms.items())},
            "by_paradigm": dict(sorted(by_paradigm.items()))}


def evaluate(model, tokenizer, settings: dict, corpora: str | None = None) -> dict:
    """The record's `blimp` block for a trained model: scored, or skipped with the reason (never raises for a
    missing or unverifiable BLiMP: a run must not fail at its end for it)."""
    k, seed = settings.get("pairs_per_paradigm"), int(settings.get("sample_seed") or 0)
    base = {"pairs_per_paradigm": k, "sample_seed": seed, "conditioning": CONDITIONING}
    t0 = time.time()
    try:
        pairs, source = load(settings.get("dir"), corpora, bool(settings.get("hub", True)))
        pairs = sample(pairs, k, seed)
        correct = score(model, tokenizer, pairs, int(settings.get("batch_size") or 256))
    except BlimpError as e:
        return {"status": "skipped", "reason": str(e), **base}
    return {"status": "scored", "reason": None, **base, "source": source,
            "n_pairs": sum(len(c) for c in correct.values()), "seconds": round(time.time() - t0, 3),
            **accuracies(pairs, correct)}


def reference(root: Path) -> list[dict]:
    """The published per-paradigm accuracies (models_summary.jsonl: 5-gram, LSTM, Transformer-XL, GPT-2) and
    the human agreement (human_validation_summary.csv), one row per paradigm; [] where the folder lacks them."""
    import csv

    models, humans = root / "models_summary.jsonl", root / "human_validation_summary.csv"
    if not models.is_file():
        return []
    rows = [json.loads(line) for line in models.read_text().splitlines() if line.strip()]
    human = {}
    if humans.is_file():
        with humans.open() as f:
            human = {r["Condition"]: float(r["total_mean"]) for r in csv.DictReader(f)}
    return [{**r, "human": human.get(r["UID"])} for r in rows if r["UID"] != "overall"]
