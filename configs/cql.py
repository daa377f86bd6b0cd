"""CQL (Kumar et al. 2020) as its authors run it on D4RL MuJoCo; CORL's settings as a preset.

Two named presets, one per reference (the default is "authors"):
  authors  aviralkumar2907/CQL, README command line for MuJoCo: --min_q_weight=5.0
           --policy_lr=1e-4 --lagrange_thresh=-1.0 (fixed weight) --min_q_version=3, with
           examples/cql_mujoco_new.py's defaults (policy_eval_start=40000: the BC warm-up,
           10 sampled actions, temperature 1, 3x256 networks, raw observations)
  corl     CORL's cql.py and configs/offline/cql/*: alpha 10, policy and temperature lr 3e-5,
           z-scored observations, no warm-up, orthogonal init
--config=configs/cql.py:corl ; --config=configs/cql.py:corl,auto for its per-task tuning.
Per task (`:auto`): the authors use one locomotion setting (the README's "5.0 or 10.0" is not
a table; 5 here) and, on AntMaze, the Lagrange form with threshold 5 and rewards (r - 0.5) * 4
(examples/cql_antmaze_new.py and the README command at d67dbe9; evaluation as CORL's). CORL
changes hopper-medium's rewards and, on AntMaze, eight fields (VARIANT_DATASET_PRESETS).
"""
from configs import sac_n
from configs.base import ANTMAZE_TASKS, LOCOMOTION_TASKS, apply_preset, reward_affine, task_table

ANTMAZE_EVAL = {"eval_episodes": 100, "eval_interval": 50_000}
DATASET_PRESETS = {
    **task_table(LOCOMOTION_TASKS, {}),
    # The authors' alpha' * (min_q_weight * gap - thresh) with weight 5 and thresh 5 is
    # stitch's alpha' * cql_alpha * (gap - target) with target 5 / 5 = 1 (algos/cql.py).
    **task_table(ANTMAZE_TASKS, {"cql_lagrange": True, "cql_target_action_gap": 1.0,
                                 **reward_affine(4.0, -2.0), **ANTMAZE_EVAL}),
}
VARIANT_DATASET_PRESETS = {"corl": {
    **task_table(LOCOMOTION_TASKS, {}, hopper_medium={"reward_transform": "iql_locomotion"}),
    # Not taken: CORL's 5-layer first critic (its second keeps 3: a bug) and cql_clip_diff_min.
    **task_table(ANTMAZE_TASKS, {"cql_alpha": 5.0, "cql_lagrange": True, "cql_target_action_gap": 0.8,
                                 "cql_max_backup": True, "actor_lr": 1e-4, "alpha_lr": 1e-4,
                                 "observation_transform": "none",
                                 **reward_affine(10.0, -5.0), **ANTMAZE_EVAL}),
}}

VARIANTS = {
    "authors": {},  # the defaults below
    "corl": {
        "cql_alpha": 10.0,
        "actor_lr": 3e-5,
        "alpha_lr": 3e-5,  # CORL's entropy-temperature optimiser runs at the policy's lr
        "observation_transform": "zscore",
        "bc_steps": 0,
        "init": "orthogonal",  # CORL's orthogonal_init is its critics' only, output gain 1e-2 (README)
    },
    "pendulum": {"bc_steps": 0},  # the built-in job's 20k updates are too few for a 40k warm-up
}


def get_config(preset=None):
    c = sac_n.get_config()
    c.algo = "cql"
    c.init = "edac"                 # the authors' rlkit Mlp: fan-in kernels, bias 0.1, U(+-3e-3) Q / U(+-1e-3) policy heads
    c.num_updates = 1_000_000     # the papers' budget (SAC-N's config trains 3M)
    c.num_critics = 2             # twin critics
    c.actor_lr = 1e-4             # the paper's policy learning rate
    c.alpha_lr = 1e-4             # entropy temperature learning rate
    c.backup_entropy = False      # no entropy term in the target (paper's locomotion runs)
    c.observation_transform = "none"  # the authors' code trains on raw observations (CORL z-scores)
    c.bc_steps = 40_000           # warm-up: the actor clones the data for this many updates (policy_eval_start)
    c.cql_alpha = 5.0             # weight of the conservative regulariser (min_q_weight)
    c.cql_n_actions = 10          # samples per proposal (uniform, pi(.|s), pi(.|s'))
    c.cql_temperature = 1.0       # logsumexp temperature T
    c.cql_lagrange = False        # tune alpha' so the gap tracks cql_target_action_gap
    c.cql_target_action_gap = 5.0  # target gap of the Lagrange variant
    c.cql_alpha_lr = 3e-4         # learning rate of log alpha' (Lagrange variant)
    c.cql_max_backup = False      # target = max over cql_n_actions policy samples at s'
    return apply_preset(c, preset, DATASET_PRESETS, VARIANTS)
