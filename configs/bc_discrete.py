"""Discrete behaviour cloning (algos/bc_discrete.py): d3rlpy's DiscreteBC sizes (256x256, Adam 1e-3,
batch 100 there; 256 here as the base), no logit penalty. %BC: --config.bc_top_fraction=0.1."""
from configs import bcq_discrete, dqn

CHECKS = {k: v for k, v in bcq_discrete.CHECKS.items() if k != "bcq_threshold"}


def get_config(preset=None):
    c = bcq_discrete.add_behaviour_classifier(dqn.family_config("bc_discrete"))
    c.batch_size = 256
    c.behaviour_lr = 1e-3
    c.behaviour_logit_penalty = 0.0
    return dqn.with_presets(c, preset)
