"""The run lifecycle: one place for what a run is and what happens to its folder.

config (the typed schema, its validation and the Hydra resolvers), keys (each key's role: identity, folder name,
setting), schedules (learning-rate shapes), record (the RunRecord contract the sweep writes and the report reads,
its identity hash and validity rule), decide (skip / refuse / reuse / resume / train: one pure function), branch
(cool-down branches from a shared stable phase), outcomes, progress and sweep (a sweep's index, tally and ETA),
build, callbacks, lit and fit (the Trainer, the thin LightningModule, one model's training), job (one Hydra job,
from decision to record). Imports the model and data layers; never the report.
"""
