"""Pieces every algorithm shares: the dataset spec, optimizers, target updates, errors."""
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState


class StitchError(Exception):
    """A user-facing error: the message names the problem and the fix (no traceback shown)."""


class Spec(NamedTuple):
    """What an algorithm needs to know about the data to build its networks."""

    observation_dim: int
    action_dim: int  # for discrete data: number of actions
    discrete: bool


def make_optimizer(learning_rate: float, num_updates: Optional[int] = None, cosine: bool = False,
                   max_grad_norm: Optional[float] = None):
    """Adam, optionally with cosine decay over `num_updates` (IQL's actor schedule)."""
    lr = optax.cosine_decay_schedule(learning_rate, num_updates) if cosine else learning_rate
    tx = optax.adam(lr)
    if max_grad_norm:
        tx = optax.chain(optax.clip_by_global_norm(max_grad_norm), tx)
    return tx


def create_train_state(module, rng, inputs, tx) -> TrainState:
    params = module.init(rng, *inputs)["params"]
    return TrainState.create(apply_fn=module.apply, params=params, tx=tx)


def polyak_update(params, target_params, tau: float):
    """target <- tau * online + (1 - tau) * target."""
    return jax.tree_util.tree_map(lambda p, t: tau * p + (1.0 - tau) * t, params, target_params)


def select_tree(pred, on_true, on_false):
    """Elementwise `pred ? on_true : on_false` over two pytrees of the same structure.

    Used for delayed updates (TD3's policy delay) inside a scanned, vmapped step, where a
    `lax.cond` would become a select anyway.
    """
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)
