"""C51 (algos/c51.py): configs/dqn.py's settings and batch_rl's c51.gin support (51 atoms on
[-10, 10], for clipped Atari rewards). The support must cover the task's discounted returns:
CartPole-v1 (reward 1 per step, gamma 0.99) needs v_max near 100 (the `classic` preset)."""
from configs import dqn

CHECKS = {**dqn.CHECKS,
          "num_atoms": (lambda v: isinstance(v, int) and v >= 2, "an integer >= 2"),
          "v_min": (lambda v: True, "a float below v_max"),
          "v_max": (lambda v: True, "a float above v_min")}


def get_config(preset=None):
    c = dqn.family_config("c51")
    c.num_atoms = 51                  # K atoms of the support
    c.v_min = -10.0                   # the support's ends (set them to the task's return range)
    c.v_max = 10.0
    return dqn.with_presets(c, preset)
