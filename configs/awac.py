"""AWAC (Nair et al. 2020) with CORL's D4RL locomotion settings."""
from configs.base import apply_preset, get_base_config


def get_config(preset=None):
    c = get_base_config()
    c.algo = "awac"
    c.awac_lambda = 1.0        # lambda: temperature of the advantage weights exp(A / lambda)
    return apply_preset(c, preset)
