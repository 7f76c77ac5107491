"""The output head: the tied full softmax (the default), or adaptive softmax for a large vocabulary.

`full` scores every token of the vocabulary with the input embedding's own matrix (tied: no parameters of its own).
`adaptive` is Grave et al. (2017), "Efficient softmax approximation for GPUs", as torch ships it
(`torch.nn.AdaptiveLogSoftmaxWithLoss`): the `cutoffs[0]` most frequent tokens and one logit per tail cluster in
a head; each tail cluster's tokens behind a projection narrowed by `div`^(i+1). Its log-probabilities are exact
(a normalised distribution over the whole vocabulary), so its loss is the same quantity as the full head's on the
same tokens; it needs token ids sorted by frequency (ffnlab.data.words sorts them so). Its matrices are its own
(untied from the embedding) and count in the model's non-embedding parameters. Imports torch only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ffnlab.errors import ConfigError

CUTOFFS = (2000, 10000)  # WikiText-2's words: the head's 2,000 most frequent are 77% of the train tokens, 10,000 93%
DIV = 4.0  # Grave et al.'s and torch's default


def adaptive(d_model: int, vocab_size: int, cutoffs: list[int] | None, div: float | None) -> nn.Module:
    """The adaptive softmax of a model; a ConfigError naming the setting where the cutoffs cannot split the
    vocabulary."""
    cuts = list(cutoffs or CUTOFFS)
    if any(b <= a for a, b in zip([0, *cuts[:-1]], cuts, strict=True)) or cuts[-1] >= vocab_size:
        hint = f"e.g. [{vocab_size // 16}, {vocab_size // 4}] here" if vocab_size >= 16 else "a larger vocabulary"
        raise ConfigError(f"model.adaptive_cutoffs={cuts} must rise strictly from above 0 to below the vocabulary "
                          f"({vocab_size} tokens): {hint} (the default [2000, 10000] is for WikiText-2's 33,278 "
                          "words, data.tokenizer=words)")
    return nn.AdaptiveLogSoftmaxWithLoss(d_model, vocab_size, cuts, div_value=div or DIV)


def scores(head: nn.Module | None, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """(B, T, V): the full head's logits, or the adaptive head's log-probabilities (log_softmax of either gives the
    model's log-probabilities)."""
    if head is None:
        return F.linear(x, embedding)
    return head.log_prob(x.reshape(-1, x.size(-1)).float()).view(*x.shape[:-1], -1)


def nll(head: nn.Module | None, x: torch.Tensor, embedding: torch.Tensor, targets: torch.Tensor,
        reduction: str) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(logits or None, the loss in nats): the adaptive head computes only each target's own cluster (no logits)."""
    if head is None:
        logits = F.linear(x, embedding)
        return logits, F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1),
                                       reduction=reduction)
    per_token = -head(x.reshape(-1, x.size(-1)).float(), targets.reshape(-1)).output
    if reduction == "none":
        return None, per_token
    return None, per_token.sum() if reduction == "sum" else per_token.mean()
