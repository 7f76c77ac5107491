"""The models a benchmark times: ffnlab's own and real peers built at identical dimensions.

Every builder returns a `Built`: the module and a `loss(x, y)` that runs it and returns the mean next-token
cross-entropy, so one timing loop serves them all. Peers are imported lazily (the `bench` extra installs them)
and a builder returns None when its peer has no such variant (LlamaForCausalLM is always gated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ffnlab.model.ffn import get_variant
from ffnlab.model.transformer import ModelConfig, Transformer


@dataclass(frozen=True)
class Size:
    """One benchmark configuration: model dimensions and the batch (same for every implementation)."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int
    batch_size: int
    vocab_size: int = 4096

    def model_config(self, ffn: str) -> ModelConfig:
        return ModelConfig(vocab_size=self.vocab_size, seq_len=self.seq_len, d_model=self.d_model,
                           n_layers=self.n_layers, n_heads=self.n_heads, ffn=ffn)


# "small" is conf/model/small.yaml with conf/data/wikitext2.yaml's batch, the studies' CPU default.
SIZES = {
    "small": Size("small", d_model=128, n_layers=4, n_heads=4, seq_len=128, batch_size=16),
    "medium": Size("medium", d_model=256, n_layers=6, n_heads=4, seq_len=256, batch_size=8),
    "tiny": Size("tiny", d_model=48, n_layers=2, n_heads=2, seq_len=32, batch_size=4, vocab_size=256),
}

# Activation names the peers use for each variant's W branch.
HF_ACT = {"reglu": "relu", "geglu": "gelu", "swiglu": "silu", "glu": "sigmoid", "bilinear": "linear",
          "mishglu": "mish"}
TORCH_ACT = {"relu": nn.ReLU, "gelu": nn.GELU, "swish": nn.SiLU, "glu": nn.Sigmoid, "bilinear": nn.Identity,
             "reglu": nn.ReLU, "geglu": nn.GELU, "swiglu": nn.SiLU, "mishglu": nn.Mish}


@dataclass
class Built:
    impl: str
    module: nn.Module
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ffn_params: int
    note: str = ""


def _ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))


def build_ffnlab(size: Size, ffn: str, ffn_impl: str = "fused", compile: bool = False, seed: int = 0) -> Built:
    model = Transformer(size.model_config(ffn), seed=seed, ffn_impl=ffn_impl)
    if compile:
        model.compile()
    ffn_params = model.param_counts()["ffn"]
    return Built(f"ffnlab-{ffn_impl}" + ("+compile" if compile else ""), model,
                 lambda x, y: model(x, y)[1], ffn_params)


def build_hf_llama(size: Size, ffn: str, seed: int = 0) -> Built | None:
    """Hugging Face LlamaForCausalLM: RMSNorm, RoPE, no biases, tied embeddings, gated FFN with `hidden_act`."""
    if ffn not in HF_ACT:
        return None
    from transformers import LlamaConfig, LlamaForCausalLM

    d_ff = size.model_config(ffn).d_ff
    cfg = LlamaConfig(vocab_size=size.vocab_size, hidden_size=size.d_model, intermediate_size=d_ff,
                      num_hidden_layers=size.n_layers, num_attention_heads=size.n_heads,
                      num_key_value_heads=size.n_heads, max_position_embeddings=size.seq_len, rms_norm_eps=1e-6,
                      tie_word_embeddings=True, hidden_act=HF_ACT[ffn], attention_bias=False, mlp_bias=False)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    ffn_params = sum(p.numel() for n, p in model.named_parameters() if ".mlp." in n)
    return Built("hf-llama", model, lambda x, y: _ce(model(input_ids=x).logits, y), ffn_params)


def build_x_transformers(size: Size, ffn: str, seed: int = 0) -> Built | None:
    """lucidrains' x-transformers decoder: RMSNorm, rotary, flash attention, plain or GLU FFN, no FFN biases
    except the GLU projection's own bias, which the library always adds (2·d_ff per layer)."""
    from x_transformers import Decoder, TransformerWrapper

    variant = get_variant(ffn)
    if ffn not in TORCH_ACT:
        return None
    d_ff = size.model_config(ffn).d_ff
    torch.manual_seed(seed)
    model = TransformerWrapper(
        num_tokens=size.vocab_size, max_seq_len=size.seq_len, tie_embedding=True, use_abs_pos_emb=False,
        attn_layers=Decoder(dim=size.d_model, depth=size.n_layers, heads=size.n_heads,
                            attn_dim_head=size.d_model // size.n_heads, rotary_pos_emb=True,
                            rotary_emb_dim=size.d_model // size.n_heads, use_rmsnorm=True,
                            attn_flash=True, ff_glu=variant.gated, ff_mult=d_ff / size.d_model,
                            ff_no_bias=True, ff_custom_activation=TORCH_ACT[ffn]()),
    )
    ffn_params = sum(p.numel() for n, p in model.named_parameters() if ".ff." in n)
    note = "GLU projection carries a bias" if variant.gated else ""
    return Built("x-transformers", model, lambda x, y: _ce(model(x), y), ffn_params, note)


PEERS = {"hf-llama": build_hf_llama, "x-transformers": build_x_transformers}


def peer_available(name: str) -> str | None:
    """None if the peer's package imports, else why not (shown in the table instead of a number)."""
    module = {"hf-llama": "transformers", "x-transformers": "x_transformers"}[name]
    try:
        __import__(module)
    except ImportError as e:
        return f"{module} not installed ({e}); pip install -e '.[bench]'"
    return None
