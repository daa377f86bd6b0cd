"""Dataset tools (data/tools.py, scripts/dataset_tools.py): each output checked transition by
transition against its sources."""
import os
import subprocess
import sys

import gymnasium as gym
import minari
import numpy as np
import pytest

from data import tools
from data.dataset import read_columns
from data.spec import StitchError
from tests.conftest import REPO, make_dataset, random_episode


def doubled_minus_action(observations, actions, next_observations, rewards, offset=0.0):
    """A reward function the relabel test imports by name."""
    return 2 * rewards - actions[:, 0] + offset


@pytest.fixture(scope="module")
def sources(minari_root):
    rng = np.random.default_rng(0)
    a = [random_episode(n, rng=rng) for n in (4, 6)]
    b = [random_episode(n, rng=rng, terminated=True) for n in (5, 3, 7)]
    for ep, r in zip(a + b, (1.0, 5.0, 3.0, -2.0, 4.0)):  # returns 1, 5 | 3, -2, 4
        ep["rewards"] = np.full(len(ep["rewards"]), r / len(ep["rewards"]))
    make_dataset("tools/pendulum/a-v0", a, ref_scores=(-10.0, 10.0))
    make_dataset("tools/pendulum/b-v0", b, ref_scores=(-10.0, 10.0))
    return a, b


def fresh(dataset_id):
    if os.path.exists(minari.storage.get_dataset_path(dataset_id)):
        minari.delete_dataset(dataset_id)
    return dataset_id


def assert_episodes_equal(dataset_id, expected, observations=None):
    got, _ = tools.read_episodes(dataset_id)
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g["observations"], e["observations"] if observations is None else observations[i],
                                   rtol=1e-6)
        for key in ("actions", "rewards", "terminations", "truncations"):
            np.testing.assert_allclose(np.asarray(g[key], np.float64), np.asarray(e[key], np.float64),
                                       rtol=1e-6, err_msg=f"episode {i} {key}")


def test_combine_concatenates_and_keeps_shared_references(sources):
    a, b = sources
    ds = tools.make("combine", ["tools/pendulum/a-v0", "tools/pendulum/b-v0"], fresh("tools/pendulum/ab-v0"))
    assert_episodes_equal("tools/pendulum/ab-v0", a + b)
    meta = ds.storage.metadata
    assert (meta["ref_min_score"], meta["ref_max_score"]) == (-10.0, 10.0)
    assert meta["stitch_provenance"]["tool"] == "combine"
    assert meta["stitch_provenance"]["sources"] == ["tools/pendulum/a-v0", "tools/pendulum/b-v0"]
    assert ds.spec.env_spec.id == "Pendulum-v1"  # one env, unchanged observations: still evaluable


def test_combine_with_task_id_in_observation_and_info(sources):
    a, b = sources
    tools.make("combine", ["tools/pendulum/a-v0", "tools/pendulum/b-v0"], fresh("tools/pendulum/ab-obs-v0"),
               task_id="observation")
    one_hot = [np.c_[e["observations"], np.tile([1.0, 0.0], (len(e["observations"]), 1))] for e in a] + \
              [np.c_[e["observations"], np.tile([0.0, 1.0], (len(e["observations"]), 1))] for e in b]
    assert_episodes_equal("tools/pendulum/ab-obs-v0", a + b, observations=one_hot)
    arrays, _, ds = read_columns("tools/pendulum/ab-obs-v0")
    assert ds.observation_space.shape == (5,) and arrays["observations"].shape == (25, 5)
    tools.make("combine", ["tools/pendulum/a-v0", "tools/pendulum/b-v0"], fresh("tools/pendulum/ab-info-v0"),
               task_id="info")
    got, _ = tools.read_episodes("tools/pendulum/ab-info-v0")
    assert [int(np.unique(e["infos"]["task_id"])[0]) for e in got] == [0, 0, 1, 1, 1]
    assert [len(e["infos"]["task_id"]) for e in got] == [5, 7, 6, 4, 8]


def test_subsample_and_top_fraction_keep_whole_episodes(sources):
    a, b = sources
    tools.make("subsample", ["tools/pendulum/b-v0"], fresh("tools/pendulum/b-sub-v0"), num_episodes=2, seed=3)
    chosen = np.sort(np.random.default_rng(3).choice(3, size=2, replace=False))
    assert_episodes_equal("tools/pendulum/b-sub-v0", [b[i] for i in chosen])
    tools.make("subsample", ["tools/pendulum/b-v0"], fresh("tools/pendulum/b-frac-v0"), fraction=0.34, seed=0)
    assert len(tools.read_episodes("tools/pendulum/b-frac-v0")[0]) == 1  # round(0.34 * 3)
    tools.make("top", ["tools/pendulum/b-v0"], fresh("tools/pendulum/b-top-v0"), fraction=0.67)
    assert_episodes_equal("tools/pendulum/b-top-v0", [b[0], b[2]])  # returns 3 and 4 of 3, -2, 4
    with pytest.raises(StitchError, match="keep 1..3"):
        tools.make("subsample", ["tools/pendulum/b-v0"], fresh("tools/pendulum/b-bad-v0"), num_episodes=4)


