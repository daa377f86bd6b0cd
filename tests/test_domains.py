"""The D4RL domains Minari hosts beside locomotion: Dict (goal-conditioned) observations load
flattened, the tuning follows the dataset id, evaluation builds gymnasium-robotics' env and
reports success. The data are a few random episodes the tests collect in those envs."""
import json

import gymnasium as gym
import numpy as np
import pytest

from algos import trainer
from algos.workdir import load_policy
from data.dataset import load_dataset
from data.spec import StitchError
from tests.conftest import tiny_config

gymnasium_robotics = pytest.importorskip("gymnasium_robotics")  # the [test] extra installs it
gym.register_envs(gymnasium_robotics)


def collect(dataset_id, env_id, episodes=3, steps=30, **env_kwargs):
    import minari
    from minari import DataCollector
    if dataset_id in minari.list_local_datasets():
        minari.delete_dataset(dataset_id)
    env = DataCollector(gym.make(env_id, max_episode_steps=steps, **env_kwargs))
    env.action_space.seed(0)
    for i in range(episodes):
        env.reset(seed=i)
        while not any(env.step(env.action_space.sample())[2:4]):
            pass
    return env.create_dataset(dataset_id=dataset_id, ref_min_score=0.0, ref_max_score=1.0)


@pytest.fixture(scope="module")
def antmaze(minari_root):
    collect("test/antmaze/umaze-v1", "AntMaze_UMaze-v4", continuing_task=True)
    return "test/antmaze/umaze-v1"


def test_antmaze_trains_iql_with_its_preset_and_reports_success(antmaze, tmp_path):
    from configs import iql
    config = iql.get_config("auto")
    config.update(tiny_config("iql", dataset=antmaze, num_updates=20, eval_episodes=2).to_dict())
    config.tuning, config.preset = "auto", "auto"
    results = trainer.train_and_evaluate(config, str(tmp_path))
    assert results["tuning"]["tuning"] == "antmaze-umaze"
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["expectile"], saved["temperature"], saved["reward_shift"]) == (0.9, 10.0, -1.0)
    assert saved["eval_episodes"] == 2  # the test's own size is kept over the preset's 100
    # D4RL's AntMaze observation had the ant's x, y; Minari's 27-d `observation` does not, so the
    # position (achieved_goal) and the goal come along: 27 + 2 + 2.
    assert results["observation_keys"] == ["observation", "achieved_goal", "desired_goal"]
    success = results["final_success_rate"]
    assert len(success) == 2 and all(s in (0.0, 0.5, 1.0) for s in success)
    assert all("success_rate" in e for e in results["eval"])
    policy = load_policy(str(tmp_path))  # acts on the env's raw Dict observations
    env = gym.make("AntMaze_UMaze-v4", continuing_task=True)
    obs, _ = env.reset(seed=0)
    action = policy(obs, np.random.default_rng(0), 0)
    assert action.shape == (8,) and env.action_space.contains(action.astype(np.float32))


def test_dict_observation_keys_are_chosen_and_checked(antmaze):
    data, info = load_dataset(tiny_config("td3_bc", dataset=antmaze))
    assert info.spec.observation_shape == (31,) and info.observation_keys == (
        "observation", "achieved_goal", "desired_goal")
    _, info = load_dataset(tiny_config("td3_bc", dataset=antmaze, observation_keys="observation,desired_goal"))
    assert info.spec.observation_shape == (29,)
    with pytest.raises(StitchError, match=r"lack; they have \['achieved_goal', 'desired_goal', "
                                          r"'observation'\]. Fix: --config.observation_keys="):
        load_dataset(tiny_config("td3_bc", dataset=antmaze, observation_keys="observation,goal"))


def test_pointmaze_loads_and_evaluates(minari_root, tmp_path):
    collect("test/pointmaze/umaze-v1", "PointMaze_UMaze-v3", continuing_task=True)
    results = trainer.train_and_evaluate(
        tiny_config("td3_bc", dataset="test/pointmaze/umaze-v1", num_updates=20, eval_episodes=1),
        str(tmp_path))
    assert results["observation_keys"] == ["observation", "achieved_goal", "desired_goal"]
    assert len(results["final_success_rate"]) == 2 and np.all(np.isfinite(results["final_return"]))
