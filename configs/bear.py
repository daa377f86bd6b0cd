"""BEAR (Kumar et al. 2019) with the authors' settings.

From aviralkumar2907/BEAR (algos.py, main.py and the README's commands, at a57faff): 400-300
actor and critics, 2 critics, the VAE of BCQ (750-750, latent 2 x action_dim), Adam at 1e-3 for
every network and for log alpha, batch 100, 10 target samples with lambda 0.75, 5 samples for
the MMD, epsilon 0.05, log alpha clipped at 10, the minimum over critics ("version 0"), no
ensemble-variance term (the README: it can give NaNs), raw observations, PyTorch's layer init.
The warm-up is 20 epochs of the README's eval_freq=1000 updates (20k updates).
Kernels per task (DATASET_PRESETS): the README's Hopper command (laplacian, sigma 10) for
hopper and halfcheetah (the README lists it among the settings that "generally work well"),
its Walker2d command (gaussian, sigma 20) for walker2d.
"""
from configs.base import (LOCOMOTION_TASKS, VAE_CHECKS, add_vae_fields, apply_preset, get_base_config,
                          task_table)

WALKER = {"bear_kernel": "gaussian", "bear_sigma": 20.0}
DATASET_PRESETS = task_table(LOCOMOTION_TASKS, {}, **{
    t.replace("-", "_"): WALKER for t in LOCOMOTION_TASKS if t.startswith("walker2d")})
VARIANTS = {"pendulum": {"vae_hidden_dims": (64, 64), "bear_warmup_steps": 2_000}}

CHECKS = {
    "bear_kernel": (lambda v: v in ("laplacian", "gaussian"), "laplacian or gaussian"),
    "bear_sigma": (lambda v: v > 0, "a positive float (the kernel's bandwidth)"),
    "bear_n_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "bear_n_actions": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "bear_act_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "bear_epsilon": (lambda v: v >= 0, "a float >= 0 (the MMD threshold)"),
    "bear_alpha": (lambda v: v >= 0, "a float >= 0"),
    "bear_alpha_lr": (lambda v: v > 0, "a positive float"),
    "bear_log_alpha_max": (lambda v: v > -5, "a float above -5 (log alpha's floor)"),
    "bear_warmup_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
    "bear_lambda": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "bear_q_reduce": (lambda v: v in ("min", "mean"), "min or mean (over the critics, for the actor)"),
    "bear_lagrange": (lambda v: isinstance(v, bool), "True or False"),
    **VAE_CHECKS,
}


def get_config(preset=None):
    c = add_vae_fields(get_base_config())
    c.algo = "bear"
    c.init = "pytorch"              # the authors' torch.nn.Linear default (networks/inits.py)
    c.observation_transform = "none"  # the authors' code feeds raw observations
    c.hidden_dims = (400, 300)      # actor and critics
    c.batch_size = 100
    c.actor_lr = 1e-3
    c.critic_lr = 1e-3
    c.num_critics = 2
    c.bear_kernel = "laplacian"     # MMD kernel: laplacian | gaussian
    c.bear_sigma = 10.0             # its bandwidth
    c.bear_n_samples = 5            # policy and VAE samples per state in the MMD
    c.bear_n_actions = 10           # policy samples per next state in the target
    c.bear_act_samples = 10         # policy samples per state when acting
    c.bear_epsilon = 0.05           # MMD threshold of the constraint
    c.bear_lagrange = True          # dual-learned alpha ("auto"); False: the fixed bear_alpha
    c.bear_alpha = 100.0            # the fixed weight (the authors' "hardcoded" mode)
    c.bear_alpha_lr = 1e-3          # Adam rate of log alpha
    c.bear_log_alpha_max = 10.0     # log alpha's ceiling (the authors' lagrange_thresh)
    c.bear_warmup_steps = 20_000    # updates of MMD-only actor training first
    c.bear_lambda = 0.75            # weight of the minimum in the soft clipped double-Q target
    c.bear_q_reduce = "min"         # the actor's value over critics: min ("version 0") | mean ("2")
    return apply_preset(c, preset, DATASET_PRESETS, VARIANTS)
