"""BLiMP scoring (ffnlab.data.blimp): the rule (strict >), the conditioning, sampling, checksums, the record and
ffnlab-eval, on a small synthetic set of minimal pairs in BLiMP's layout; the real files where ../shared has them."""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil

import pytest
import torch
import torch.nn.functional as F

from ffnlab.cli import evaluate
from ffnlab.data import blimp
from ffnlab.model.transformer import ModelConfig, Transformer
from ffnlab.runs.record import NOT_SCORED_BEFORE_6, migrate

SENTENCES = ["the cat sat on the mat.", "a dog ran to the old barn.", "she reads a long book.",
             "we walk in the green park.", "the sun is warm today.", "he sings a quiet song."]


class ByteTokenizer:
    """Bytes as tokens (the shape of tokenizers.Tokenizer that ffnlab.data.blimp uses): a scrambled sentence has as many
    tokens as its original."""

    class _Enc:
        def __init__(self, ids):
            self.ids = ids

    def encode(self, text):
        return self._Enc(list(text.encode()))

    def encode_batch(self, texts):
        return [self.encode(t) for t in texts]


def scramble(s: str, seed: int) -> str:
    chars = list(s)
    random.Random(seed).shuffle(chars)
    return "".join(chars) if "".join(chars) != s else s[::-1]


def write_pairs(root, paradigms: dict[str, list[tuple[str, str]]], term="syntax_term"):
    (root / "data").mkdir(parents=True)
    sums = []
    for uid, pairs in paradigms.items():
        rows = [{"sentence_good": g, "sentence_bad": b, "field": "syntax", "linguistics_term": f"{term}_{uid[-1]}",
                 "UID": uid, "pairID": str(i)} for i, (g, b) in enumerate(pairs)]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (root / "data" / f"{uid}.jsonl").write_text(text)
        sums.append(f"{hashlib.sha256(text.encode()).hexdigest()}  data/{uid}.jsonl")
    (root / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return root


@pytest.fixture
def pairs_dir(tmp_path):
    return write_pairs(tmp_path / "pairs", {
        "para_a": [(s, scramble(s, i)) for i, s in enumerate(SENTENCES)],
        "para_b": [(s, scramble(s, 10 + i)) for i, s in enumerate(SENTENCES)],
    })


def tiny_model(seq_len=64):
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=256, seq_len=seq_len, d_model=32, n_layers=1, n_heads=2, ffn="relu"))


def test_a_constant_model_scores_zero_on_pairs_of_equal_length(pairs_dir):
    model = tiny_model()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # every logit 0: the same probability for every sentence of a length
    pairs, source = blimp.load(str(pairs_dir))
    assert "not BLiMP" in source
    acc = blimp.accuracies(pairs, blimp.score(model, ByteTokenizer(), pairs))
    assert acc["overall"] == 0.0  # every pair a tie, and a tie is wrong


def test_the_log_probability_of_a_sentence_is_the_hand_computed_one():
    model, tok = tiny_model(), ByteTokenizer()
    text = "the cat sat."
    ids = [ord("\n")] + list(text.encode())
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:-1]]))
        by_hand = sum(F.log_softmax(logits[0, t], -1)[ids[t + 1]].item() for t in range(len(ids) - 1))
    got = blimp.sentence_logprobs(model, tok, [text, "other one."], batch_size=1)[text]
    assert got == pytest.approx(by_hand, abs=1e-4)
    assert blimp.sentence_logprobs(model, tok, [text], batch_size=7)[text] == pytest.approx(got, abs=1e-6)


