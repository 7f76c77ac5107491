"""The transformer's settings, defined once: the fields of ModelConfig (ffnlab.model.transformer adds their checks
and what follows from them) and, less vocab_size and ffn, the typed `model` section of ffnlab-train's config
(ffnlab.runs.config derives it from these). Torch-free, so the config layer can read it.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADS = ("full", "adaptive")  # the output heads (ffnlab.model.head builds each; null is full)
# The attention normalizers' names (ffnlab.model.attention.NORMALIZERS holds each; a test keeps the two equal).
ATTENTION = ("softmax", "sigmoid", "relu", "rela", "softpick", "softmax_sink", "sparsemax")


@dataclass
class ModelFields:
    vocab_size: int = 4096  # set by the data module from its tokenizer
    seq_len: int = 128  # context length; also the rotary table's length
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    ffn: str = "relu"  # a name from ffnlab.model.ffn.VARIANTS
    ffn_mult: float = 4.0  # plain d_ff = ffn_mult · d_model; gated variants get 2/3 of it
    match_params: bool = True  # False: every variant at the plain d_ff (the 1.5× pitfall)
    multiple_of: int | None = None  # round d_ff to a multiple of this (None: nearest integer)
    round_up: bool | None = None  # LLaMA's rounding: the integer part of the width, then up to multiple_of
    ffn_bias: bool | None = None  # biases in the FFN's matrices (GPT-2 ships them); never elsewhere
    dropout: float = 0.0  # Shazeer used none in pre-training
    init: str = "fan_in"  # "fan_in": std = fan_in^-1/2 (T5/Mesh-TF); "gpt2": std 0.02, scaled out-projections
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    # A routed FFN (ffnlab.model.moe) instead of one dense FFN when moe_experts is set; null: dense (every default null,
    # so a dense run's identity is what it was before MoE existed)
    moe_experts: int | None = None
    moe_top_k: int | None = None  # null: 2
    moe_shared: int | None = None  # null: 0
    moe_match: str | None = None  # active | total (null: active)
    moe_balance: float | None = None  # null: 0.01
    moe_zloss: float | None = None  # null: 0.001
    # The normalizer of the attention scores (ffnlab.model.attention); null: softmax, the fused path, so a run from
    # before the axis existed keeps its identity
    attention: str | None = None
    # The output head (ffnlab.model.head); null: full, tied to the embedding (every run before heads existed)
    head: str | None = None  # full | adaptive (adaptive softmax, Grave et al. 2017; token ids sorted by frequency)
    adaptive_cutoffs: list[int] | None = None  # null: [2000, 10000]
    adaptive_div: float | None = None  # null: 4.0
