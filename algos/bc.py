"""Behaviour cloning (and %BC).

Pomerleau 1991; the deterministic MSE form used as the baseline in TD3+BC (Fujimoto & Gu,
2021) and CORL. The policy regresses the dataset action: loss = ||pi(s) - a||^2. %BC
(Chen et al. 2021, "Decision Transformer") is the same loss on the top `config.bc_top_fraction`
of episodes by return; the driver does that filtering in `data/` before training.

Variants change `actor_loss` (e.g. a Gaussian log-likelihood) and nothing else.
"""
import functools

import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, create_train_state, make_optimizer, network_inputs
from networks import DeterministicPolicy

ACTIONS = "continuous"


class BCState(struct.PyTreeNode):
    actor: TrainState
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> BCState:
    obs, _, torso = network_inputs(config, spec)
    actor = DeterministicPolicy(spec.action_dim, tuple(config.hidden_dims), torso=torso)
    actor_state = create_train_state(actor, rng, (obs,), make_optimizer(config.actor_lr))
    return BCState(actor=actor_state, step=jnp.zeros((), jnp.int32))


def actor_loss(params, actor: TrainState, batch):
    pred = actor.apply_fn({"params": params}, batch["observations"])
    return jnp.mean(jnp.square(pred - batch["actions"]))


def update(config, state: BCState, batch, rng):
    del config, rng
    loss, grads = jax.value_and_grad(actor_loss)(state.actor.params, state.actor, batch)
    actor = state.actor.apply_gradients(grads=grads)
    return state.replace(actor=actor, step=state.step + 1), {"actor_loss": loss}


def act(config, state: BCState, observations, rng, deterministic: bool = True):
    del config, rng, deterministic
    return state.actor.apply_fn({"params": state.actor.params}, observations)
