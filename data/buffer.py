"""A replay buffer on the device: a fixed-capacity ring of transitions that jitted code adds to
and samples from (the online learner of algos/online.py; offline-to-online fine-tuning later).

Its batches have the keys of `samplers.transitions` (observations, actions, rewards,
next_observations, terminals), so every algorithm's `update` takes them unchanged. Observations
keep their stored dtype (uint8 / bool images stay small) and are cast to float per batch as
`samplers.float_observations` does for datasets.
"""
import jax
import jax.numpy as jnp
from flax import struct

from data.samplers import float_observations


class ReplayBuffer(struct.PyTreeNode):
    observations: jnp.ndarray
    actions: jnp.ndarray
    rewards: jnp.ndarray
    next_observations: jnp.ndarray
    terminals: jnp.ndarray
    size: jnp.ndarray     # rows filled (at most the capacity)
    index: jnp.ndarray    # the next row to write (wraps around: the oldest rows are overwritten)

    @property
    def capacity(self) -> int:
        return self.rewards.shape[0]


def create(capacity: int, observation_shape, observation_dtype, action_shape=(), action_dtype=jnp.int32):
    zeros = lambda shape, dtype: jnp.zeros((capacity, *shape), dtype)
    return ReplayBuffer(observations=zeros(observation_shape, observation_dtype),
                        actions=zeros(action_shape, action_dtype), rewards=zeros((), jnp.float32),
                        next_observations=zeros(observation_shape, observation_dtype),
                        terminals=zeros((), jnp.float32), size=jnp.zeros((), jnp.int32),
                        index=jnp.zeros((), jnp.int32))


def add(buffer: ReplayBuffer, observations, actions, rewards, next_observations, terminals) -> ReplayBuffer:
    """Append n transitions (leading axis n <= capacity), overwriting the oldest when full."""
    n = rewards.shape[0]
    rows = (buffer.index + jnp.arange(n)) % buffer.capacity
    put = lambda column, values: column.at[rows].set(values.astype(column.dtype))
    return buffer.replace(
        observations=put(buffer.observations, observations), actions=put(buffer.actions, actions),
        rewards=put(buffer.rewards, rewards), next_observations=put(buffer.next_observations, next_observations),
        terminals=put(buffer.terminals, terminals), size=jnp.minimum(buffer.size + n, buffer.capacity),
        index=(buffer.index + n) % buffer.capacity)


def sample(config, buffer: ReplayBuffer, rng, batch_size: int) -> dict:
    """A uniform batch (with replacement) of the filled rows."""
    rows = jax.random.randint(rng, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return {"observations": float_observations(config, buffer.observations[rows]),
            "actions": buffer.actions[rows], "rewards": buffer.rewards[rows],
            "next_observations": float_observations(config, buffer.next_observations[rows]),
            "terminals": buffer.terminals[rows]}
