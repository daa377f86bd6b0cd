"""SAC-N (An et al. 2021) with CORL's locomotion settings.

The paper tunes N per dataset; DATASET_PRESETS holds CORL's values (hopper needs hundreds of
critics, halfcheetah 10): --config=configs/sac_n.py:hopper-medium.
"""
from configs.base import apply_preset, get_base_config

DATASET_PRESETS = {
    "hopper-medium": {"num_critics": 500},
    "hopper-medium-replay": {"num_critics": 200},
    "hopper-medium-expert": {"num_critics": 200},
    "halfcheetah-medium": {"num_critics": 10},
    "halfcheetah-medium-replay": {"num_critics": 10},
    "halfcheetah-medium-expert": {"num_critics": 10},
}


def get_config(preset=None):
    c = get_base_config()
    c.algo = "sac_n"
    c.hidden_dims = (256, 256, 256)  # three hidden layers for actor and critics
    c.num_critics = 10         # N; the paper uses 10-500 per dataset (DATASET_PRESETS)
    c.alpha_lr = 3e-4          # learning rate of log alpha (entropy temperature, target -action_dim)
    c.backup_entropy = True    # subtract alpha * log pi(a'|s') in the critic target (SAC)
    c.observation_transform = "none"  # CORL's SAC-N and EDAC train on raw observations
    return apply_preset(c, preset, DATASET_PRESETS)
