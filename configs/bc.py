"""Behaviour cloning (deterministic MSE, as CORL's BC baseline). %BC: --config.bc_top_fraction=0.1."""
from configs.base import LIKELIHOOD_HEAD_CHECK, add_policy_head_fields, apply_preset, get_base_config

# BC's own head check (base.py's: deterministic too); the diffusion head's fields as elsewhere
CHECKS = {k: v for k, v in LIKELIHOOD_HEAD_CHECK.items() if k != "policy_head"}


def get_config(preset=None):
    # deterministic (MSE, CORL's BC) | gaussian | mixture | latent | diffusion (fitted by likelihood)
    c = add_policy_head_fields(get_base_config(), head="deterministic")
    c.algo = "bc"
    c.init = "pytorch"              # the reference code's torch.nn.Linear default (networks/inits.py)
    return apply_preset(c, preset)
