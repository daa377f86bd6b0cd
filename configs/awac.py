"""AWAC (Nair et al. 2020) with CORL's D4RL settings (the authors ran no D4RL tasks).

DATASET_PRESETS: CORL's configs/offline/awac (corl-team/CORL at eeeeef2): lambda 1/3 on every
locomotion task (the defaults), AntMaze lambda 0.1, rewards - 1 and 100 episodes.

One difference from CORL: the policy is IQL's Gaussian (networks/policies.py), whose mean is
squashed by tanh and whose state-independent log-std is clipped to [-5, 2]; CORL's mean is
unbounded and its log-std clipped to [-20, 2].
"""
from configs.base import (ANTMAZE_TASKS, LIKELIHOOD_HEAD_CHECK, LOCOMOTION_TASKS, add_policy_head_fields, apply_preset,
                          get_base_config, reward_affine, task_table)

DATASET_PRESETS = {**task_table(LOCOMOTION_TASKS, {}), **task_table(
    ANTMAZE_TASKS, {"awac_lambda": 0.1, **reward_affine(1.0, -1.0), "eval_episodes": 100})}


CHECKS = {**LIKELIHOOD_HEAD_CHECK}


def get_config(preset=None):
    c = add_policy_head_fields(get_base_config())  # gaussian (the paper's) | mixture
    c.algo = "awac"
    c.init = "pytorch"              # CORL's awac.py: torch.nn.Linear's default (networks/inits.py)
    c.hidden_dims = (256, 256, 256)  # CORL's AWAC: three hidden layers for actor and critics
    c.awac_lambda = 1 / 3      # lambda: temperature of exp(A / lambda); CORL's 0.3333 on every locomotion set
    return apply_preset(c, preset, DATASET_PRESETS)
