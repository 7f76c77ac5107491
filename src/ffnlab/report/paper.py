"""The papers' numbers, from ../shared/reference/glu-variants.md: the comparison columns of every table.

These are quoted figures, not results of ours. Compare deltas against ReLU and rankings, never absolute
losses: dataset, tokenizer, model and scale all differ.
"""

from __future__ import annotations

import pandas as pd

# The variant every Δ is taken against, ours and the papers' alike.
BASELINE = "relu"

# Shazeer 2020, Table 1: held-out log-perplexity on C4 (std over 4 runs at 65,536 steps).
SHAZEER = {
    "relu": (1.997, 0.005, 1.677),
    "gelu": (1.983, 0.005, 1.679),
    "swish": (1.994, 0.003, 1.683),
    "glu": (1.982, 0.006, 1.663),
    "bilinear": (1.960, 0.005, 1.648),
    "geglu": (1.942, 0.004, 1.633),
    "swiglu": (1.944, 0.010, 1.636),
    "reglu": (1.953, 0.003, 1.645),
}
# Narang et al. 2021: early loss (mean ± std of 5 runs at 65,536 steps), final loss (524,288 steps).
NARANG = {
    "relu": (2.182, 0.005, 1.838),
    "gelu": (2.179, 0.003, 1.838),
    "swish": (2.186, 0.003, 1.847),
    "elu": (2.270, 0.007, 1.932),
    "glu": (2.174, 0.003, 1.814),
    "geglu": (2.130, 0.006, 1.792),
    "reglu": (2.145, 0.004, 1.803),
    "selu": (2.315, 0.004, 1.948),
    "swiglu": (2.127, 0.003, 1.789),
    "bilinear": (2.149, 0.005, 1.798),  # Narang's "LiGLU" (linear gate) is the bilinear layer
    "sigmoid": (2.291, 0.019, 1.867),
    "softplus": (2.207, 0.011, 1.850),
}
# What the papers of the newer variants report against other FFNs, in words (their settings are far larger than
# ffnlab's: the report puts ffnlab's measured Δ beside each claim, it does not test the claim's setting).
CLAIMS = {
    "relu2": ("So et al. 2021 (Primer)", "squared ReLU lowers LM loss against ReLU and GELU", ("relu", "gelu")),
    "xielu": ("Huang & Schlag 2024", "lower perplexity than ReLU² and SwiGLU in 1.1B-parameter Llama models",
              ("relu2", "swiglu")),
    "polynorm": ("Zhuo et al. 2024 (PolyCom)", "lower loss than SwiGLU, GELU and ReLU² in 1B dense and MoE models",
                 ("swiglu", "gelu", "relu2")),
    "polyrelu": ("Zhuo et al. 2024 (PolyCom)", "lower loss than SwiGLU, GELU and ReLU² in 1B models",
                 ("swiglu", "gelu", "relu2")),
    "drelu": ("Song et al. 2024 (TurboSparse)", "SwiGLU's quality with about 90% of its activations exactly zero",
              ("swiglu",)),
    "solu": ("Elhage et al. 2022", "about GELU's loss, with more interpretable neurons", ("gelu",)),
    "geglu_tanh": ("Gemma (Google 2024)", "none: a shipping choice (the tanh approximation of GEGLU)", ("geglu",)),
    "swiglu_oss": ("gpt-oss (OpenAI 2025)", "none: a shipping choice (clamped SwiGLU)", ("swiglu",)),
    "leaky_relu2": ("small-scale speedruns", "none published: a strong small-scale baseline", ("relu2",)),
}
# Each attention normalizer's published claim against softmax (ffnlab.model.attention cites each source), in words:
# name → (source, claim). Every one is a parity claim, so the measured Δ vs softmax reads against the equivalence
# margin as much as against 0.
ATTENTION_CLAIMS = {
    "sigmoid": ("Ramapuram et al. 2024", "sigmoid attention with b = −log n matches softmax attention (language, "
                "vision, speech)"),
    "relu": ("Wortsman et al. 2023", "ReLU attention divided by the sequence length approaches or matches softmax "
             "attention as compute scales (vision transformers)"),
    "rela": ("Zhang et al. 2021", "ReLA reaches softmax attention's translation quality with sparse attention"),
    "softpick": ("Zuhri et al. 2025", "softpick trains like softmax (340M and 1.8B parameters) with no attention sink "
                 "and fewer massive activations"),
    "softmax_sink": ("gpt-oss (OpenAI 2025)", "none: a shipping choice (a learned sink logit per head)"),
    "sparsemax": ("Martins & Astudillo 2016", "sparsemax attention performs like softmax attention (natural-language "
                  "inference) with sparse weights"),
}
# The order of Shazeer's Table 1, then the other variants; tables follow it.
ORDER = ["relu", "gelu", "swish", "glu", "bilinear", "reglu", "geglu", "swiglu", "mishglu",
         "relu2", "elu", "selu", "sigmoid", "softplus", "swiglu_beta",
         "xielu", "polynorm", "polyrelu", "drelu", "gelu_tanh", "geglu_tanh", "swiglu_oss", "leaky_relu2", "solu"]


def reference_table() -> pd.DataFrame:
    """One row per variant named by either paper: their losses and their own Δ vs ReLU (nats)."""
    names = [n for n in ORDER if n in SHAZEER or n in NARANG]
    rows = []
    for n in names:
        s, g = SHAZEER.get(n), NARANG.get(n)
        rows.append({
            "ffn": n,
            "shazeer_65k": s[0] if s else None, "shazeer_65k_std": s[1] if s else None,
            "shazeer_524k": s[2] if s else None,
            "narang_early": g[0] if g else None, "narang_early_std": g[1] if g else None,
            "narang_final": g[2] if g else None,
        })
    df = pd.DataFrame(rows).set_index("ffn")
    for col in ("shazeer_65k", "shazeer_524k", "narang_early", "narang_final"):
        df[f"{col}_delta"] = df[col] - df.loc[BASELINE, col]
    return df


def order_key(names: pd.Index) -> pd.Index:
    """Sort key that puts variants in the paper's order (unknown names last, alphabetically)."""
    return pd.Index([ORDER.index(n) if n in ORDER else len(ORDER) for n in names])