def test_a_briefly_trained_model_tells_sentences_from_scrambled_characters(pairs_dir):
    model, tok = tiny_model(), ByteTokenizer()
    stream = torch.tensor(list(("\n".join(SENTENCES * 40) + "\n").encode()))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        starts = torch.randint(0, len(stream) - 33, (16,), generator=g)
        batch = torch.stack([stream[s:s + 33] for s in starts])
        _, loss = model(batch[:, :-1], batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    pairs, _ = blimp.load(str(pairs_dir))
    acc = blimp.accuracies(pairs, blimp.score(model, tok, pairs))
    assert acc["overall"] > 0.9
    assert set(acc["by_phenomenon"]) == {"syntax_term_a", "syntax_term_b"}
    assert acc["overall"] == pytest.approx(sum(acc["by_paradigm"].values()) / 2)


def test_sampling_is_seeded_per_paradigm_and_keeps_file_order(pairs_dir):
    pairs, _ = blimp.load(str(pairs_dir))
    a, b = blimp.sample(pairs, 3, seed=0), blimp.sample(pairs, 3, seed=0)
    assert a == b and all(len(v) == 3 for v in a.values())
    assert [p.pair_id for p in a["para_a"]] == sorted(p.pair_id for p in a["para_a"])
    assert any(blimp.sample(pairs, 3, seed=s) != a for s in range(1, 6))
    assert blimp.sample(pairs, None) is pairs


def test_a_changed_file_is_refused_and_a_missing_folder_is_one_line(pairs_dir, tmp_path):
    path = pairs_dir / "data" / "para_a.jsonl"
    path.write_text(path.read_text().replace("cat", "bat"))
    with pytest.raises(blimp.BlimpError, match="does not match"):
        blimp.load(str(pairs_dir))
    with pytest.raises(blimp.BlimpError, match="not found"):
        blimp.load(str(tmp_path / "nowhere"))
    # the default location holds only the authors' files: other pairs there are refused (strict)
    fake = tmp_path / "corpora" / "blimp"
    shutil.copytree(pairs_dir, fake)
    with pytest.raises(blimp.BlimpError, match="differs from the authors' file"):
        blimp.load(None, str(tmp_path / "corpora"), hub=False)


def test_evaluate_records_why_it_skipped_instead_of_failing(tmp_path):
    block = blimp.evaluate(tiny_model(), ByteTokenizer(), {"dir": str(tmp_path / "none")})
    assert block["status"] == "skipped" and "not found" in block["reason"]


def test_older_records_migrate_as_not_scored():
    rec = migrate({"status": "failed", "ffn": "relu", "seed": 0, "schema": 5})
    assert rec.blimp.status == "not scored" and rec.blimp.reason == NOT_SCORED_BEFORE_6


def test_ffnlab_eval_writes_only_the_blimp_block_of_a_finished_run(small_sweep, tmp_path, pairs_dir, cache_dir,
                                                                  monkeypatch):
    monkeypatch.setenv("FFNLAB_CACHE", str(cache_dir))
    run = next(p.parent for p in sorted(small_sweep.rglob("metrics.json")))
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = json.loads((copy / "metrics.json").read_text())
    assert evaluate.main([str(copy), "--blimp-dir", str(pairs_dir), "--threads", "1"]) == 0
    after = json.loads((copy / "metrics.json").read_text())
    assert after["blimp"]["status"] == "scored" and after["blimp"]["n_pairs"] == 12
    assert {k: v for k, v in after.items() if k != "blimp"} == {k: v for k, v in before.items() if k != "blimp"}
    assert evaluate.main([str(copy), "--blimp-dir", str(pairs_dir)]) == 0  # scored already: left alone
    assert json.loads((copy / "metrics.json").read_text()) == after
    (copy / "checkpoints" / "final.ckpt").unlink()
    assert evaluate.main([str(copy), "--blimp-dir", str(pairs_dir), "--force"]) == 2  # no checkpoint: said, exit 2


@pytest.mark.skipif(not (blimp.folder() / "data").is_dir(), reason="../shared/corpora/blimp not found (set "
                    "FFNLAB_CORPORA to a folder holding blimp/ to check the real files)")
def test_the_real_files_match_the_authors_checksums_and_counts():
    pairs, source = blimp.load(hub=False)
    assert source == str(blimp.folder()) and len(pairs) == 67
    assert all(len(v) == 1000 for v in pairs.values())
    assert len({p.term for v in pairs.values() for p in v}) == 13
    ref = blimp.reference(blimp.folder())
    assert len(ref) == 67 and math.isclose(sum(r["gpt2"] for r in ref) / 67, 0.830, abs_tol=5e-4)
