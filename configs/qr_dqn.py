"""QR-DQN (algos/qr_dqn.py): configs/dqn.py's settings and batch_rl's quantile.gin (200 quantiles)."""
from configs import dqn

CHECKS = {**dqn.CHECKS,
          "num_quantiles": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
          "kappa": (lambda v: v >= 0, "a float >= 0 (the quantile Huber loss's threshold; 0: the quantile loss)")}


def get_config(preset=None):
    c = dqn.family_config("qr_dqn")
    c.num_quantiles = 200             # N (batch_rl's num_atoms)
    c.kappa = 1.0                     # Huber threshold of the quantile loss
    return dqn.with_presets(c, preset)
