"""An online learner for the discrete Q-learning family (algos/dqn.py and its variants): the
online DQN whose runs the discrete datasets are logged from (scripts/discrete_suite.py).

Gymnasium vector envs step on the host; the replay buffer (data/buffer.py), the updates and the
greedy action live on the device, jitted: one call acts for every env, one adds their
transitions, one runs `updates_per_train` updates (a lax.scan of sample + update). Exploration is
epsilon-greedy with epsilon decayed linearly from `epsilon_start` to `epsilon_final` over the
first `epsilon_fraction` of the steps. Truncated episodes are bootstrapped through (only
`terminated` ends a backup).

Every transition of the run can be logged (`log_episodes=True`): whole episodes in Minari's
layout (observations n + 1 rows, actions, rewards, terminations, truncations), which is the
"logged replay" dataset of Agarwal et al. 2020. Parameter snapshots are kept at even intervals
(the "noisy snapshot" dataset's partially trained policy is one of them).
"""
import time
from typing import NamedTuple, Optional

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from algos import get_algo
from algos.common import Spec, StitchError, contract
from data import buffer as replay


class OnlineSettings(NamedTuple):
    env_id: str
    total_steps: int                # environment steps, all envs together
    num_envs: int = 4
    buffer_size: int = 50_000
    learning_starts: int = 1_000    # steps of pure exploration before the first update
    train_every: int = 1            # vector steps between training calls
    updates_per_train: int = 1      # updates per training call
    epsilon_start: float = 1.0
    epsilon_final: float = 0.05
    epsilon_fraction: float = 0.2   # of total_steps, over which epsilon decays
    num_snapshots: int = 10         # parameter snapshots at even intervals (the last: the final agent)
    seed: int = 0
    log_episodes: bool = False      # keep every episode of the run (the logged replay)
    max_episode_steps: Optional[int] = None  # a time limit for envs that have none (None: the env's own)


class OnlineResult(NamedTuple):
    state: object                   # the final agent's state
    snapshots: list                 # [(env step, state)] at even intervals
    curve: list                     # [(env step at the episode's end, undiscounted return)] of the run
    episodes: list                  # every episode of the run in Minari's layout (log_episodes), else []
    seconds: float
    updates: int


def check_online(config):
    algo = contract(get_algo(config.algo))
    if algo.actions != "discrete" or algo.prepare is not None or len(algo.phases) != 1:
        raise StitchError(f"The online learner runs one-phase discrete Q-learners without a data-dependent "
                          f"prepare step (dqn, ddqn, qr_dqn, c51, ensemble_dqn, rem, and bcq_discrete / "
                          f"cql_discrete); '{config.algo}' is not one. Fix: --config=configs/dqn.py.")
    if config.observation_transform == "zscore":
        raise StitchError("Online there are no dataset statistics to z-score with. Fix: "
                          "--config.observation_transform=none (or div255 for uint8 images).")
    return algo


def epsilon_at(settings: OnlineSettings, step: int) -> float:
    span = max(1.0, settings.epsilon_fraction * settings.total_steps)
    frac = min(1.0, step / span)
    return settings.epsilon_start + frac * (settings.epsilon_final - settings.epsilon_start)


