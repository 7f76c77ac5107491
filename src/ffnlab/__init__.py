"""ffnlab: controlled ablations of the transformer feed-forward block."""

# Bump when a change alters what a run computes for the same config (model, init, data pipeline, training
# loop). Finished runs of another revision are never skipped as "done" nor overwritten.
RESULTS_REVISION = 2
