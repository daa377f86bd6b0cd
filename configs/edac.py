"""EDAC (An et al. 2021): SAC-N's config plus the diversity weight eta."""
from configs import sac_n
from configs.base import apply_preset


def get_config(preset=None):
    c = sac_n.get_config()
    c.algo = "edac"
    c.eta = 1.0                # weight of the gradient-diversity term (paper: 0-5 per dataset)
    return apply_preset(c, preset)
