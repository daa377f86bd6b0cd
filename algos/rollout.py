"""Environment interaction: policy evaluation in a gymnasium vector env, every run's agent at once.

Observations are transformed exactly as in training (`data.dataset.observations_for_policy`;
Dict observations flattened to the data's keys) and actions mapped back to the env's bounds; a
finished episode is no longer stepped while the others run on. Where the env reports `success`
in its step info (AntMaze, PointMaze, Adroit; Kitchen reports its completed tasks instead), an
episode succeeds if any step did.
A policy with memory (the contract's `init_memory`) carries it from step to step.
"""
import dataclasses
import functools

import gymnasium as gym
import jax
import numpy as np

from algos.common import StitchError
from data.dataset import (DataInfo, denormalize_actions, flat_size, flatten_dict_observation,
                          normalized_score, observations_for_policy)


class Evaluator:
    """Runs `episodes` episodes for each of `num_runs` agents in one vector env."""

    def __init__(self, algo, config, info: DataInfo, num_runs: int, episodes: int, run_configs=None,
                 first_run: int = 0, total_runs: int = None):
        """`algo` is a Contract (algos.common.contract); `run_configs(config, hparams)`, if given,
        binds each run's swept hyperparameters (the trainer's sweep). Under jax.distributed a
        process evaluates runs first_run .. first_run + num_runs - 1 of `total_runs`, with the
        env seeds and keys those runs get when one process evaluates them all."""
        self.info, self.num_runs, self.episodes = info, num_runs, episodes
        self.first_run, self.total_runs = first_run, total_runs or num_runs
        # Conditions (eval_conditions): each run's envs are C blocks of `episodes`, one per condition.
        self.conditions = tuple(algo.eval_conditions(config)) if algo.eval_conditions is not None else ()
        self.per_run = episodes * max(len(self.conditions), 1)
        self.by_condition = None  # {label: per-run mean returns} of the last call, with conditions
        make = functools.partial(gym.make, info.env_spec)
        self.envs = gym.vector.SyncVectorEnv([make for _ in range(num_runs * self.per_run)])
        try:
            _check_env_matches_data(self.envs.single_observation_space,
                                    self.envs.single_action_space, info)
        except StitchError:
            self.envs.close()
            raise
        self.memory = None
        self.success_rate = None  # per run, of the last call, where the env reports success
        self._flat_info = dataclasses.replace(info, observation_keys=None)  # obs are flattened on arrival
        if algo.init_memory is not None:
            one = algo.init_memory(config, info.spec, self.per_run)
            self.memory = jax.tree_util.tree_map(lambda x: np.stack([x] * num_runs), one)

        def act(state, obs, rng, hparams, memory):
            cfg = config if run_configs is None else run_configs(config, hparams)
            if memory is None:
                return algo.act(cfg, state, obs, rng, deterministic=True), None
            return algo.act(cfg, state, obs, rng, deterministic=True, memory=memory)

        self._act = jax.jit(jax.vmap(act))
        if len(self.conditions) > 1 and algo.init_memory is None:
            raise StitchError(f"Algorithm '{config.algo}' has {len(self.conditions)} evaluation "
                              f"conditions but no memory to tell its envs apart. Fix: give it "
                              f"init_memory (algos/common.py, the contract).")

    def __call__(self, state, seed: int, hparams=None):
        """Return per-run mean returns, shape (num_runs,) (under the first condition, if several)."""
        n = self.num_runs * self.per_run
        obs, _ = self.envs.reset(seed=seed + self.first_run * self.per_run)  # env i: seed + i
        keys = self.info.observation_keys
        if keys:  # one flat row per env, as the data's observations
            obs = flatten_dict_observation(obs, keys)
        done = np.zeros(n, bool)
        returns = np.zeros(n)
        success, reports_success = np.zeros(n, bool), False
        rngs = jax.random.split(jax.random.PRNGKey(seed), self.total_runs)
        rngs = rngs[self.first_run:self.first_run + self.num_runs]
        hparams = {} if hparams is None else hparams
        memory = self.memory
        shape = (self.num_runs, self.per_run, *self.info.spec.observation_shape)
        last_reward = np.zeros(n, np.float32)
        while not done.all():
            policy_obs = observations_for_policy(obs, self._flat_info).reshape(shape)
            if isinstance(memory, dict) and "reward" in memory:  # the contract's reward entry
                memory = {**memory, "reward": last_reward.reshape(self.num_runs, self.per_run)}
            actions, memory = self._act(state, policy_obs, rngs, hparams, memory)
            actions = np.asarray(actions)
            actions = actions.reshape(n, *actions.shape[2:])
            actions = denormalize_actions(actions, self.info.action_low, self.info.action_high,
                                          self.info.action_start)
            # Only the episodes still running are stepped (a finished one keeps its last
            # observation, which the batched policy ignores): the vector env itself would step
            # and reset every env until the longest episode ends.
            for i in np.flatnonzero(~done):
                o, reward, terminated, truncated, step_info = self.envs.envs[i].step(actions[i])
                obs[i] = flatten_dict_observation(o, keys) if keys else o
                returns[i] += reward
                last_reward[i] = reward
                done[i] = terminated or truncated
                if "success" in step_info:
                    reports_success = True
                    success[i] |= bool(step_info["success"])
        blocks = (self.num_runs, max(len(self.conditions), 1), self.episodes)
        self.success_rate = success.reshape(blocks)[:, 0].mean(-1) if reports_success else None
        means = returns.reshape(blocks).mean(-1)  # (runs, conditions)
        if self.conditions:
            self.by_condition = {label: means[:, c] for c, label in enumerate(self.conditions)}
        return means[:, 0]

    def close(self):
        self.envs.close()


def _check_env_matches_data(obs_space, act_space, info: DataInfo):
    """The evaluation env must take the data's observations and actions (checked before training)."""
    if isinstance(obs_space, gym.spaces.Dict) and info.observation_keys:
        parts = [obs_space[k] for k in info.observation_keys if k in obs_space.spaces]
        env_obs = (sum(flat_size(p) for p in parts),) if len(parts) == len(info.observation_keys) else None
    else:
        env_obs = tuple(obs_space.shape or ())
    discrete = isinstance(act_space, gym.spaces.Discrete)
    env_act = int(act_space.n) if discrete else int(np.prod(act_space.shape))
    if env_obs != tuple(info.spec.observation_shape) or discrete != info.spec.discrete or env_act != info.spec.action_dim:
        raise StitchError(
            f"The evaluation env {info.env_spec.id!r} does not match dataset '{info.dataset_id}': "
            f"env observations {env_obs} and actions {act_space}, data observations "
            f"{tuple(info.spec.observation_shape)} and {info.spec.action_dim} "
            f"{'discrete' if info.spec.discrete else 'continuous'} action dim(s). Fix: record the "
            f"env the data came from when collecting it, or train without evaluation "
            f"(--config.eval_episodes=0).")


def score(returns, info: DataInfo):
    s = normalized_score(returns, info.ref_min_score, info.ref_max_score)
    return None if s is None else [float(x) for x in s]
