"""Discrete CQL (Kumar et al. 2020, section 5 and its Atari experiments): a Q-learner plus the
conservative term on the data's states,
  cql_alpha * E_s~D [ log sum_a exp Q(s, a) - Q(s, a_data) ],
which pushes down every action's Q softly and the logged action's back up. The learner under it
is `config.base`: dqn, ddqn (d3rlpy's DiscreteCQL) or qr_dqn (the paper's Atari runs; Q is the
quantiles' mean). The change is `penalty`.
"""
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from algos import ddqn, dqn, qr_dqn

ACTIONS = "discrete"


def conservative_penalty(config, q_values, batch):
    data_q = jnp.take_along_axis(q_values, batch["actions"][:, None].astype(jnp.int32), -1)[:, 0]
    gap = jnp.mean(logsumexp(q_values, axis=-1) - data_q)
    return config.cql_alpha * gap, {"cql_gap": gap}


HEADS = {"dqn": dqn.SCALAR, "ddqn": dqn.SCALAR, "qr_dqn": qr_dqn.QUANTILE}
NEXT_VALUES = {"dqn": dqn.greedy_value, "ddqn": ddqn.next_value, "qr_dqn": dqn.greedy_value}
INITS = {base: dqn.make_init(head) for base, head in HEADS.items()}
UPDATES = {base: dqn.make_update(HEADS[base], NEXT_VALUES[base], penalty=conservative_penalty) for base in HEADS}
ACTS = {base: dqn.make_act(head) for base, head in HEADS.items()}


def init(config, spec, rng):
    return INITS[config.base](config, spec, rng)


def update(config, state, batch, rng):
    return UPDATES[config.base](config, state, batch, rng)


def act(config, state, observations, rng, deterministic: bool = True):
    return ACTS[config.base](config, state, observations, rng, deterministic)
