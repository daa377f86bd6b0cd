"""FQE over discrete actions: fqe.py with a Q(s, .) head, read at the data's and pi's actions.

pi's actions (config.target_actions) are then integer action indices, shape (N, K).
"""
import jax.numpy as jnp

from algos import fqe
from algos.common import Phase, network_inputs
from networks import DiscreteQNetwork

ACTIONS = "discrete"
SAMPLER, prepare, act = fqe.SAMPLER, fqe.prepare, fqe.act


def make_critic(config, spec):
    obs, _, torso = network_inputs(config, spec)
    return DiscreteQNetwork(spec.action_dim, tuple(config.hidden_dims), layer_norm=config.critic_layer_norm,
                            torso=torso), (obs,)


def q_values(critic, params, observations, actions):
    q = critic.apply_fn({"params": params}, observations)
    return jnp.take_along_axis(q, actions.astype(jnp.int32)[..., None], axis=-1)[..., 0]


init = fqe.make_init(make_critic)
update = fqe.make_update(q_values)
PHASES = (Phase("evaluate", update, evaluate=False),)
