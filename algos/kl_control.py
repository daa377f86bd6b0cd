"""KL-control (Jaques et al. 2019, "Way off-policy batch deep RL of implicit human preferences"):
Q-learning of the return minus c x KL(pi || p) to a behaviour prior p fitted to the data, whose
soft backup and policy are
  y = r + gamma (1 - terminal) c log sum_a' p(a'|s') exp(Q'(s', a') / c),
  pi(a|s) proportional to p(a|s) exp(Q(s, a) / c).
This is their Psi-learning written in Q = c (Psi - log p) (same fixed point and policy). As c -> 0
it is Q-learning; as c grows the backup tends to the prior's expectation (SARSA under p) and pi
to p (acting: the argmax of log p + Q / c, or a sample of pi). p is fitted first, in its own
phase (`behaviour_steps`), then kept fixed. The changes are `next_value`, acting and the phase.
"""
import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from algos import dqn
from algos.common import Phase

ACTIONS = "discrete"


def log_prior(state, observations):
    return jax.nn.log_softmax(dqn.behaviour_logits(state, observations), -1)


def next_value(config, state, batch, online, target, head):
    del online, head
    c = config.kl_coef
    soft = c * logsumexp(log_prior(state, batch["next_observations"])[..., None] + target() / c, axis=-2)
    return soft  # (B, K): one column per head


def scores(config, state, observations, head):
    return log_prior(state, observations) + dqn.q_scores(config, state, observations, head) / config.kl_coef


def act(config, state, observations, rng, deterministic: bool = True):
    logits = scores(config, state, observations, dqn.SCALAR)
    if deterministic:
        return jnp.argmax(logits, -1).astype(jnp.int32)
    return jax.random.categorical(rng, logits).astype(jnp.int32)


init = dqn.make_init(behaviour=True)
update = dqn.make_update(next_value=next_value)
PHASES = (Phase("behaviour", dqn.fit_behaviour, steps="behaviour_steps", evaluate=False),
          Phase("train", update))
