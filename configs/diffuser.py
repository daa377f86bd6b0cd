"""Diffuser (Janner et al. 2022) with the authors' locomotion settings.

Read from jannerm/diffuser, config/locomotion.py: a temporal U-Net 32 wide with dim_mults
(1, 2, 4, 8) over 32-step trajectories, 20 diffusion steps on the cosine schedule, predicting
x_0 (not the noise), unclipped; the first action's loss weighted 10; Adam 2e-4, batch 32 with 2
accumulated = 64 per update, 1M updates, EMA 0.995 every 10 updates from update 2000. The value
guide: the same widths, the discounted return (discount 0.997 as the planner loads it,
termination penalty -100), Adam 2e-4 (the authors train it 200k updates on its own; stitch
trains it beside the diffusion model). Planning: 64 samples per state, 2 guide steps of scale 0.1
scaled by the posterior variance, none below step 2. Per task (DATASET_PRESETS, `:auto`):
halfcheetah horizon 4 with dim_mults (1, 4, 8), guide scale 0.001 and stop 4 (its attention
layers are not built here); hopper-medium-expert scale 1e-4 and stop 4. States are z-scored
(the authors' GaussianNormalizer); actions stay in the env's [-1, 1] (the authors z-score them too).
"""
from configs.base import LOCOMOTION_TASKS, apply_preset, get_base_config, task_table

HALFCHEETAH = {"planning_horizon": 4, "unet_dim_mults": (1, 4, 8), "guide_scale": 1e-3, "guide_t_stop": 4}
DATASET_PRESETS = task_table(LOCOMOTION_TASKS, {},
                             **{f"halfcheetah_{k}": HALFCHEETAH for k in ("medium", "medium_replay", "medium_expert")},
                             hopper_medium_expert={"guide_scale": 1e-4, "guide_t_stop": 4})

# The built-in Pendulum data: a small U-Net and planner a CPU runs in seconds (not the paper's).
VARIANTS = {"pendulum": {"planning_horizon": 8, "unet_dim": 16, "unet_dim_mults": (1, 2), "diffusion_steps": 10,
                         "plan_samples": 16, "ema_start": 500}}

CHECKS = {
    "planning_horizon": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (a multiple of 2^(levels - 1))"),
    "unet_dim": (lambda v: isinstance(v, int) and v >= 1, "a positive integer"),
    "unet_dim_mults": (lambda v: len(v) >= 1 and all(isinstance(m, int) and m >= 1 for m in v),
                       "positive integers, one per U-Net level, e.g. '(1,2,4,8)'"),
    "diffusion_steps": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "diffusion_sample_steps": (lambda v: isinstance(v, int) and v >= 0, "0 (all) or fewer steps than diffusion_steps"),
    "beta_schedule": (lambda v: v in ("vp", "cosine", "linear"), "vp, cosine or linear"),
    "plan_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (plans sampled per state)"),
    "guide_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: unguided)"),
    "ema_decay": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "ema_every": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
}


def get_config(preset=None):
    c = get_base_config()
    c.algo = "diffuser"
    c.init = "pytorch"              # torch's Conv1d/Linear defaults, the authors' networks
    c.batch_size = 64               # trajectories per update (32 x 2 accumulated)
    c.actor_lr = 2e-4               # the diffusion model's Adam rate
    c.critic_lr = 2e-4              # the guide's
    c.discount = 0.997              # the guide's return
    c.termination_penalty = -100.0  # added to a terminal step's reward in the guide's return
    c.planning_horizon = 32         # H: steps per trajectory
    c.unet_dim = 32                 # the U-Net's base width
    c.unet_dim_mults = (1, 2, 4, 8)  # width multipliers per level (the horizon halves between levels)
    c.diffusion_steps = 20          # T
    c.diffusion_sample_steps = 0    # steps when planning (respaced; 0: all T)
    c.beta_schedule = "cosine"
    c.predict_epsilon = False       # the network predicts x_0
    c.clip_denoised = False         # clip the predicted x_0 to [-1, 1]
    c.action_weight = 10.0          # loss weight of the first action
    c.ema_decay = 0.995
    c.ema_every = 10
    c.ema_start = 2000              # the EMA copies the model until this update
    c.plan_samples = 64             # plans sampled per state
    c.guide_steps = 2               # gradient steps up the guide per denoising step
    c.guide_scale = 0.1
    c.guide_t_stop = 2              # no guidance at steps below this
    return apply_preset(c, preset, DATASET_PRESETS, VARIANTS)
