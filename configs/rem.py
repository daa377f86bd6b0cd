"""REM (algos/rem.py): configs/dqn.py with batch_rl's rem.gin (200 heads, STOCHASTIC mixing)."""
from configs import dqn
from configs.dqn import CHECKS  # noqa: F401  (the family's field checks)


def get_config(preset=None):
    c = dqn.family_config("rem")
    c.num_heads = 200
    return dqn.with_presets(c, preset)
