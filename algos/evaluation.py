"""Policy evaluation in a gymnasium vector env: every seed's agent at once, jitted and batched."""
import functools

import gymnasium as gym
import jax
import numpy as np

from algos.common import StitchError
from data.dataset import DataInfo, denormalize_actions, normalized_score


class Evaluator:
    """Runs `episodes` episodes for each of `num_seeds` agents in one vector env.

    Observations are normalised with the dataset's statistics (exactly as in training) and
    actions mapped back to the env's bounds; finished episodes are masked until all are done.
    """

    def __init__(self, algo, config, info: DataInfo, num_seeds: int, episodes: int):
        self.info, self.num_seeds, self.episodes = info, num_seeds, episodes
        make = functools.partial(gym.make, info.env_spec)
        self.envs = gym.vector.SyncVectorEnv([make for _ in range(num_seeds * episodes)])
        try:
            _check_env_matches_data(self.envs.single_observation_space,
                                    self.envs.single_action_space, info)
        except StitchError:
            self.envs.close()
            raise
        act = functools.partial(algo.act, config, deterministic=True)
        self._act = jax.jit(jax.vmap(lambda s, o, r: act(s, o, r), in_axes=(0, 0, 0)))

    def __call__(self, state, seed: int):
        """Return per-seed mean returns, shape (num_seeds,)."""
        info, n = self.info, self.num_seeds * self.episodes
        obs, _ = self.envs.reset(seed=seed)
        done = np.zeros(n, bool)
        returns = np.zeros(n)
        rngs = jax.random.split(jax.random.PRNGKey(seed), self.num_seeds)
        while not done.all():
            norm_obs = ((obs - info.obs_mean) / info.obs_std).astype(np.float32)
            actions = np.asarray(self._act(state, norm_obs.reshape(self.num_seeds, self.episodes, -1), rngs))
            actions = actions.reshape(n, *actions.shape[2:])
            obs, reward, terminated, truncated, _ = self.envs.step(
                denormalize_actions(actions, info.action_low, info.action_high))
            returns += np.where(done, 0.0, reward)
            done |= terminated | truncated
        return returns.reshape(self.num_seeds, self.episodes).mean(1)

    def close(self):
        self.envs.close()


def _check_env_matches_data(obs_space, act_space, info: DataInfo):
    """The evaluation env must take the data's observations and actions (checked before training)."""
    env_obs = tuple(obs_space.shape or ())
    discrete = isinstance(act_space, gym.spaces.Discrete)
    env_act = int(act_space.n) if discrete else int(np.prod(act_space.shape))
    if env_obs != (info.spec.observation_dim,) or discrete != info.spec.discrete or env_act != info.spec.action_dim:
        raise StitchError(
            f"The evaluation env {info.env_spec.id!r} does not match dataset '{info.dataset_id}': "
            f"env observations {env_obs} and actions {act_space}, data observations "
            f"({info.spec.observation_dim},) and {info.spec.action_dim} {'discrete' if info.spec.discrete else 'continuous'} "
            f"action dim(s). Fix: record the env the data came from when collecting it, or train "
            f"without evaluation (--config.eval_episodes=0).")


def score(returns, info: DataInfo):
    s = normalized_score(returns, info.ref_min_score, info.ref_max_score)
    return None if s is None else [float(x) for x in s]
