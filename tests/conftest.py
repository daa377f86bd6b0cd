"""Shared fixtures: a private Minari root per test session, with small datasets made here."""
import os
import warnings

import gymnasium as gym
import minari
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (longer learning checks and parameter matrices)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out of the default run (CI's); `pytest --slow` runs them")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def compile_cache():
    """The suite uses train_offline's persistent compile cache (STITCH_COMPILE_CACHE, default
    ~/.cache/stitch/jax-compile; "off" disables it): a re-run of the suite, and identical
    programs within one, load compiled programs instead of compiling them again."""
    from algos.common import default_compile_cache, use_compile_cache
    return use_compile_cache(default_compile_cache())


@pytest.fixture(scope="session", autouse=True)
def minari_root(tmp_path_factory):
    """Every test sees a fresh MINARI_DATASETS_PATH (subprocesses inherit it)."""
    root = str(tmp_path_factory.mktemp("minari"))
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = root
    yield root
    if old is None:
        os.environ.pop("MINARI_DATASETS_PATH")
    else:
        os.environ["MINARI_DATASETS_PATH"] = old


@pytest.fixture(scope="session")
def pendulum(minari_root):
    """The built-in default dataset, built once per session."""
    from data.collect import build_pendulum_mixed
    return build_pendulum_mixed()


@pytest.fixture(scope="session")
def discrete_data(minari_root):
    """A few random Discrete(3)-action episodes (no env: nothing to evaluate in)."""
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(4):
        ep = random_episode(30, rng=rng)
        ep["actions"] = rng.integers(3, size=30)
        episodes.append(ep)
    make_dataset("cli/discrete/random-v0", episodes, env=None, action_space=gym.spaces.Discrete(3),
                 observation_space=gym.spaces.Box(-np.inf, np.inf, (3,)))
    return "cli/discrete/random-v0"


def make_dataset(dataset_id, episodes, action_space=None, observation_space=None, env="Pendulum-v1",
                 ref_scores=True, eval_env=None):
    """Write a Minari dataset from explicit episodes (dicts of numpy arrays).

    env=None writes no environment spec (spaces must then be given). ref_scores: True for
    (-1000, 0), False for none, or a (min, max) pair.
    """
    if os.path.exists(minari.storage.get_dataset_path(dataset_id)):
        minari.delete_dataset(dataset_id)
    if env is not None:
        spec_env = gym.make(env)
        action_space = action_space or spec_env.action_space
        observation_space = observation_space or spec_env.observation_space
    refs = (-1000.0, 0.0) if ref_scores is True else ref_scores
    kwargs = dict(ref_min_score=refs[0], ref_max_score=refs[1]) if refs else {}
    if eval_env is not None:
        kwargs["eval_env"] = eval_env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from minari.data_collector.episode_buffer import EpisodeBuffer
        buffers = [EpisodeBuffer(id=i, **ep) for i, ep in enumerate(episodes)]
        return minari.create_dataset_from_buffers(
            dataset_id, buffer=buffers, env=env, action_space=action_space,
            observation_space=observation_space, **kwargs)


def random_episode(length, obs_dim=3, act_dim=1, rng=None, low=-2.0, high=2.0, terminated=False):
    rng = rng or np.random.default_rng(0)
    terminations = np.zeros(length, bool)
    truncations = np.zeros(length, bool)
    (terminations if terminated else truncations)[-1] = True
    return {
        "observations": rng.normal(size=(length + 1, obs_dim)).astype(np.float32),
        "actions": rng.uniform(low, high, size=(length, act_dim)).astype(np.float32),
        "rewards": rng.normal(size=length),
        "terminations": terminations,
        "truncations": truncations,
    }


def tiny_config(algo="iql", **overrides):
    """A config small enough for a unit test (tiny networks, few updates)."""
    import importlib
    config = importlib.import_module(f"configs.{algo}").get_config("pendulum")
    config.update(dict(num_seeds=2, num_updates=20, batch_size=32, log_interval=10,
                       eval_interval=10, eval_episodes=1, hidden_dims=(16, 16), progress_bar=False,
                       tensorboard=False))  # tests/test_loggers.py turns it on where it is tested
    # Every other phase (a behaviour fit, a SARSA evaluation) as short as the main one: their
    # paper-sized defaults (5k to 30k updates) would make a unit test minutes long.
    from algos import ALGOS
    from algos.common import contract
    for phase in contract(ALGOS[algo]).phases:
        if phase.steps != "num_updates":
            config[phase.steps] = min(config[phase.steps], 20)
    config.update(overrides)
    return config
