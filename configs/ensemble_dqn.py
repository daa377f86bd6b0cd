"""Ensemble-DQN (algos/ensemble_dqn.py): configs/dqn.py with batch_rl's 200 heads."""
from configs import dqn
from configs.dqn import CHECKS  # noqa: F401  (the family's field checks)


def get_config(preset=None):
    c = dqn.family_config("ensemble_dqn")
    c.num_heads = 200
    return dqn.with_presets(c, preset)
