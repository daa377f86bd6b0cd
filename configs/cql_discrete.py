"""Discrete CQL (algos/cql_discrete.py): configs/dqn.py's settings, alpha 1 (d3rlpy's DiscreteCQL
and the paper's Atari runs on the larger datasets), over Double DQN by default."""
from configs import dqn, qr_dqn

CHECKS = {**qr_dqn.CHECKS,
          "base": (lambda v: v in ("dqn", "ddqn", "qr_dqn"), "dqn, ddqn or qr_dqn (the Q-learner under the penalty)")}


def get_config(preset=None):
    c = dqn.family_config("cql_discrete")
    c.base = "ddqn"                   # dqn | ddqn (d3rlpy's) | qr_dqn (the paper's Atari learner)
    c.cql_alpha = 1.0                 # weight of the conservative term
    c.num_quantiles = 200             # with base=qr_dqn (configs/qr_dqn.py)
    c.kappa = 1.0
    return dqn.with_presets(c, preset)
