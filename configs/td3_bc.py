"""TD3+BC (Fujimoto & Gu 2021) with the paper's hyperparameters.

The paper uses alpha = 2.5 on every task (sfujim/TD3_BC at 8791ad7, run_experiments.sh), so
its locomotion tunings are the defaults; AntMaze, which the paper does not run, follows CORL
(configs/offline/td3_bc/antmaze, corl-team/CORL at eeeeef2: rewards - 1, 100 episodes).
"""
from configs.base import ANTMAZE_TASKS, LOCOMOTION_TASKS, apply_preset, get_base_config, reward_affine, task_table

DATASET_PRESETS = {**task_table(LOCOMOTION_TASKS, {}),
                   **task_table(ANTMAZE_TASKS, {**reward_affine(1.0, -1.0), "eval_episodes": 100})}


def get_config(preset=None):
    c = get_base_config()
    c.algo = "td3_bc"
    c.init = "pytorch"              # TD3+BC's code: torch.nn.Linear's default (networks/inits.py)
    c.alpha = 2.5            # BC trade-off: lambda = alpha / mean|Q|
    c.policy_noise = 0.2     # std of target-policy smoothing noise
    c.noise_clip = 0.5       # clip of that noise
    c.policy_delay = 2       # critic updates per actor/target update
    c.critic_layer_norm = False  # LayerNorm in the critics (ReBRAC turns it on)
    return apply_preset(c, preset, DATASET_PRESETS)
