"""AWAC (Nair et al. 2020) with CORL's D4RL locomotion settings.

One difference from CORL: the policy is IQL's Gaussian (networks/policies.py), whose mean is
squashed by tanh and whose state-independent log-std is clipped to [-5, 2]; CORL's mean is
unbounded and its log-std clipped to [-20, 2].
"""
from configs.base import apply_preset, get_base_config


def get_config(preset=None):
    c = get_base_config()
    c.algo = "awac"
    c.hidden_dims = (256, 256, 256)  # CORL's AWAC: three hidden layers for actor and critics
    c.awac_lambda = 1 / 3      # lambda: temperature of exp(A / lambda); CORL's 0.3333 on every locomotion set
    return apply_preset(c, preset)