def test_relabel_rewards_and_action_noise(sources):
    a, _ = sources
    ds = tools.make("relabel", ["tools/pendulum/a-v0"], fresh("tools/pendulum/a-relabel-v0"),
                    reward_fn="tests.test_dataset_tools:doubled_minus_action", reward_kwargs={"offset": 0.5})
    expected = [{**e, "rewards": 2 * e["rewards"] - e["actions"][:, 0] + 0.5} for e in a]
    assert_episodes_equal("tools/pendulum/a-relabel-v0", expected)
    assert ds.storage.metadata.get("ref_min_score") is None  # the old references score another reward
    assert ds.storage.metadata["stitch_provenance"]["params"]["reward_kwargs"] == {"offset": 0.5}

    ds = tools.make("noise", ["tools/pendulum/a-v0"], fresh("tools/pendulum/a-noise-v0"), action_noise=0.5, seed=4)
    rng = np.random.default_rng(4)  # Pendulum's actions lie in [-2, 2]: half range 2
    expected = [{**e, "actions": np.clip(e["actions"] + rng.normal(size=e["actions"].shape) * 0.5 * 2.0, -2, 2)}
                for e in a]
    assert_episodes_equal("tools/pendulum/a-noise-v0", expected)
    assert ds.storage.metadata["ref_max_score"] == 10.0


def test_action_noise_on_discrete_actions_is_epsilon_random(minari_root):
    space = gym.spaces.Discrete(3, start=1)
    rng = np.random.default_rng(5)
    eps = []
    for n in (200, 300):
        ep = random_episode(n, rng=rng)
        ep["actions"] = rng.integers(1, 4, size=n)
        eps.append(ep)
    make_dataset("tools/discrete/d-v0", eps, env=None, action_space=space,
                 observation_space=gym.spaces.Box(-np.inf, np.inf, (3,)))
    tools.make("noise", ["tools/discrete/d-v0"], fresh("tools/discrete/d-noise-v0"), action_noise=0.3, seed=6)
    got, _ = tools.read_episodes("tools/discrete/d-noise-v0")
    check = np.random.default_rng(6)
    for g, e in zip(got, eps):
        swap = check.random(e["actions"].shape) < 0.3
        replacement = check.integers(1, 4, e["actions"].shape)
        np.testing.assert_array_equal(g["actions"], np.where(swap, replacement, e["actions"]))
        assert set(np.unique(g["actions"])) <= {1, 2, 3}


def test_command_line_and_refusal_to_overwrite(sources):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "scripts.dataset_tools", *args], capture_output=True,
                              text=True, cwd=REPO, env=os.environ.copy(), timeout=300)
    out = fresh("tools/pendulum/a-top-v0")
    proc = run("top", "--sources=tools/pendulum/a-v0", "--fraction=0.5", f"--out={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Wrote tools/pendulum/a-top-v0: 1 episodes, 6 steps" in proc.stdout
    before = sorted(os.listdir(minari.storage.get_dataset_path(out) / "data"))
    again = run("top", "--sources=tools/pendulum/a-v0", "--fraction=0.5", f"--out={out}")
    assert again.returncode == 2 and "already exists" in again.stderr and "nothing was written" in again.stderr
    assert sorted(os.listdir(minari.storage.get_dataset_path(out) / "data")) == before
    assert_episodes_equal(out, [sources[0][1]])
    bad = run("relabel", "--sources=tools/pendulum/a-v0", "--reward_fn=nowhere:f", f"--out={fresh('tools/pendulum/x-v0')}")
    assert bad.returncode == 2 and "Cannot load the function 'nowhere:f'" in bad.stderr
    not_json = run("relabel", "--sources=tools/pendulum/a-v0", "--reward_fn=data.tools:halfcheetah_target_velocity",
                   "--reward_kwargs={target: 1.5}", f"--out={fresh('tools/pendulum/y-v0')}")
    assert not_json.returncode != 0 and "--reward_kwargs is not JSON" in not_json.stderr
    assert """e.g. '{"target": 1.5}'""" in not_json.stderr
    assert not os.path.exists(minari.storage.get_dataset_path("tools/pendulum/y-v0"))


def test_halfcheetah_target_velocity_reward():
    next_obs = np.zeros((2, 17))
    next_obs[:, 8] = [2.0, 1.0]
    actions = np.ones((2, 6))
    # -|2 - 1.5| - 0.1 * 6 and -|1 - 1.5| - 0.1 * 6
    np.testing.assert_allclose(tools.halfcheetah_target_velocity(None, actions, next_obs, None, target=1.5),
                               [-1.1, -1.1])
