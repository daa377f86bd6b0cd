"""Discrete BCQ (Fujimoto, Conti, Ghavamzadeh & Pineau 2019, "Benchmarking batch deep RL"):
Double DQN whose argmax, in the backup and when acting, is over the actions a behaviour
classifier G(a|s) finds likely enough relative to its best action:
  A_tau(s) = {a : G(a|s) / max_a' G(a'|s) >= tau},   a* = argmax_{a in A_tau(s')} Q(s', a),
  y = r + gamma (1 - terminal) Q'(s', a*).
G is trained beside Q by cross-entropy (plus 1e-2 x its logits squared, as the authors' code).
tau = 0 admits every action (Double DQN); tau = 1 admits only G's argmax (behaviour cloning). The
paper writes "> tau"; ">=" is used so that tau = 1 means BC rather than an empty set.
The changes are `next_value` (the admissible argmax) and acting with it.
"""
import jax.numpy as jnp

from algos import dqn

ACTIONS = "discrete"


def admissible(config, state, observations):
    """(B, A) mask of A_tau(s)."""
    logits = dqn.behaviour_logits(state, observations)
    log_ratio = logits - logits.max(-1, keepdims=True)  # log G(a|s) / max G
    return log_ratio >= jnp.log(config.bcq_threshold)


def restricted_argmax(q_values, mask):
    return jnp.argmax(jnp.where(mask, q_values, -jnp.inf), axis=-1)


def next_value(config, state, batch, online, target, head):
    mask = admissible(config, state, batch["next_observations"])
    return dqn.at_actions(target(), restricted_argmax(head.values(config, online()), mask))


def scores(config, state, observations, head):
    return jnp.where(admissible(config, state, observations), dqn.q_scores(config, state, observations, head), -jnp.inf)


init = dqn.make_init(behaviour=True)
update = dqn.make_update(next_value=next_value, joint_behaviour=True)
act = dqn.make_act(scores=scores)
