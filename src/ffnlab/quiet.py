"""Quiet third-party output: drop the specific advertisement and deprecation messages that say nothing about a run.

Only these messages are dropped; every other warning and log line of torch, Lightning and Hydra stays.
"""

from __future__ import annotations

import logging
import warnings

# Lightning's litlogger advertisement, logged once per Trainer (lightning.pytorch ... logger_connector.py).
NOISE_LOG_PREFIXES = ("💡 Tip: For seamless cloud logging",)
# torch's deprecation of LeafSpec, raised by lightning.pytorch.utilities._pytree on every Trainer.fit.
NOISE_WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated",)
NOISY_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(NOISE_LOG_PREFIXES)


def quiet_third_party() -> None:
    """Install the filters (idempotent); called by every ffnlab process that trains or benchmarks."""
    for pattern in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
    # Lightning gives its loggers console handlers of their own on import; once Hydra has configured the root
    # logger, they print every line a second time ("INFO: ..." beside Hydra's line, which also goes to the log file).
    if logging.getLogger().hasHandlers():
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
                logger.removeHandler(handler)
            logger.propagate = True
