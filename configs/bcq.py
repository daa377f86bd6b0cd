"""BCQ, continuous (Fujimoto, Meger & Precup 2019) with the authors' settings.

From sfujim/BCQ (continuous_BCQ/BCQ.py and main.py at c43a5b1): 400-300 perturbation and
critic networks, a 750-750 VAE with latent dimension 2 x action_dim, Adam at 1e-3 for all
three, batch 100, lambda 0.75, phi 0.05, 10 sampled actions in the target and 100 when acting
(the paper says 10 for both), PyTorch's default layer init, raw observations. The paper tunes
nothing per task, so there is no per-task table. Its 300k-update runs were on its own buffers;
D4RL's BCQ baseline ran 1M, the default here.
"""
from configs.base import VAE_CHECKS, add_vae_fields, apply_preset, get_base_config

VARIANTS = {"pendulum": {"vae_hidden_dims": (64, 64)}}  # the built-in data's small networks, VAE included

CHECKS = {
    "bcq_lambda": (lambda v: 0.0 <= v <= 1.0, "in [0, 1] (1: clipped double Q, the minimum)"),
    "bcq_phi": (lambda v: v >= 0, "a float >= 0 (0: the VAE's own samples, no perturbation)"),
    "bcq_n_actions": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "bcq_act_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    **VAE_CHECKS,
}


def get_config(preset=None):
    c = add_vae_fields(get_base_config())
    c.algo = "bcq"
    c.init = "pytorch"              # the authors' torch.nn.Linear default (networks/inits.py)
    c.observation_transform = "none"  # the authors' code feeds raw observations
    c.hidden_dims = (400, 300)      # perturbation model and both critics
    c.batch_size = 100
    c.actor_lr = 1e-3
    c.critic_lr = 1e-3
    c.bcq_lambda = 0.75             # weight of the minimum in the soft clipped double-Q target
    c.bcq_phi = 0.05                # largest perturbation per action dimension (actions in [-1, 1])
    c.bcq_n_actions = 10            # VAE samples per next state in the target
    c.bcq_act_samples = 100         # VAE samples per state when acting (the authors' select_action)
    return apply_preset(c, preset, variants=VARIANTS)
