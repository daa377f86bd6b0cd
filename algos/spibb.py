"""SPIBB-DQN (Laroche, Trichelair & Tachet des Combes 2019, "Safe policy improvement with
baseline bootstrapping"): Q-learning whose backup follows the SPIBB policy, which copies the
behaviour policy pi_b on the actions the data has seen fewer than N_wedge times at the state
(the bootstrapped set B) and moves only the rest of the mass to the best well-seen action:
  pi(a|s) = pi_b(a|s)                                  for a in B(s) = {a : n(s, a) < N_wedge}
  pi(a*|s) += 1 - sum_{a in B(s)} pi_b(a|s),           a* = argmax_{a not in B(s)} Q'(s, a)
  y = r + gamma (1 - terminal) sum_a pi(a|s') Q'(s', a).
N_wedge = 0 is Q-learning; a huge N_wedge is SARSA under pi_b. pi_b is a classifier fitted in a
first phase (`behaviour_steps`). The counts n(s, a) are pseudo-counts on a grid: each observation
dimension is cut into `count_bins` equal bins over the data's range and the cell's (state, action)
visits are counted in `prepare` (exact counts for tabular states; cells hashed into
`count_table_size` slots when there are more cells than slots). Acting: the SPIBB policy at s,
its most likely action (a sample of it when not deterministic). The changes are `next_value`,
acting, the counts and the phase.
"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from algos import dqn
from algos.common import Phase
from data import samplers

ACTIONS = "discrete"
HASH_SEED = 2_654_435_761  # Knuth's multiplicative constant: per-dimension multipliers of the hash


def cells(config, aux, observations):
    """Grid cell of each observation, (B,) int32, the same on host and device."""
    x = observations.reshape(observations.shape[0], -1).astype(jnp.float32)
    width = jnp.where(aux["high"] > aux["low"], aux["high"] - aux["low"], 1.0)
    bins = jnp.clip(jnp.floor((x - aux["low"]) / width * config.count_bins), 0, config.count_bins - 1).astype(jnp.uint32)
    dims = x.shape[1]
    if config.count_bins ** dims <= config.count_table_size:  # exact: the cell's index in the grid
        return jnp.sum(bins * (jnp.uint32(config.count_bins) ** jnp.arange(dims, dtype=jnp.uint32)), -1).astype(jnp.int32)
    multipliers = (jnp.arange(1, dims + 1, dtype=jnp.uint32) * jnp.uint32(HASH_SEED)) | jnp.uint32(1)
    mixed = jnp.sum(bins * multipliers, -1)  # wraps modulo 2^32
    return (mixed % jnp.uint32(config.count_table_size)).astype(jnp.int32)


def prepare(config, data, info):
    """The pseudo-count table n(cell, a) of the dataset's transitions, and the grid's range."""
    n = data["rewards"].shape[0]
    observations = samplers.observations_at(config, data, jnp.arange(n))
    flat = np.asarray(observations).reshape(n, -1)
    aux = {"low": jnp.asarray(flat.min(0)), "high": jnp.asarray(flat.max(0))}
    cell = np.asarray(jax.jit(lambda o: cells(config, aux, o))(observations))
    table = np.zeros((config.count_table_size, info.spec.action_dim), np.float32)
    np.add.at(table, (cell, np.asarray(data["actions"]).astype(np.int64)), 1.0)
    if config.spibb_n_wedge > table.max():
        warnings.warn(f"config.spibb_n_wedge={config.spibb_n_wedge} exceeds every pseudo-count of the data "
                          f"(at most {int(table.max())} visits of a cell and action), so SPIBB would only copy "
                          f"the behaviour policy. Fix: lower spibb_n_wedge, or use fewer count_bins.", stacklevel=2)
    return {**aux, "table": jnp.asarray(table)}


def spibb_policy(config, state, observations, q_values):
    """pi_SPIBB(.|s) (B, A) from pi_b, the counts and q_values (B, A)."""
    pi_b = jax.nn.softmax(dqn.behaviour_logits(state, observations), -1)
    bootstrapped = state.aux["table"][cells(config, state.aux, observations)] < config.spibb_n_wedge
    free = jnp.clip(1.0 - jnp.sum(jnp.where(bootstrapped, pi_b, 0.0), -1), 0.0, 1.0)
    free = jnp.where(jnp.all(bootstrapped, -1), 0.0, free)
    best = jnp.argmax(jnp.where(bootstrapped, -jnp.inf, q_values), -1)
    return jnp.where(bootstrapped, pi_b, 0.0) + free[:, None] * jax.nn.one_hot(best, q_values.shape[-1])


def next_value(config, state, batch, online, target, head):
    del online
    next_target = target()
    pi = spibb_policy(config, state, batch["next_observations"], head.values(config, next_target))
    return jnp.einsum("ba,bak->bk", pi, next_target)


def act(config, state, observations, rng, deterministic: bool = True):
    pi = spibb_policy(config, state, observations, dqn.q_scores(config, state, observations, dqn.SCALAR))
    if deterministic:
        return jnp.argmax(pi, -1).astype(jnp.int32)
    return jax.random.categorical(rng, jnp.log(pi)).astype(jnp.int32)


init = dqn.make_init(behaviour=True)
update = dqn.make_update(next_value=next_value)
PHASES = (Phase("behaviour", dqn.fit_behaviour, steps="behaviour_steps", evaluate=False),
          Phase("train", update))
