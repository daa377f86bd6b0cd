"""SAC-N (An et al. 2021) with CORL's locomotion settings.

The paper tunes N per task; DATASET_PRESETS holds CORL's values (configs/offline/sac_n/<env>/
<dataset>_v2.yaml, corl-team/CORL at eeeeef2: hopper needs hundreds of critics, halfcheetah
10, walker2d 20, AntMaze 25): --config=configs/sac_n.py:auto picks the run's. CORL has no
configs for the random and expert datasets and the authors' repository (snu-mllab/EDAC) takes
N on the command line without a table, so those tasks have no tuning here and `:auto` warns.
"""
from configs.base import ANTMAZE_TASKS, apply_preset, get_base_config, task_table

DATASET_PRESETS = {
    **task_table(("halfcheetah-medium", "halfcheetah-medium-replay", "halfcheetah-medium-expert"),
                 {"num_critics": 10}),
    "hopper-medium": {"num_critics": 500},
    "hopper-medium-replay": {"num_critics": 200},
    "hopper-medium-expert": {"num_critics": 200},
    **task_table(("walker2d-medium", "walker2d-medium-replay", "walker2d-medium-expert"),
                 {"num_critics": 20}),
    **task_table(ANTMAZE_TASKS, {"num_critics": 25}),  # CORL: raw rewards, 10 episodes
}


def get_config(preset=None):
    c = get_base_config()
    c.algo = "sac_n"
    c.init = "edac"                 # EDAC's code and CORL's sac_n.py: fan-in kernels, bias 0.1, small heads
    c.num_updates = 3_000_000  # the paper's and CORL's budget (3M gradient steps)
    c.hidden_dims = (256, 256, 256)  # three hidden layers for actor and critics
    c.num_critics = 10         # N; the paper uses 10-500 per dataset (DATASET_PRESETS)
    c.alpha_lr = 3e-4          # learning rate of log alpha (entropy temperature, target -action_dim)
    c.backup_entropy = True    # subtract alpha * log pi(a'|s') in the critic target (SAC)
    c.observation_transform = "none"  # CORL's SAC-N and EDAC train on raw observations
    return apply_preset(c, preset, DATASET_PRESETS)
