"""`ffnlab-train`, the Hydra app: check the command line before any work (an unknown variant, key, type or value,
an unwritable folder: one line and exit 2), then run each job (ffnlab.runs.job) and end a sweep with its tally
and report (ffnlab.runs.sweep; the reporter, ffnlab.cli.report.report_sweep, is named in conf/train.yaml). A
sweep stopped by Ctrl-C or SIGTERM marks its unfinished runs interrupted and exits 130; re-running the same
command continues it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ffnlab.errors import FfnlabError, UnknownVariantError, fail
from ffnlab.io import ensure_writable, output_dir
from ffnlab.model.ffn import VARIANTS, get_variant
from ffnlab.runs import config
from ffnlab.runs.outcomes import SIGNAL_EXIT
from ffnlab.runs.sweep import mark_interrupted, report_if_asked

CONF_DIR = config.CONF_DIR
config.register()
OmegaConf.register_new_resolver("ffnlab_variants", lambda: ", ".join(VARIANTS), replace=True)  # for --help


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float:
    # The one import inside a function (tests/test_architecture.py, LAZY): the job brings Lightning, seconds of
    # imports that a bad command line is answered without.
    from ffnlab.runs.job import run

    return run(cfg)


def _precheck(argv: list[str]) -> None:
    """Fail before any work on an unknown variant name in `ffn=...` (single value or a sweep list)."""
    for arg in argv:
        if arg.startswith(("ffn=", "+ffn=")):
            value = arg.split("=", 1)[1]
            if value.startswith(("choice(", "range(", "glob(")):
                continue
            for name in value.split(","):
                try:
                    get_variant(name.strip())
                except UnknownVariantError as e:
                    fail("ffnlab-train", e)


# Hydra flags that take a value; the pre-composition below passes over both.
_HYDRA_FLAGS_WITH_VALUE = ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "-c", "--cfg",
                           "-p", "--package", "--info", "--experimental-rerun")


def _one_line(e: Exception) -> str:
    """Hydra's multi-line composition error as one line (without its advice to add unknown keys with +)."""
    raw = [ln for ln in str(e).splitlines() if ln.strip()]
    if any("Available options" in ln for ln in raw):  # an unknown choice of a config group
        options = [ln.strip() for ln in raw[1:] if ln[:1].isspace() and "=" not in ln]  # not the search path
        return f"{raw[0].strip()}; choose one of: {', '.join(options)}"
    keep = [ln.strip() for ln in raw if not ln.strip().startswith(
        ("full_key:", "object_type=", "reference_type=", "To append to your config"))]
    cause = str(e.__cause__).splitlines()[0].strip() if e.__cause__ is not None else ""
    return "; ".join(dict.fromkeys(keep[:2] + ([cause] if cause else []))) + \
        " (ffnlab-train --cfg job prints the composed config)"


def _in_schema(key: str) -> bool:
    """Whether a dotted key exists in the typed config, or lies inside one of its free-form dicts (data.hub.*)."""
    node: object = OmegaConf.structured(config.TrainConfig)
    for part in key.split("."):
        if node is None or (OmegaConf.is_dict(node) and OmegaConf.get_type(node) is dict):
            return True  # a free-form dict (or an optional section that is unset): any key may be added
        if not OmegaConf.is_dict(node) or part not in node:
            return False
        node = node[part]
    return True


def _compose_check(argv: list[str]) -> None:
    """Compose the config as Hydra will (for a sweep, each swept key's first value) so that an unknown key, a
    wrong type or a missing value fails here with one line and exit 2, not Hydra's multi-line report."""
    if any(a.startswith(_HYDRA_FLAGS_WITH_VALUE[:6]) or a.startswith("--help") for a in argv):
        return  # another config tree, or help: leave it all to Hydra
    items, skip = [], False
    for a in argv:
        if skip or a.startswith("-"):
            skip = a in _HYDRA_FLAGS_WITH_VALUE and not skip
            continue
        items.append(a)
    try:
        chosen, placed = [], []
        for o in OverridesParser.create().parse_overrides(items):
            key = o.get_key_element().lstrip("+~")
            if key in ("hydra.sweep.dir", "hydra.run.dir") and not o.is_sweep_override():
                placed.append((key, o.value()))
            if key.startswith("hydra."):
                continue
            if o.is_sweep_override():
                if not o.is_discrete_sweep():
                    continue  # an interval for a tuning sweeper: its type is checked when sampled
                chosen.append(f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}")
            else:
                chosen.append(o.input_line)
        cfg = config.compose(chosen)
        config.settings(cfg)  # every rule, and the typed instance a job will build from
        ensure_writable(output_dir(cfg.paths.output), "paths.output (or $FFNLAB_OUTPUT)")
        for key, folder in placed:  # where Hydra itself writes (multirun.yaml, logs): one line, not an OSError
            if "${" not in str(folder):
                ensure_writable(Path(str(folder)).expanduser(), key)
    except (HydraException, OmegaConfBaseException) as e:
        fail("ffnlab-train", _one_line(e))
    except FfnlabError as e:
        fail("ffnlab-train", e)
    for key in (o.split("=", 1)[0][1:] for o in chosen if o.startswith("+") and not o.startswith("++")):
        if not _in_schema(key):  # Hydra's `+key=` would add a setting that nothing reads
            fail("ffnlab-train", f"{key} is not a setting of ffnlab-train (a typo?); ffnlab-train --cfg job lists "
                                 "the settings")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        fail("ffnlab-train", f"{', '.join(missing)} must be set (e.g. {missing[0]}=...), "
                             "the chosen config leaves it without a value")


def cli() -> None:
    _precheck(sys.argv[1:])
    _compose_check(sys.argv[1:])
    try:
        _hydra_main()
    except KeyboardInterrupt:  # a sweep in worker processes stopped by Ctrl-C or SIGTERM (ffnlab.runs.sweep)
        line = mark_interrupted()
        report_if_asked(figures=False)
        print(f"ffnlab-train: {line or 'interrupted'}; finished runs are kept, re-run the same command to continue",
              file=sys.stderr)
        sys.exit(SIGNAL_EXIT)


if __name__ == "__main__":
    cli()