def make_envs(settings: OnlineSettings):
    make = lambda: gym.make(settings.env_id, max_episode_steps=settings.max_episode_steps)
    return gym.vector.SyncVectorEnv([make] * settings.num_envs,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def env_spec(env) -> Spec:
    space, obs = env.single_action_space, env.single_observation_space
    if not isinstance(space, gym.spaces.Discrete):
        raise StitchError(f"The online DQN needs a Discrete action space; {space} is not one.")
    return Spec(tuple(obs.shape), np.dtype(obs.dtype).name, int(space.n), True)


def train_online(config, settings: OnlineSettings, progress=None) -> OnlineResult:
    """Train `config.algo` online in `settings.env_id`. `progress(step, curve)` is called after
    each finished episode when given."""
    algo = check_online(config)
    envs = make_envs(settings)
    spec = env_spec(envs)
    start = int(envs.single_action_space.start)
    rng = jax.random.PRNGKey(settings.seed)
    rng, init_rng = jax.random.split(rng)
    state = algo.init(config, spec, init_rng, None)
    obs_dtype = jnp.dtype(spec.observation_dtype)
    buffer = replay.create(settings.buffer_size, spec.observation_shape,
                           jnp.float32 if obs_dtype.kind == "f" else obs_dtype)
    update = algo.phases[0].update
    as_input = lambda o: replay.float_observations(config, jnp.asarray(o))

    @jax.jit
    def greedy(state, obs):
        return algo.act(config, state, as_input(obs), jax.random.PRNGKey(0), deterministic=True)

    # the buffer is donated: without it every add copies the whole ring (80 MB for MinAtar's 100k frames)
    add = jax.jit(replay.add, donate_argnums=0)

    @jax.jit  # the state is not donated: snapshots keep references to earlier states
    def train(state, buffer, rng):
        def one(state, key):
            sample_key, update_key = jax.random.split(key)
            return update(config, state, replay.sample(config, buffer, sample_key, config.batch_size), update_key)
        state, metrics = jax.lax.scan(one, state, jax.random.split(rng, settings.updates_per_train))
        return state, jax.tree_util.tree_map(jnp.mean, metrics)

    host_rng = np.random.default_rng(settings.seed)
    obs, _ = envs.reset(seed=settings.seed)
    n = settings.num_envs
    running = [_new_episode(obs[i]) for i in range(n)]
    returns = np.zeros(n)
    curve, episodes, snapshots = [], [], []
    snapshot_every = max(1, settings.total_steps // max(settings.num_snapshots, 1))
    next_snapshot, step, updates, vector_steps = snapshot_every, 0, 0, 0
    began = time.perf_counter()
    while step < settings.total_steps:
        actions = np.asarray(greedy(state, obs)).astype(np.int64)
        explore = host_rng.random(n) < epsilon_at(settings, step)
        actions = np.where(explore, host_rng.integers(0, spec.action_dim, n), actions)
        next_obs, rewards, terminated, truncated, info = envs.step(actions + start)
        done = terminated | truncated
        real_next = next_obs.copy()
        for i in np.flatnonzero(done):
            real_next[i] = info["final_obs"][i]
        buffer = add(buffer, jnp.asarray(obs), jnp.asarray(actions), jnp.asarray(rewards, jnp.float32),
                     jnp.asarray(real_next), jnp.asarray(terminated, jnp.float32))
        returns += rewards
        for i in range(n):
            if settings.log_episodes:
                _append(running[i], actions[i] + start, rewards[i], terminated[i], truncated[i], real_next[i])
            if done[i]:
                curve.append((step + i + 1, float(returns[i])))
                returns[i] = 0.0
                if settings.log_episodes:
                    episodes.append(_close(running[i]))
                    running[i] = _new_episode(next_obs[i])
                if progress is not None:
                    progress(step + i + 1, curve)
        obs = next_obs
        step += n
        vector_steps += 1
        if step >= settings.learning_starts and vector_steps % settings.train_every == 0:
            rng, key = jax.random.split(rng)
            state, _ = train(state, buffer, key)
            updates += settings.updates_per_train
        if step >= next_snapshot or step >= settings.total_steps:
            snapshots.append((step, state))
            next_snapshot += snapshot_every
    envs.close()
    return OnlineResult(state, snapshots, curve, episodes, time.perf_counter() - began, updates)


def _new_episode(first_obs):
    return {"observations": [np.asarray(first_obs)], "actions": [], "rewards": [], "terminations": [], "truncations": []}


def _append(episode, action, reward, terminated, truncated, next_obs):
    episode["observations"].append(np.asarray(next_obs))
    episode["actions"].append(action)
    episode["rewards"].append(float(reward))
    episode["terminations"].append(bool(terminated))
    episode["truncations"].append(bool(truncated))


def _close(episode):
    return {"observations": np.stack(episode["observations"]), "actions": np.asarray(episode["actions"], np.int64),
            "rewards": np.asarray(episode["rewards"], np.float64),
            "terminations": np.asarray(episode["terminations"], bool),
            "truncations": np.asarray(episode["truncations"], bool)}


def host_policy(config, state, num_actions: int, epsilon: float = 0.0, action_start: int = 0,
                per_episode_epsilon=None):
    """policy(obs, rng, episode) -> env action for data/collect.py: greedy in `state`, with
    epsilon-random actions (epsilon per episode from `per_episode_epsilon(episode)` when given)."""
    algo = get_algo(config.algo)
    greedy = jax.jit(lambda obs: algo.act(config, state, replay.float_observations(config, obs),
                                          jax.random.PRNGKey(0), deterministic=True))

    def policy(obs, rng, episode):
        eps = per_episode_epsilon(episode) if per_episode_epsilon is not None else epsilon
        if eps > 0 and rng.random() < eps:
            return int(rng.integers(num_actions)) + action_start
        return int(np.asarray(greedy(jnp.asarray(obs)[None]))[0]) + action_start

    return policy
