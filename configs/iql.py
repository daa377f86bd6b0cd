"""IQL (Kostrikov et al. 2022) with the paper's hyperparameters per domain.

DATASET_PRESETS (`--config=configs/iql.py:auto` picks the run's): the authors' configs
(ikostrikov/implicit_q_learning at 09d7002: configs/mujoco_config.py for every locomotion task,
the defaults below; configs/antmaze_config.py and the README's AntMaze command: expectile 0.9,
temperature 10, rewards - 1, 100 evaluation episodes every 100k updates).
VARIANT_DATASET_PRESETS["corl"] (`:corl,auto`): CORL's per-task changes (configs/offline/iql,
corl-team/CORL at eeeeef2), of which stitch has all but hopper-medium(-replay)'s deterministic
actor (README, reproduction table).
"""
from configs.base import (ANTMAZE_TASKS, LIKELIHOOD_HEAD_CHECK, LOCOMOTION_TASKS, add_policy_head_fields, apply_preset,
                          get_base_config, reward_affine, task_table)

ANTMAZE = {"expectile": 0.9, "temperature": 10.0, **reward_affine(1.0, -1.0),
           "eval_episodes": 100, "eval_interval": 100_000}
DATASET_PRESETS = {**task_table(LOCOMOTION_TASKS, {}), **task_table(ANTMAZE_TASKS, ANTMAZE)}

VARIANTS = {"corl": {"reward_transform": "none"}}  # CORL: rewards as logged unless a task says otherwise
VARIANT_DATASET_PRESETS = {"corl": {
    **task_table(LOCOMOTION_TASKS, {},
                 hopper_medium={"reward_transform": "iql_locomotion", "tau": 0.001},
                 hopper_medium_replay={"reward_transform": "iql_locomotion", "tau": 0.001},
                 hopper_medium_expert={"temperature": 6.0, "expectile": 0.5}),
    **task_table(ANTMAZE_TASKS, {**ANTMAZE, "eval_interval": 5_000}),  # CORL evaluates every 5k
}}


CHECKS = {**LIKELIHOOD_HEAD_CHECK}


def get_config(preset=None):
    c = add_policy_head_fields(get_base_config())  # gaussian (the paper's) | mixture
    c.algo = "iql"
    c.init = "orthogonal"           # the authors' jaxrl code: orthogonal(sqrt 2) on every layer
    c.expectile = 0.7               # tau of the expectile regression for V
    c.temperature = 3.0             # beta: inverse temperature of advantage weights
    c.value_lr = 3e-4               # V-network learning rate
    c.actor_cosine_decay = True     # cosine-decay the actor learning rate over num_updates
    c.reward_transform = "iql_locomotion"  # rewards * 1000 / (max return - min return)
    return apply_preset(c, preset, DATASET_PRESETS, VARIANTS)
