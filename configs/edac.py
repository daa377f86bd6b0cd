"""EDAC (An et al. 2021): SAC-N's config plus the diversity weight eta.

DATASET_PRESETS holds CORL's per-task N and eta (configs/offline/edac/<env>/<dataset>_v2.yaml,
corl-team/CORL at eeeeef2; the paper tunes eta in 0-5 per task, and its own table is not in its
repository, snu-mllab/EDAC, which takes N and eta on the command line). As for SAC-N, CORL
has no random or expert configs, so those tasks have no tuning and `:auto` warns.
"""
from configs import sac_n
from configs.base import ANTMAZE_TASKS, apply_preset, task_table

DATASET_PRESETS = {
    **task_table(("halfcheetah-medium", "halfcheetah-medium-replay", "walker2d-medium",
                  "walker2d-medium-replay") + ANTMAZE_TASKS, {"num_critics": 10, "eta": 1.0}),
    "halfcheetah-medium-expert": {"num_critics": 10, "eta": 5.0},
    "walker2d-medium-expert": {"num_critics": 10, "eta": 5.0},
    **task_table(("hopper-medium", "hopper-medium-replay", "hopper-medium-expert"),
                 {"num_critics": 50, "eta": 1.0}),
}


def get_config(preset=None):
    c = sac_n.get_config()
    c.algo = "edac"
    c.eta = 1.0                # weight of the gradient-diversity term (paper: 0-5 per dataset)
    return apply_preset(c, preset, DATASET_PRESETS)
