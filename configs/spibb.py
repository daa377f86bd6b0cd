"""SPIBB-DQN (algos/spibb.py): configs/dqn.py's settings, a behaviour classifier fitted for 20k
updates first, N_wedge and the pseudo-count grid."""
from configs import dqn, kl_control

CHECKS = {**{k: v for k, v in kl_control.CHECKS.items() if k != "kl_coef"},
          "spibb_n_wedge": (lambda v: v >= 0, "a number >= 0 (0: Q-learning)"),
          "count_bins": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (bins per observation dimension)"),
          "count_table_size": (lambda v: isinstance(v, int) and 1 <= v <= 2 ** 24, "an integer in [1, 2^24]")}


def get_config(preset=None):
    c = kl_control.behaviour_prior(dqn.family_config("spibb"))
    c.spibb_n_wedge = 10.0            # N_wedge: actions seen fewer times at a state follow pi_b
    c.count_bins = 10                 # pseudo-count grid: bins per observation dimension
    c.count_table_size = 65_536       # slots of the count table (cells are hashed beyond it)
    return dqn.with_presets(c, preset)
