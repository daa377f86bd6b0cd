"""Double DQN (algos/ddqn.py): configs/dqn.py's settings."""
from configs import dqn
from configs.dqn import CHECKS  # noqa: F401  (the family's field checks)


def get_config(preset=None):
    c = dqn.family_config("ddqn")
    return dqn.with_presets(c, preset)
