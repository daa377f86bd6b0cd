"""Behaviour cloning over discrete actions: a classifier pi(a|s) by cross-entropy on the data's
actions, acting with its most likely action (sampling from it when not deterministic). %BC: the
driver keeps the top `bc_top_fraction` of episodes, as for algos/bc.py. The behaviour classifier
here is the one discrete BCQ, KL-control and SPIBB fit (algos/dqn.fit_behaviour)."""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos import dqn
from algos.common import Spec, create_train_state, make_optimizer

ACTIONS = "discrete"


class BCState(struct.PyTreeNode):
    behaviour: TrainState
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> BCState:
    module, obs = dqn.make_network(config, spec, 0, config.behaviour_hidden_dims)
    classifier = create_train_state(module, rng, (obs,), make_optimizer(config.behaviour_lr, eps=config.adam_eps))
    return BCState(behaviour=classifier, step=jnp.zeros((), jnp.int32))


def update(config, state: BCState, batch, rng):
    state, metrics = dqn.fit_behaviour(config, state, batch, rng)
    return state.replace(step=state.step + 1), metrics


def act(config, state: BCState, observations, rng, deterministic: bool = True):
    del config
    logits = dqn.behaviour_logits(state, observations)
    if deterministic:
        return jnp.argmax(logits, -1).astype(jnp.int32)
    return jax.random.categorical(rng, logits).astype(jnp.int32)


def log_prob(config, state: BCState, observations, actions):
    del config
    logp = jax.nn.log_softmax(dqn.behaviour_logits(state, observations), -1)
    return jnp.take_along_axis(logp, actions.astype(jnp.int32)[..., None], -1)[..., 0]
