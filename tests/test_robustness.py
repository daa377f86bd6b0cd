"""Bad input found late and damaged state: clear errors up front, nothing written is lost."""
import json
import os
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

from algos import trainer
from algos.common import StitchError
from tests.conftest import REPO, make_dataset, random_episode, tiny_config


def _episodes(n=3, length=20, seed=0, **kwargs):
    return [random_episode(length, rng=np.random.default_rng(seed + i), **kwargs) for i in range(n)]


def test_multi_dimensional_actions_are_refused_before_training(tmp_path):
    # (Observations of any shape load: tests/test_shaped.py.)
    what = "actions"
    eps = _episodes(2, 10)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    for ep in eps:
        ep["actions"] = ep["actions"].reshape(-1, 1, 1)
    act_space = gym.spaces.Box(-2, 2, (1, 1), np.float32)
    make_dataset(f"test/bad/nd-{what}-v0", eps, env=None, action_space=act_space,
                 observation_space=obs_space)
    with pytest.raises(StitchError, match=f"has {what} of shape .*flat \\(1-d\\).*Fix: flatten"):
        trainer.train_and_evaluate(tiny_config("bc", dataset=f"test/bad/nd-{what}-v0"), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_degenerate_reference_scores_give_null_scores(tmp_path):
    make_dataset("test/bad/refs-v0", _episodes(), ref_scores=(-100.0, -200.0))
    with pytest.warns(UserWarning, match="ref_min_score=-100.0 >= ref_max_score=-200.0.*reported as null"):
        results = trainer.train_and_evaluate(
            tiny_config("bc", dataset="test/bad/refs-v0", num_updates=10), str(tmp_path))
    assert results["final_normalized_score"] is None and results["final_return"] is not None
    assert results["ref_min_score"] is None and results["ref_max_score"] is None


def test_collect_refuses_reference_scores_that_cannot_normalise(minari_root):
    from data.collect import collect, random_policy
    env = gym.make("Pendulum-v1")
    with pytest.raises(StitchError, match="ref_min_score=-1000 >= ref_max_score=-1200.*nothing was "
                                          "written.*Fix: pass --ref_max_score"):
        collect(env, random_policy(env.action_space), 10, "test/collect/bad-refs-v0",
                ref_min_score=-1000.0, ref_max_score=-1200.0)
    assert not os.path.exists(os.path.join(minari_root, "test/collect/bad-refs-v0"))


def test_collect_cli_needs_a_max_reference_for_the_random_policy(minari_root):
    proc = subprocess.run([sys.executable, "-m", "scripts.collect", "--policy=random", "--num_steps=10",
                           "--dataset_id=test/collect/random-v0"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "random policy" in proc.stderr and "--ref_max_score" in proc.stderr
    assert not os.path.exists(os.path.join(minari_root, "test/collect/random-v0"))


def test_evaluation_uses_the_datasets_evaluation_env():
    from data.dataset import load_dataset
    make_dataset("test/evalenv/pendulum-v0", _episodes(),
                 eval_env=gym.make("Pendulum-v1", max_episode_steps=50))
    _, info = load_dataset(tiny_config("bc", dataset="test/evalenv/pendulum-v0"), )
    assert info.env_spec.max_episode_steps == 50  # the eval env's, not the collection env's 200


def test_an_env_that_does_not_fit_the_data_is_refused_before_training(tmp_path):
    eps = _episodes(obs_dim=4)  # Pendulum-v1 observes 3 numbers
    make_dataset("test/bad/env-mismatch-v0", eps,
                 observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32))
    with pytest.raises(StitchError, match="evaluation env 'Pendulum-v1' does not match dataset.*"
                                          "\\(4,\\).*eval_episodes=0"):
        trainer.train_and_evaluate(tiny_config("bc", dataset="test/bad/env-mismatch-v0"), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_nan_before_any_checkpoint_says_so():
    metrics = {"critic_loss": np.array([[1.0], [np.nan]])}
    with pytest.raises(StitchError, match="at update 2 .*no checkpoint yet.*new --workdir"):
        trainer._check_finite(metrics, "train", 0, None, None, "w", [(0, {})])


def test_an_actor_stalled_at_the_action_bounds_is_warned_of_once_per_run():
    """(steps, runs) chunk metrics: run 1 saturated over the whole chunk (warned), run 0 only
    partly (not); the next chunk does not warn run 1 again."""
    runs = [(0, {}), (1, {"actor_bc_coef": 0.01})]
    metrics = {"actor_saturated": np.array([[0.7, 1.0], [0.999, 0.999], [0.2, 0.998]])}
    warned = set()
    with pytest.warns(UserWarning, match=r"seed 1, actor_bc_coef=0.01: 99.9% of the actor's action entries were "
                                         r"exactly \+-1 over updates 1001-1003.*observation_transform=zscore") as caught:
        trainer._warn_saturated(metrics, "train", 1000, runs, warned)
    assert len(caught) == 1 and warned == {1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer._warn_saturated(metrics, "train", 1003, runs, warned)  # run 1 again: no second warning
        trainer._warn_saturated({"critic_loss": np.ones((3, 2))}, "train", 0, runs, set())  # no such metric


def _straight_and_damaged(tmp_path, damage):
    config = tiny_config("bc", num_updates=30, eval_interval=10, log_interval=10)
    straight = trainer.train_and_evaluate(config, str(tmp_path / "straight"))
    run = tmp_path / "run"
    trainer.train_and_evaluate(config, str(run))
    for step in damage:  # lose one item of the checkpoint, as a full disk or partial copy would
        import shutil
        shutil.rmtree(run / "checkpoints" / str(step) / "carry")
    return config, straight, run


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(pendulum, tmp_path):
    config, straight, run = _straight_and_damaged(tmp_path, damage=[30])
    with pytest.warns(UserWarning, match="checkpoint at update 30 could not be restored.*resuming from "
                                         "update 20"):
        resumed = trainer.train_and_evaluate(config, str(run))
    assert resumed["eval"] == straight["eval"]  # 20 -> 30 retrained, identical
    assert (run / "checkpoints" / "damaged-30").is_dir() and (run / "checkpoints" / "30").is_dir()


def test_no_restorable_checkpoint_is_a_clear_error_that_moves_nothing(pendulum, tmp_path):
    config, _, run = _straight_and_damaged(tmp_path, damage=[20, 30])
    before = sorted(os.listdir(run / "checkpoints"))
    with pytest.raises(StitchError, match="No checkpoint in .* could be restored.*Fix: train in a new "
                                          "--workdir"):
        trainer.train_and_evaluate(config, str(run))
    assert sorted(os.listdir(run / "checkpoints")) == before
    assert json.loads((run / "results.json").read_text())["num_updates"] == 30


def test_resume_refuses_a_dataset_changed_under_the_same_id(tmp_path):
    make_dataset("test/changing/pendulum-v0", _episodes(seed=0))
    config = tiny_config("bc", dataset="test/changing/pendulum-v0", num_updates=10)
    trainer.train_and_evaluate(config, str(tmp_path))
    before = (tmp_path / "results.json").read_text()
    make_dataset("test/changing/pendulum-v0", _episodes(seed=100))  # re-collected, same id
    with pytest.raises(StitchError, match="differs from the one the checkpoints .*\\(obs_mean changed\\).*"
                                          "new --workdir"):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert (tmp_path / "results.json").read_text() == before


def test_every_evaluation_gets_its_own_seed(pendulum, tmp_path, monkeypatch):
    from algos.rollout import Evaluator
    seeds, real_call = [], Evaluator.__call__
    monkeypatch.setattr(Evaluator, "__call__", lambda self, state, seed, hparams=None: (
        seeds.append(seed), real_call(self, state, seed, hparams))[1])
    results = trainer.train_and_evaluate(
        tiny_config("bc", num_updates=25, log_interval=5, eval_interval=10), str(tmp_path))
    assert [e["step"] for e in results["eval"]] == [10, 20, 25]
    assert len(set(seeds)) == 3
    assert results["seed"] == 0 and results["eval_episodes"] == 1
    assert results["ref_min_score"] < results["ref_max_score"] and results["num_episodes"] > 0


def test_builtin_dataset_is_built_atomically(minari_root, monkeypatch):
    from data import collect
    from data.dataset import open_minari

    def crashing_builder(dataset_id):
        make_dataset(dataset_id, _episodes())  # written in the staging root...
        raise KeyboardInterrupt                # ...then the build dies before the move

    monkeypatch.setitem(collect.BUILTIN_DATASETS, "stitch/test/atomic-v0", crashing_builder)
    with pytest.raises(KeyboardInterrupt):
        open_minari("stitch/test/atomic-v0")
    assert not os.path.exists(os.path.join(minari_root, "stitch/test/atomic-v0"))
    assert not [f for f in os.listdir(minari_root) if f.startswith(".stitch-build-")]
    assert os.environ["MINARI_DATASETS_PATH"] == minari_root

    monkeypatch.setitem(collect.BUILTIN_DATASETS, "stitch/test/atomic-v0",
                        lambda dataset_id: make_dataset(dataset_id, _episodes()))
    os.makedirs(os.path.join(minari_root, "stitch/test/atomic-v0"))  # left by an older crash
    assert open_minari("stitch/test/atomic-v0").total_episodes == 3
    assert os.environ["MINARI_DATASETS_PATH"] == minari_root


def test_collect_names_an_unknown_policy_and_the_choices():
    from data.collect import make_policy
    with pytest.raises(StitchError, match="Unknown policy 'expert'. Use random, pendulum_swingup, "
                                          "pendulum_two_mode or checkpoint:<workdir>"):
        make_policy("expert", gym.make("Pendulum-v1"))
