"""The commands, on top of every layer: ffnlab-train (train: the Hydra app, its pre-checks and the sweep-end
report), ffnlab-report (report: which views a set of records gets, written to one folder), ffnlab-eval
(evaluate: BLiMP for finished runs) and ffnlab-docs (docs: generated README parts and the claim check).
ffnlab-bench lives with its benchmark (ffnlab.bench.cli).
"""
