"""Write a Minari dataset from a policy (random, scripted, or any callable), and the built-ins.

The command line, which also collects from a trained stitch checkpoint, is scripts/collect.py:
  python -m scripts.collect --env=Pendulum-v1 --policy=random --num_steps=20000 \
      --dataset_id=me/pendulum/random-v0 --ref_max_score=-150

Whole episodes are collected until at least `num_steps` transitions exist. Reference scores
for normalisation are the mean returns of a uniform random policy (min) and of the
collecting policy acting without noise (max), unless given explicitly (a random collecting
policy needs an explicit --ref_max_score).
"""
import os
import warnings
from typing import Callable, Optional

import gymnasium as gym
import minari
import numpy as np

from data.spec import StitchError

# policy(observation, rng, episode_index) -> action in the env's own action space
Policy = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]


def random_policy(action_space) -> Policy:
    def policy(obs, rng, episode):
        if isinstance(action_space, gym.spaces.Discrete):
            return int(rng.integers(action_space.n)) + int(action_space.start)
        return rng.uniform(action_space.low, action_space.high).astype(action_space.dtype)
    return policy


def average_return(env, policy: Policy, episodes: int, seed: int) -> float:
    rng, total = np.random.default_rng(seed), []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        ret, done = 0.0, False
        while not done:
            obs, r, terminated, truncated, _ = env.step(policy(obs, rng, ep))
            ret += float(r)
            done = terminated or truncated
        total.append(ret)
    return float(np.mean(total))


