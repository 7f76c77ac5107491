"""Config → the parts of a run: the loggers a run streams its curves to (the CSV log always)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import TINY, ffnlab_train
from ffnlab.errors import ConfigError
from ffnlab.runs import config


@pytest.mark.parametrize("logger,package", [pytest.param("tensorboard", "tensorboardX", marks=pytest.mark.slow),
                                            ("mlflow", "mlflow")])
def test_each_logger_streams_the_curves_beside_the_csv_log(env, tmp_path, logger, package):
    pytest.importorskip(package, reason=f"logger={logger} needs {package} (pip install {package})")
    ffnlab_train("-m", f"logger={logger}", *TINY, "trainer.max_steps=8", "sweep_name=lg", env=env, cwd=tmp_path)
    (run,) = [p.parent for p in (tmp_path / "multirun" / "lg").rglob("metrics.json")]
    assert (run / "logs" / "from_step_0" / "metrics.csv").is_file()  # the CSV log stays
    assert json.loads((run / "metrics.json").read_text())["status"] == "ok"
    if logger == "tensorboard":
        assert list((run / "tb" / "from_step_0").glob("events.out.tfevents.*"))
    else:
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
        runs = mlflow.search_runs(experiment_names=["lg"])
        assert len(runs) == 1 and runs["metrics.val/loss"].notna().all()


def test_a_logger_whose_package_is_missing_is_one_line_naming_the_install(monkeypatch):
    cfg = config.compose(["logger=mlflow"])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install mlflow"):
        config.check(cfg)
