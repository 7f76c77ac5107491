"""What a sweep does with one run folder: skip, refuse, reuse, resume or train. One pure function, no IO.

The inputs are read by the caller (ffnlab.cli.train): the folder's record, the identity of the run asked for, the
stamp of the folder's checkpoint, and a finished run of the same experiment elsewhere (a donor). In order:

  skip     the folder holds a finished run of the same experiment, from code of the same results revision
  refuse   the folder holds a finished run of another experiment (or revision): never overwritten, and the
           folder's files are left as they are
  reuse    the same experiment finished in another sweep of the output root: its record is copied
  resume   the folder's checkpoint was written by this same experiment: training continues from it
  train    anything else (no record, a failed or diverged one, or a checkpoint of another experiment)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ffnlab.runs.identity import differences, same_experiment
from ffnlab.runs.keys import identity_config
from ffnlab.runs.record import RunRecord

ACTIONS = ("skip", "refuse", "reuse", "resume", "train")


@dataclass(frozen=True)
class Decision:
    action: str  # one of ACTIONS
    reason: str = ""
    donor: Path | None = None  # reuse: the run folder to copy


def decide(existing: RunRecord | None, config: dict, data_sha256: str | None, revision: int, identity: str,
           checkpoint_identity: str | None = None, donor: Path | None = None) -> Decision:
    """The action for a run folder.

    existing: the folder's record (None: no readable record). config / data_sha256 / identity: the run asked for
    (identity = keys.identity_hash(config, data_sha256)). revision: this code's RESULTS_REVISION.
    checkpoint_identity: the identity stamped in the folder's last checkpoint (None: no usable checkpoint).
    donor: a finished run of the same experiment in another sweep (None: none, or reuse is off).
    """
    if existing is not None and existing.status == "ok":
        if existing.results_revision != revision:
            return Decision("refuse", f"it holds a finished run of ffnlab results revision "
                                      f"{existing.results_revision} (this code computes revision {revision})")
        added = same_experiment(existing, config, data_sha256)
        if added is not None:
            return Decision("skip", f"its config lacks only keys added since: {', '.join(added)}" if added else "")
        if existing.data_sha256 not in (None, data_sha256):
            return Decision("refuse", f"it holds a finished run on other data (corpus hash "
                                      f"{existing.data_sha256[:12]}…, now {str(data_sha256)[:12]}…)")
        diff = differences(identity_config(existing.config), identity_config(config))
        return Decision("refuse", "it holds a finished run of another config (" + "; ".join(diff[:4])
                        + (f"; +{len(diff) - 4} more" if len(diff) > 4 else "") + ")")
    if donor is not None:
        return Decision("reuse", f"the same experiment finished in {donor}", donor=Path(donor))
    if checkpoint_identity is not None and checkpoint_identity == identity:
        return Decision("resume", "its checkpoint was written by this experiment")
    if checkpoint_identity is not None:
        return Decision("train", "its checkpoint belongs to another experiment; starting from scratch")
    return Decision("train")
