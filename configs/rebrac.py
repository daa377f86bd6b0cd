"""ReBRAC (Tarasov et al. 2023): TD3+BC's config plus the paper's changes.

The paper tunes the two penalties per task (actor_bc_coef, critic_bc_coef). DATASET_PRESETS
holds the authors' values for every D4RL locomotion and AntMaze task (tinkoff-ai/ReBRAC
configs/rebrac/<env>/<env>_<dataset>.yaml at 694385b; CORL's configs/offline/rebrac are the
same values), with AntMaze's other changes: --config=configs/rebrac.py:auto picks the one for
the run's dataset id, --config=configs/rebrac.py:hopper-medium-replay names one.
"""
from configs import td3_bc
from configs.base import ANTMAZE_TASKS, LOCOMOTION_TASKS, apply_preset, reward_affine

BETAS = {  # task: (actor_bc_coef, critic_bc_coef)
    "halfcheetah-random": (0.001, 0.1), "halfcheetah-medium": (0.001, 0.01),
    "halfcheetah-medium-replay": (0.01, 0.001), "halfcheetah-medium-expert": (0.01, 0.1),
    "halfcheetah-expert": (0.01, 0.01),
    "hopper-random": (0.001, 0.01), "hopper-medium": (0.01, 0.01),
    "hopper-medium-replay": (0.05, 0.5), "hopper-medium-expert": (0.1, 0.01),
    "hopper-expert": (0.1, 0.1),
    "walker2d-random": (0.01, 0.0), "walker2d-medium": (0.05, 0.1),
    "walker2d-medium-replay": (0.05, 0.01), "walker2d-medium-expert": (0.01, 0.01),
    "walker2d-expert": (0.01, 0.5),
    "antmaze-umaze": (0.003, 0.002), "antmaze-umaze-diverse": (0.003, 0.001),
    "antmaze-medium-play": (0.001, 0.0005), "antmaze-medium-diverse": (0.001, 0.0),
    "antmaze-large-play": (0.002, 0.001), "antmaze-large-diverse": (0.002, 0.002),
}
ANTMAZE = {  # every AntMaze yaml's differences from the locomotion ones
    "actor_lr": 3e-4, "critic_lr": 5e-5, "batch_size": 256, "discount": 0.999,
    **reward_affine(100.0, 0.0),  # normalize_reward: r * 100 ("like in LAPO"), no -1 shift
    "eval_episodes": 100, "eval_interval": 50_000,
}
DATASET_PRESETS = {
    task: {"actor_bc_coef": BETAS[task][0], "critic_bc_coef": BETAS[task][1],
           **(ANTMAZE if task in ANTMAZE_TASKS else {})}
    for task in LOCOMOTION_TASKS + ANTMAZE_TASKS
}


def get_config(preset=None):
    c = td3_bc.get_config()
    c.algo = "rebrac"
    c.init = "edac"                 # the authors' networks.py: "initialization as in the EDAC paper"
    # With raw observations of a large scale (halfcheetah's velocities) it can stall the actor at
    # the action bounds from its first updates (metric actor_saturated near 1; BENCHMARKS.md,
    # issue 13's ReBRAC check): then use observation_transform=zscore (and/or init=pytorch).
    del c.alpha                      # TD3+BC's lambda = alpha / mean|Q| is replaced by the two betas
    c.hidden_dims = (256, 256, 256)  # deeper networks
    c.batch_size = 1024              # larger batch
    c.actor_lr = 1e-3
    c.critic_lr = 1e-3
    c.critic_layer_norm = True       # LayerNorm after every hidden ReLU of the critics
    c.observation_transform = "none"  # the authors' code trains on raw observations
    c.actor_bc_coef = 0.01           # beta_actor: weight of ||pi(s) - a||^2 in the actor loss
    c.critic_bc_coef = 0.01          # beta_critic: weight of ||a' - a_next||^2 in the target
    c.normalize_q = True             # divide the actor's Q term by mean|Q| (TD3+BC's lambda)
    return apply_preset(c, preset, DATASET_PRESETS)
