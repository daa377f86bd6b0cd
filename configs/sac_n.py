"""SAC-N (An et al. 2021) with CORL's locomotion settings (the paper tunes N per dataset)."""
from configs.base import apply_preset, get_base_config


def get_config(preset=None):
    c = get_base_config()
    c.algo = "sac_n"
    c.hidden_dims = (256, 256, 256)  # three hidden layers for actor and critics
    c.num_critics = 10         # N; the paper uses 10-500 per dataset (e.g. hopper-medium-replay 20+)
    c.alpha_lr = 3e-4          # learning rate of log alpha (entropy temperature, target -action_dim)
    c.backup_entropy = True    # subtract alpha * log pi(a'|s') in the critic target (SAC)
    c.normalize_observations = False  # CORL's SAC-N and EDAC train on raw observations
    return apply_preset(c, preset)
