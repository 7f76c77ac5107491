"""The model layer, plain PyTorch: the FFN registry (ffn: every variant one entry, its parameter-matched width),
routed FFNs (moe), the transformer that differs between variants only in its FFN (transformer: ModelConfig,
Transformer, parameter and FLOP counts) and the activation diagnostics measured on it (diagnostics). Imports
nothing of ffnlab above ffnlab.errors.
"""
