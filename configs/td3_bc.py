"""TD3+BC (Fujimoto & Gu 2021) with the paper's hyperparameters."""
from configs.base import apply_preset, get_base_config


def get_config(preset=None):
    c = get_base_config()
    c.algo = "td3_bc"
    c.alpha = 2.5            # BC trade-off: lambda = alpha / mean|Q|
    c.policy_noise = 0.2     # std of target-policy smoothing noise
    c.noise_clip = 0.5       # clip of that noise
    c.policy_delay = 2       # critic updates per actor/target update
    c.critic_layer_norm = False  # LayerNorm in the critics (ReBRAC turns it on)
    return apply_preset(c, preset)
