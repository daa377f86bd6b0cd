"""The D4RL domains Minari hosts beside locomotion: Dict (goal-conditioned) observations load
flattened, the tuning follows the dataset id, evaluation builds gymnasium-robotics' env and
reports success. The data are a few random episodes the tests collect in those envs."""
import dataclasses
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


@pytest.mark.parametrize("task, env_id", [("door", "AdroitHandDoor-v1"), ("pen", "AdroitHandPen-v1"),
                                         ("hammer", "AdroitHandHammer-v1"), ("relocate", "AdroitHandRelocate-v1")])
def test_adroit_loads_and_reports_success(minari_root, tmp_path, task, env_id):
    # D4RL/{door,pen,hammer,relocate}/*: flat Box observations; the env's step info carries `success`.
    collect(f"test/{task}/random-v1", env_id, episodes=2, steps=10)
    results = trainer.train_and_evaluate(
        tiny_config("iql", dataset=f"test/{task}/random-v1", num_updates=20, eval_episodes=2), str(tmp_path))
    assert results["observation_keys"] is None
    assert len(results["final_success_rate"]) == 2 and all(s in (0.0, 0.5, 1.0) for s in results["final_success_rate"])
    assert np.all(np.isfinite(results["final_return"]))


KITCHEN_TASKS = {"bottom burner": 2, "hinge cabinet": 2, "kettle": 7, "light switch": 2, "microwave": 1,
                 "slide cabinet": 1, "top burner": 2}  # FrankaKitchen-v1's per-task goal widths


class KitchenShaped(gym.Env):
    """FrankaKitchen-v1's observation space (59-d state, per-task achieved and desired goals as
    nested Dicts) with random dynamics: the nested-Dict data path without the MuJoCo model,
    which gymnasium-robotics 1.4.2 cannot build under mujoco 4."""

    def __init__(self):
        box = lambda n: gym.spaces.Box(-np.inf, np.inf, (n,), np.float64)
        goals = lambda: gym.spaces.Dict({k: box(n) for k, n in KITCHEN_TASKS.items()})
        self.observation_space = gym.spaces.Dict(
            {"observation": box(59), "achieved_goal": goals(), "desired_goal": goals()})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (9,), np.float32)

    def _obs(self):
        # Keys deliberately not in sorted order: the flattening must not depend on it.
        goal = lambda: {k: self.np_random.normal(size=n) for k, n in reversed(KITCHEN_TASKS.items())}
        return {"observation": self.np_random.normal(size=59), "desired_goal": goal(), "achieved_goal": goal()}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        return self._obs(), float(np.sum(action)), False, False, {}


def test_kitchen_shaped_nested_dict_observations_flatten(minari_root, tmp_path):
    gym.register("stitch-test/KitchenShaped-v0", entry_point="tests.test_domains:KitchenShaped")
    collect("test/kitchen/mixed-v2", "stitch-test/KitchenShaped-v0", episodes=2, steps=20)
    data, info = load_dataset(tiny_config("td3_bc", dataset="test/kitchen/mixed-v2", observation_transform="none"))
    assert info.spec.observation_shape == (59 + 17 + 17,)
    assert info.observation_keys == ("observation", "achieved_goal", "desired_goal")
    # The flat row is the 59-d state, then each goal Dict's leaves in sorted task order.
    import minari
    ep = next(minari.load_dataset("test/kitchen/mixed-v2").iterate_episodes())
    order = sorted(KITCHEN_TASKS)
    row = np.concatenate([ep.observations["observation"][0]]
                         + [ep.observations[g][k][0] for g in ("achieved_goal", "desired_goal") for k in order])
    np.testing.assert_allclose(np.asarray(data["observations"])[0], row, rtol=1e-6)
    results = trainer.train_and_evaluate(
        tiny_config("td3_bc", dataset="test/kitchen/mixed-v2", num_updates=20, eval_episodes=1), str(tmp_path))
    assert np.all(np.isfinite(results["final_return"]))
    policy = load_policy(str(tmp_path))  # acts on the env's nested Dict observations
    obs, _ = KitchenShaped().reset(seed=1)
    assert policy(obs, np.random.default_rng(0), 0).shape == (9,)


def test_frankakitchen_env_failure_says_how_to_fix(minari_root, tmp_path, monkeypatch):
    if trainer._mujoco_major() < 4:
        pytest.skip("FrankaKitchen-v1 builds under this mujoco: the failure checked here cannot happen")
    with pytest.raises(AssertionError):
        gym.make("FrankaKitchen-v1")  # the upstream failure itself (gymnasium-robotics 1.4.2)
    gym.register("stitch-test/KitchenShaped-v0", entry_point="tests.test_domains:KitchenShaped")
    collect("test/kitchen/mixed-v2", "stitch-test/KitchenShaped-v0", episodes=2, steps=20)
    import algos.trainer as trainer_module
    real = trainer_module.load_dataset

    def as_d4rl_kitchen(*args, **kwargs):  # the data's recorded env: Minari's D4RL/kitchen's
        data, info = real(*args, **kwargs)
        return data, dataclasses.replace(info, env_spec=gym.spec("FrankaKitchen-v1"))
    monkeypatch.setattr(trainer_module, "load_dataset", as_d4rl_kitchen)
    config = tiny_config("td3_bc", dataset="test/kitchen/mixed-v2", num_updates=10, eval_episodes=1)
    with pytest.warns(UserWarning, match=r"FrankaKitchen does not build under mujoco 4.*pip install 'mujoco<4'"):
        results = trainer.train_and_evaluate(config, str(tmp_path))
    assert results["final_return"] is None  # trained, not evaluated; nothing else lost


def test_a_dict_observation_run_resumes(antmaze, tmp_path):
    # The checkpoint's data check compares the recorded observation keys (strings) on resume.
    config = tiny_config("td3_bc", dataset=antmaze, num_updates=10, eval_interval=10, eval_episodes=1)
    trainer.train_and_evaluate(config, str(tmp_path))
    config.num_updates = 20  # extend the finished run: it resumes from its checkpoint at 10
    results = trainer.train_and_evaluate(config, str(tmp_path))
    assert [e["step"] for e in results["eval"]] == [10, 20]
    assert results["observation_keys"] == ["observation", "achieved_goal", "desired_goal"]


class SucceedsOnEvenSeeds(gym.Env):
    """A goal-conditioned stand-in whose episodes succeed (at their 3rd step) when reset with an
    even seed: the success path of evaluation with a known answer."""
    observation_space = gym.spaces.Dict({"observation": gym.spaces.Box(-1.0, 1.0, (2,), np.float64),
                                         "desired_goal": gym.spaces.Box(-1.0, 1.0, (2,), np.float64)})
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.even = 0, seed is not None and seed % 2 == 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return (self.observation_space.sample(), 0.0, False, self.t >= 5,
                {"success": self.even and self.t == 3})


def test_success_rate_counts_episodes_that_succeeded_at_any_step(minari_root, tmp_path):
    gym.register("stitch-test/SucceedsOnEvenSeeds-v0", entry_point="tests.test_domains:SucceedsOnEvenSeeds")
    collect("test/goals/even-v0", "stitch-test/SucceedsOnEvenSeeds-v0", episodes=2, steps=5)
    results = trainer.train_and_evaluate(
        tiny_config("td3_bc", dataset="test/goals/even-v0", num_updates=10, eval_interval=10, eval_episodes=4),
        str(tmp_path))
    # Each run's 4 episodes get consecutive env seeds, so exactly two of them are even.
    assert results["final_success_rate"] == [0.5, 0.5]
