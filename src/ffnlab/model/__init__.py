"""The model layer, plain PyTorch: the FFN registry (ffn: every variant one entry, its parameter-matched width),
routed FFNs (moe), the attention normalizers (attention), the output heads (head: full or adaptive softmax), the
model's fields defined once (config, torch-free), the transformer that differs between variants only in its FFN
(transformer: ModelConfig, Transformer, parameter and FLOP counts) and the activation diagnostics measured on it
(diagnostics). Imports nothing of ffnlab above ffnlab.errors.
"""
