"""REM, Random Ensemble Mixture (Agarwal, Schuurmans & Norouzi 2020): K Q-heads on one trunk,
trained as one Q-function that is a random convex combination of them, drawn afresh per batch:
  alpha_k = u_k / sum_j u_j,  u ~ U(0, 1)^K,   Q_alpha = sum_k alpha_k Q_k,
  loss  huber(Q_alpha(s, a) - r - gamma (1 - terminal) max_a' Q'_alpha(s', a'))
(the same alpha for the online and target heads), acting greedily in the heads' mean. On Atari's
logged replay it beats offline DQN and QR-DQN's ensemble counterparts. The change is `mix`.
"""
import jax

from algos import dqn

ACTIONS = "discrete"


def random_convex_weights(config, rng):
    u = jax.random.uniform(rng, (config.num_heads,))
    return u / u.sum()


init, act = dqn.init, dqn.act
update = dqn.make_update(mix=random_convex_weights)
