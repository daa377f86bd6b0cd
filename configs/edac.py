"""EDAC (An et al. 2021): SAC-N's config plus the diversity weight eta.

DATASET_PRESETS holds CORL's per-dataset N and eta (the paper's own table differs in places:
it tunes eta in 0-5 per dataset): --config=configs/edac.py:halfcheetah-medium-expert.
"""
from configs import sac_n
from configs.base import apply_preset

DATASET_PRESETS = {
    "hopper-medium": {"num_critics": 50, "eta": 1.0},
    "hopper-medium-replay": {"num_critics": 50, "eta": 1.0},
    "hopper-medium-expert": {"num_critics": 50, "eta": 1.0},
    "halfcheetah-medium": {"num_critics": 10, "eta": 1.0},
    "halfcheetah-medium-replay": {"num_critics": 10, "eta": 1.0},
    "halfcheetah-medium-expert": {"num_critics": 10, "eta": 5.0},
}


def get_config(preset=None):
    c = sac_n.get_config()
    c.algo = "edac"
    c.eta = 1.0                # weight of the gradient-diversity term (paper: 0-5 per dataset)
    return apply_preset(c, preset, DATASET_PRESETS)
