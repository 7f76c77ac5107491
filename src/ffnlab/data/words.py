"""Word-level tokens (`data.tokenizer=words`): the corpus's own whitespace-separated tokens, as WikiText's
tokenized release is meant to be read (Merity et al. 2016; the PyTorch word_language_model example): every word of
a line, then `<eos>` for its newline; words are never split, and the release's own `<unk>` stands for its rare
words. The vocabulary is every type of the train split, ids sorted by train frequency (most frequent first, ties by
the word), which adaptive softmax needs (ffnlab.model.head); a type absent from train reads as `<unk>`. On
WikiText-2 that is 33,278 types and 2,088,628 / 217,646 / 245,569 train / valid / test tokens, the published
counts (a test holds it). A tokenizers.Tokenizer (WordLevel), so it saves, loads and encodes as the BPE does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

EOS, UNK = "<eos>", "<unk>"
KIND = "words-v1"  # bump when the recipe changes, so caches are rebuilt


def train_words(lines: Iterable[str]) -> Tokenizer:
    """The word-level tokenizer of a train split given line by line (newlines kept)."""
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(line.split())
        counts[EOS] += line.endswith("\n")
    counts.setdefault(UNK, 0)
    vocab = sorted(counts, key=lambda w: (-counts[w], w))
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token=UNK))
    tok.normalizer = normalizers.Replace("\n", f" {EOS} ")
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok
