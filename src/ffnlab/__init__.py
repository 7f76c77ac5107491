"""ffnlab: controlled ablations of the transformer feed-forward block.

Packages by layer, each importing only those below it: errors, io and quiet (the base); model (plain PyTorch)
and data (corpora, tokenizer, BLiMP); runs (the run lifecycle: config, record, decisions, training); report
(generic tables, statistics and figures from records); studies (each study's rules and prose); cli (the
commands) and bench (the benchmark). tests/test_architecture.py holds the rule.
"""

# Bump when a change alters what a run computes for the same config (model, init, data pipeline, training
# loop). Finished runs of another revision are never skipped as "done" nor overwritten.
RESULTS_REVISION = 2