def collect(env_id, policy: Policy, num_steps: int, dataset_id: str, seed: int = 0,
            ref_min_score: Optional[float] = None, ref_max_score: Optional[float] = None,
            reference_policy: Optional[Policy] = None, ref_episodes: int = 10,
            algorithm_name: str = "stitch", description: str = ""):
    """Roll `policy` in `env_id` and write whole episodes as Minari dataset `dataset_id`."""
    if os.path.exists(os.path.join(minari.storage.get_dataset_path(dataset_id), "data")):
        raise StitchError(f"Dataset {dataset_id} already exists under "
                              f"{minari.storage.get_dataset_path(dataset_id)}; pick a new id or "
                              f"delete it (minari delete {dataset_id}).")
    env = gym.make(env_id) if isinstance(env_id, str) else env_id
    if ref_min_score is None:
        ref_min_score = average_return(env, random_policy(env.action_space), ref_episodes, seed + 10_000)
    if ref_max_score is None:
        ref_max_score = average_return(env, reference_policy or policy, ref_episodes, seed + 20_000)
    if not ref_max_score > ref_min_score:
        raise StitchError(
            f"Reference scores for {dataset_id} would be ref_min_score={ref_min_score:.4g} >= "
            f"ref_max_score={ref_max_score:.4g} (the collecting policy does no better than a random "
            f"one), so normalised scores would be meaningless; nothing was written. Fix: pass "
            f"--ref_max_score (e.g. an expert's return) and --ref_min_score explicitly.")
    collector = minari.DataCollector(env, record_infos=False)
    rng = np.random.default_rng(seed)
    steps, episode = 0, 0
    while steps < num_steps:
        obs, _ = collector.reset(seed=seed + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = collector.step(policy(obs, rng, episode))
            steps += 1
            done = terminated or truncated
        episode += 1
    with warnings.catch_warnings():  # Minari nags about author/permalink metadata
        warnings.simplefilter("ignore", UserWarning)
        dataset = collector.create_dataset(
            dataset_id=dataset_id, algorithm_name=algorithm_name, ref_min_score=ref_min_score,
            ref_max_score=ref_max_score, description=description)
    collector.close()
    return dataset


# --- the built-in default dataset --------------------------------------------------------

def pendulum_swingup(obs, gain_noise: float = 0.0):
    """Energy-pumping swing-up with a PD balance near the top, for gymnasium's Pendulum-v1.

    Dynamics: theta'' = 15 sin(theta) + 3 u, so E = theta'^2 / 2 + 15 (cos(theta) - 1) is 0 at
    upright rest and dE/dt = 3 theta' u: push along theta' while E < 0.
    """
    c, s, thdot = obs[0], obs[1], obs[2]
    energy = 0.5 * thdot ** 2 + 15.0 * (c - 1.0)
    pump = np.clip(-2.0 * energy * thdot, -2.0, 2.0) if abs(thdot) > 1e-3 else 1.0
    balance = np.clip(-(10.0 * np.arctan2(s, c) + 2.0 * thdot) * (1.0 + gain_noise), -2.0, 2.0)
    return np.array([balance if c > 0.85 else pump], np.float32)


# (share of episodes, action noise std, probability of a uniform random action)
PENDULUM_MIX = [
    (0.3, 0.3, 0.1),   # decent: a noisy controller
    (0.4, 0.5, 0.6),   # poor: mostly random actions
    (0.3, 0.0, 1.0),   # random
]


def pendulum_mixed_policy(obs, rng, episode):
    """Mixed-quality behaviour: each episode draws one of PENDULUM_MIX's styles."""
    style = np.random.default_rng(episode).choice(len(PENDULUM_MIX), p=[m[0] for m in PENDULUM_MIX])
    _, noise, p_random = PENDULUM_MIX[style]
    if rng.random() < p_random:
        return rng.uniform(-2.0, 2.0, size=1).astype(np.float32)
    return np.clip(pendulum_swingup(obs) + noise * rng.normal(size=1), -2.0, 2.0).astype(np.float32)


def build_pendulum_mixed(dataset_id: str = "stitch/pendulum/mixed-v0", num_steps: int = 30_000):
    return collect(
        "Pendulum-v1", pendulum_mixed_policy, num_steps, dataset_id, seed=0,
        reference_policy=lambda obs, rng, ep: pendulum_swingup(obs), ref_episodes=20,
        algorithm_name="stitch scripted mix",
        description="Pendulum-v1, 150 episodes of mixed quality: a noisy energy-pumping swing-up "
                    "controller, a mostly random one, and uniform random actions. "
                    "ref_min: uniform random policy; ref_max: the noise-free controller.")


TWO_MODE_OFFSET = 1.2  # the two behaviours' torques sit this far either side of 0 (Pendulum's range is +-2)


def pendulum_two_modes(obs):
    """The two scripted behaviours' actions at `obs` (each (1,)): a torque of +-1.2 that leans
    with the angle by 0.3 sin(theta), so each mode is a function of the state."""
    lean = 0.3 * obs[1]
    return (np.array([TWO_MODE_OFFSET + lean], np.float32), np.array([-TWO_MODE_OFFSET + lean], np.float32))


def pendulum_two_mode_policy(obs, rng, episode):
    """At every step one of the two behaviours, each with probability 1/2, plus noise of std 0.05:
    every visited state has both modes in the data, 2.4 apart."""
    a, b = pendulum_two_modes(obs)
    pick = a if rng.random() < 0.5 else b
    return np.clip(pick + 0.05 * rng.normal(size=1), -2.0, 2.0).astype(np.float32)


def build_pendulum_two_mode(dataset_id: str = "stitch/pendulum/two-mode-v0", num_steps: int = 10_000):
    return collect(
        "Pendulum-v1", pendulum_two_mode_policy, num_steps, dataset_id, seed=0,
        reference_policy=lambda obs, rng, ep: pendulum_swingup(obs), ref_episodes=10,
        algorithm_name="stitch scripted two-mode",
        description="Pendulum-v1, two scripted behaviours mixed per step: torques +1.2 and -1.2 "
                    "(each leaning 0.3 sin(theta)), noise 0.05. A policy that averages them acts "
                    "near 0, which neither behaviour does. ref_min: uniform random policy; ref_max: "
                    "the swing-up controller.")


BUILTIN_DATASETS = {"stitch/pendulum/mixed-v0": build_pendulum_mixed,
                    "stitch/pendulum/two-mode-v0": build_pendulum_two_mode}


SCRIPTED_POLICIES = {"pendulum_swingup": lambda obs, rng, ep: pendulum_swingup(obs),
                     "pendulum_two_mode": pendulum_two_mode_policy}


def with_action_noise(policy: Policy, space, action_noise: float) -> Policy:
    """Box: add Gaussian noise of std `action_noise` x half the action range, clipped to the space.
    Discrete: epsilon-random, a uniformly random action of the space with probability
    `action_noise` (the noise of Fujimoto et al. 2019's discrete datasets)."""
    if action_noise <= 0:
        return policy
    if isinstance(space, gym.spaces.Discrete):
        if action_noise > 1:
            raise StitchError(f"For Discrete actions the action noise is the probability of a random "
                              f"action, so it must lie in [0, 1]; got {action_noise}.")
        explore = random_policy(space)

        def epsilon_random(obs, rng, ep):
            return explore(obs, rng, ep) if rng.random() < action_noise else policy(obs, rng, ep)
        return epsilon_random
    if not isinstance(space, gym.spaces.Box):
        raise StitchError(f"Action noise handles Box and Discrete action spaces, not {space}. Fix: "
                          f"collect with --action_noise=0.")

    def noisy(obs, rng, ep):
        a = policy(obs, rng, ep) + action_noise * (space.high - space.low) / 2 * rng.normal(size=space.shape)
        return np.clip(a, space.low, space.high).astype(space.dtype)
    return noisy


def make_policy(name: str, env, action_noise: float = 0.0) -> Policy:
    """'random' or a name in SCRIPTED_POLICIES (checkpoints: scripts/collect.py)."""
    if name == "random":
        return random_policy(env.action_space)
    if name not in SCRIPTED_POLICIES:
        raise StitchError(f"Unknown policy '{name}'. Use random, "
                          f"{', '.join(SCRIPTED_POLICIES)} or checkpoint:<workdir>.")
    return with_action_noise(SCRIPTED_POLICIES[name], env.action_space, action_noise)


def roll_episodes(env, policy: Policy, num_steps: int, seed: int = 0, first_episode: int = 0) -> list:
    """Whole episodes of `policy` in `env` until at least `num_steps` transitions, in Minari's
    layout (observations n + 1 rows, actions, rewards, terminations, truncations), for datasets
    assembled from several sources (data/tools.write_episodes). Episode i resets with seed + i."""
    rng, episodes, steps = np.random.default_rng(seed), [], 0
    episode = first_episode
    while steps < num_steps:
        obs, _ = env.reset(seed=seed + episode)
        rows = {"observations": [obs], "actions": [], "rewards": [], "terminations": [], "truncations": []}
        done = False
        while not done:
            action = policy(obs, rng, episode)
            obs, reward, terminated, truncated, _ = env.step(action)
            for key, value in (("observations", obs), ("actions", action), ("rewards", reward),
                               ("terminations", terminated), ("truncations", truncated)):
                rows[key].append(value)
            done = terminated or truncated
        episodes.append({k: np.asarray(v) for k, v in rows.items()})
        steps += len(rows["rewards"])
        episode += 1
    return episodes
