"""Behaviour cloning (deterministic MSE, as CORL's BC baseline). %BC: --config.bc_top_fraction=0.1."""
from configs.base import apply_preset, get_base_config


def get_config(preset=None):
    c = get_base_config()
    c.algo = "bc"
    c.init = "pytorch"              # the reference code's torch.nn.Linear default (networks/inits.py)
    c.policy_head = "deterministic"  # deterministic (MSE, CORL's BC) | gaussian | mixture (max likelihood: a density)
    c.num_components = 5            # the mixture head's components
    return apply_preset(c, preset)
