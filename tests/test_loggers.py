"""TensorBoard and W&B sinks (algos/loggers.py): what they receive equals metrics.csv and
results.json, written once per chunk."""
import csv
import sys
import types

import numpy as np
import pytest

from algos.trainer import train_and_evaluate
from data.spec import StitchError
from tests.conftest import tiny_config


def _csv(workdir):
    with open(workdir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_tensorboard_events_equal_metrics_csv(pendulum, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    results = train_and_evaluate(tiny_config("iql", num_seeds=2, tensorboard=True), str(tmp_path))
    rows = _csv(tmp_path)
    for run in (0, 1):
        acc = EventAccumulator(str(tmp_path / "tensorboard" / f"run{run}_seed{run}"))
        acc.Reload()
        mine = [r for r in rows if r["run"] == str(run)]
        critic = acc.Scalars("train/critic_loss")
        assert [e.step for e in critic] == [int(r["step"]) for r in mine] == [10, 20]
        np.testing.assert_allclose([e.value for e in critic], [float(r["critic_loss"]) for r in mine], rtol=1e-5)
        ret = acc.Scalars("eval/return")
        assert [e.step for e in ret] == [e["step"] for e in results["eval"]]
        np.testing.assert_allclose([e.value for e in ret], [e["return"][run] for e in results["eval"]], rtol=1e-5)


def test_wandb_receives_every_chunk_and_resumes_under_one_id(pendulum, tmp_path, monkeypatch):
    calls = {"init": [], "log": [], "finish": 0}

    class FakeRun:
        def log(self, row, step):
            calls["log"].append((step, row))

        def finish(self):
            calls["finish"] += 1

    def init(**kwargs):
        calls["init"].append(kwargs)
        return FakeRun()
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    config = tiny_config("iql", num_seeds=2, wandb_project="stitch-test", tensorboard=False)
    train_and_evaluate(config, str(tmp_path))
    assert calls["init"][0]["project"] == "stitch-test" and calls["finish"] == 1
    assert calls["init"][0]["config"]["algo"] == "iql"
    rows = _csv(tmp_path)
    train = [(s, r) for s, r in calls["log"] if "run0_seed0/train/critic_loss" in r]
    assert [s for s, _ in train] == [10, 20]
    assert train[1][1]["run1_seed1/train/critic_loss"] == pytest.approx(
        float(next(r["critic_loss"] for r in rows if r["run"] == "1" and r["step"] == "20")), rel=1e-5)
    # a longer re-run resumes the same W&B run (same id, resume allowed)
    config.num_updates = 30
    config.eval_interval = 10
    train_and_evaluate(config, str(tmp_path))
    assert calls["init"][1]["id"] == calls["init"][0]["id"] and calls["init"][1]["resume"] == "allow"
    assert max(s for s, _ in calls["log"]) == 30


def test_wandb_project_without_wandb_is_a_clear_error(pendulum, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(StitchError, match="wandb_project is set but wandb is not installed"):
        train_and_evaluate(tiny_config("iql", num_seeds=1, wandb_project="p"), str(tmp_path))
