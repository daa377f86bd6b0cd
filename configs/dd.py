"""Decision Diffuser (Ajay et al. 2023) with the authors' locomotion settings.

Read from anuragajay/decision-diffuser, code/config/locomotion_config.py and
code/diffuser/models/diffusion.py (GaussianInvDynDiffusion): a temporal U-Net 128 wide with
dim_mults (1, 4, 8) over 100-step state trajectories, 200 diffusion steps on the cosine schedule,
predicting the noise, x_0 clipped to [-1, 1], states through the CDF normaliser; returns
conditioning (discount 0.99, termination penalty -100, divided by 400) dropped with probability
0.25, guidance weight 1.2, target return 0.9; an inverse-dynamics MLP 256 wide; Adam 2e-4, batch
32 with 2 accumulated = 64 per update, 1M updates, EMA 0.995 every 10 updates from update 2000;
sampling from N(0, 0.5^2) with the posterior noise scaled 0.5. The authors' inverse dynamics
predict CDF-normalised actions; here the env's [-1, 1] actions through a tanh.
"""
from configs.base import apply_preset, get_base_config

# The built-in Pendulum data: a small U-Net and fewer steps a CPU trains and plans in seconds;
# its returns (discount 0.99, rewards about -1 to -16 per step) scaled to about [-1, 0].
VARIANTS = {"pendulum": {"planning_horizon": 8, "unet_dim": 16, "unet_dim_mults": (1, 2), "diffusion_steps": 20,
                         "inverse_hidden": 64, "ema_start": 500, "returns_scale": 1000.0, "target_return": 0.0}}

CHECKS = {
    "planning_horizon": (lambda v: isinstance(v, int) and v >= 2, "an integer >= 2 (a multiple of 2^(levels - 1))"),
    "unet_dim": (lambda v: isinstance(v, int) and v >= 1, "a positive integer"),
    "unet_dim_mults": (lambda v: len(v) >= 1 and all(isinstance(m, int) and m >= 1 for m in v),
                       "positive integers, one per U-Net level, e.g. '(1,4,8)'"),
    "diffusion_steps": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "diffusion_sample_steps": (lambda v: isinstance(v, int) and v >= 0, "0 (all) or fewer steps than diffusion_steps"),
    "beta_schedule": (lambda v: v in ("vp", "cosine", "linear"), "vp, cosine or linear"),
    "condition_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "returns_scale": (lambda v: v > 0, "a positive float"),
    "temperature": (lambda v: v >= 0, "a float >= 0"),
    "ema_decay": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "ema_every": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
}


def get_config(preset=None):
    c = get_base_config()
    c.algo = "dd"
    c.init = "pytorch"              # torch's Conv1d/Linear defaults, the authors' networks
    c.observation_transform = "none"  # states go through the CDF normaliser instead
    c.batch_size = 64               # trajectories per update (32 x 2 accumulated)
    c.actor_lr = 2e-4               # Adam, U-Net and inverse dynamics together
    c.discount = 0.99               # the conditioning return's
    c.termination_penalty = -100.0  # added to a terminal step's reward in that return
    c.returns_scale = 400.0         # the return is divided by this
    c.planning_horizon = 100        # H: states per trajectory
    c.unet_dim = 128                # the U-Net's base width
    c.unet_dim_mults = (1, 4, 8)    # width multipliers per level
    c.diffusion_steps = 200         # T
    c.diffusion_sample_steps = 0    # steps when planning (respaced; 0: all T)
    c.beta_schedule = "cosine"
    c.condition_dropout = 0.25      # training: the return embedding dropped this often
    c.guidance_weight = 1.2         # w of eps_u + w (eps_c - eps_u)
    c.target_return = 0.9           # the condition when acting (scaled return)
    c.temperature = 0.5             # the sampler's starting and per-step noise scale
    c.inverse_hidden = 256          # the inverse-dynamics MLP's width
    c.ema_decay = 0.995
    c.ema_every = 10
    c.ema_start = 2000
    return apply_preset(c, preset, None, VARIANTS)
