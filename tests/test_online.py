"""The online learner (algos/online.py), its device replay buffer (data/buffer.py) and the
discrete dataset suite it logs (scripts/discrete_suite.py), on a task small enough for a test."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos.common import StitchError
from data import buffer as replay
from tests import discrete_env


def test_replay_buffer_wraps_and_samples_only_filled_rows():
    buf = replay.create(5, (2,), jnp.float32)
    add = jax.jit(replay.add)
    for start in (0, 3):  # 3 rows, then 3 more: the 6th overwrites row 0
        rows = np.arange(start, start + 3, dtype=np.float32)
        buf = add(buf, jnp.stack([rows, rows], 1), jnp.asarray(rows, jnp.int32), jnp.asarray(rows),
                  jnp.stack([rows + 1, rows + 1], 1), jnp.zeros(3))
    assert int(buf.size) == 5 and int(buf.index) == 1
    np.testing.assert_array_equal(np.asarray(buf.actions), [5, 1, 2, 3, 4])
    np.testing.assert_array_equal(np.asarray(buf.next_observations)[:, 0], [6, 2, 3, 4, 5])
    small = replay.add(replay.create(8, (2,), jnp.float32), jnp.ones((2, 2)), jnp.asarray([1, 1]),
                       jnp.ones(2), jnp.ones((2, 2)), jnp.zeros(2))
    batch = replay.sample(None, small, jax.random.PRNGKey(0), 64)
    assert np.all(np.asarray(batch["actions"]) == 1)  # never an unfilled (zero) row
    assert set(batch) == {"observations", "actions", "rewards", "next_observations", "terminals"}


def pickstart_task():
    """The task of tests/discrete_env.py (reward 1 for the space's first action, label -1)."""
    discrete_env.register()
    return ("StitchPickStart-v0", {"algo": "dqn", "hidden_dims": (16,), "critic_lr": 1e-2, "batch_size": 32,
                                   "target_update_interval": 20},
            dict(total_steps=1_200, num_envs=4, buffer_size=2_000, learning_starts=100, epsilon_fraction=0.3,
                 epsilon_final=0.05, num_snapshots=4), 200)


def test_online_dqn_learns_and_logs_every_transition():
    from algos.online import OnlineSettings, train_online
    from scripts.discrete_suite import online_config
    env_id, overrides, settings, _ = pickstart_task()
    config = online_config(overrides)
    result = train_online(config, OnlineSettings(env_id, **settings, log_episodes=True))
    steps = sum(len(e["rewards"]) for e in result.episodes)
    assert steps == 1_200 and len(result.curve) == len(result.episodes) == 240  # 5-step episodes
    assert all(e["observations"].shape == (6, 2) for e in result.episodes)
    assert set(np.unique(np.concatenate([e["actions"] for e in result.episodes]))) <= {-1, 0, 1}
    last = [r for _, r in result.curve[-40:]]
    assert np.mean(last) > 4.0  # epsilon 0.05 at the end: nearly every step rewarded
    assert [s for s, _ in result.snapshots] == [300, 600, 900, 1_200]
    assert result.updates == 276  # a training call per vector step from step 100 (the 25th) to 1200 (the 300th)


def test_discrete_suite_writes_the_five_kinds(monkeypatch, minari_root, tmp_path):
    from data.dataset import load_dataset
    from scripts import discrete_suite
    monkeypatch.setitem(discrete_suite.TASKS, "pickstart", pickstart_task())
    lines = []
    summary = discrete_suite.build("pickstart", prefix="suite-test", eval_episodes=3, log=lines.append)
    progress = [line for line in lines if line.strip().startswith("step ")]
    assert [p.split()[1] for p in progress] == [f"{120 * k}/1200:" for k in range(1, 11)]  # a line a tenth
    assert summary["ref_max_score"] == pytest.approx(5.0, abs=0.1) and summary["ref_min_score"] < 2.5
    got = summary["datasets"]
    assert got["replay"]["transitions"] == 1_200
    for kind in ("noisy", "random", "expert", "mixed"):
        assert got[kind]["transitions"] >= 200
    assert got["expert"]["mean_return"] > got["noisy"]["mean_return"] - 0.5 > got["random"]["mean_return"] - 1
    assert got["random"]["mean_return"] < got["mixed"]["mean_return"] < got["expert"]["mean_return"]
    config = discrete_suite.online_config({"algo": "dqn"})
    config.dataset = got["noisy"]["id"]
    data, info = load_dataset(config, actions="discrete")
    assert info.action_start == -1 and set(np.unique(np.asarray(data["actions"]))) <= {0, 1, 2}
    assert info.ref_max_score == pytest.approx(summary["ref_max_score"])
    with pytest.raises(StitchError, match="already exist"):
        discrete_suite.build("pickstart", prefix="suite-test", log=lambda *_: None)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    discrete_suite.plot_online([str(tmp_path / "summary.json")] * 3, str(tmp_path / "online.png"))  # 2x2, one hidden
    assert (tmp_path / "online.png").stat().st_size > 10_000


def test_datasets_build_under_a_relative_minari_root(monkeypatch, tmp_path):
    """MINARI_DATASETS_PATH=runs/minari (relative): the staged build used to fail inside Minari."""
    import gymnasium as gym
    from data.tools import write_episodes
    from data.collect import random_policy, roll_episodes
    discrete_env.register()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", "relative/minari")
    env = gym.make("StitchPickStart-v0")
    episodes = roll_episodes(env, random_policy(env.action_space), 20, seed=0)
    ds = write_episodes("rel/pick/random-v0", episodes, env.spec, env.action_space, env.observation_space,
                        (0.0, 5.0), {"tool": "test"}, "test")
    assert ds.total_steps == 20 and (tmp_path / "relative/minari/rel/pick/random-v0/data").is_dir()


def test_online_and_suite_refusals_name_the_fix():
    from algos.online import check_online
    from scripts import discrete_suite
    with pytest.raises(StitchError, match="one-phase discrete Q-learners.*'kl_control'.*Fix"):
        check_online(discrete_suite.online_config({"algo": "kl_control"}))  # a behaviour phase first
    config = discrete_suite.online_config({"algo": "dqn"})
    config.observation_transform = "zscore"
    with pytest.raises(StitchError, match="no dataset statistics.*observation_transform=none"):
        check_online(config)
    with pytest.raises(StitchError, match="Unknown task 'nope'.*cartpole"):
        discrete_suite.build("nope", log=lambda *_: None)
    with pytest.raises(StitchError, match="Unknown dataset kind.*'replays'"):
        discrete_suite.build("cartpole", kinds=("replays",), log=lambda *_: None)


def test_a_task_time_limit_reaches_the_online_run_and_the_datasets(monkeypatch, minari_root):
    """MinAtar's envs have no time limit; the suite's cap must bound the online episodes and stay in
    the datasets' env spec, which offline evaluation rebuilds its env from."""
    from data.dataset import load_dataset
    from scripts import discrete_suite
    env_id, overrides, settings, steps = pickstart_task()
    monkeypatch.setitem(discrete_suite.TASKS, "capped", (env_id, overrides, {**settings, "max_episode_steps": 3}, steps))
    summary = discrete_suite.build("capped", prefix="cap-test", eval_episodes=2, kinds=("replay", "random"),
                                   log=lambda *_: None)
    replay_run = summary["datasets"]["replay"]
    assert replay_run["transitions"] == 1_200 and replay_run["episodes"] == 400  # 3-step episodes, not 5
    config = discrete_suite.online_config({"algo": "dqn"})
    config.dataset = summary["datasets"]["random"]["id"]
    _, info = load_dataset(config, actions="discrete")
    assert info.env_spec.max_episode_steps == 3
    assert discrete_suite.make_env("CartPole-v1").spec.max_episode_steps == 500  # None keeps the env's own
