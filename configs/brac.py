"""BRAC (Wu, Tucker & Nachum 2019), primal agent with the KL, with the authors' settings.

From google-research/behavior_regularized_offline_rl (brac/brac_primal_agent.py, run_primal.sh,
run_bc.sh): critics 2 x (300, 300), actor (200, 200), Adam 1e-3 for the critics and alpha and
3e-4 for the actor, batch 256, alpha 0.1 fixed, value penalty on ("BRAC-v";
`--config.brac_value_penalty=False` is "BRAC-p"), 4 divergence samples, warm start 20k, no
entropy term, the minimum over critics, Polyak 0.005. Behaviour policy: the same tanh-Gaussian
actor network, fitted 300k updates with Adam 5e-4 (run_bc.sh). run_primal.sh trains 500k
updates, the default here. Raw observations, as the code; stitch's glorot init (TF/Keras's
default, which the code keeps). The paper tunes alpha per task from a grid the repository does
not record: no per-task table.
"""
from configs.base import BEHAVIOUR_CHECKS, add_behaviour_fields, apply_preset, get_base_config

VARIANTS = {"pendulum": {"actor_hidden_dims": (64, 64), "behaviour_hidden_dims": (64, 64),
                         "behaviour_steps": 5_000, "brac_warm_start": 2_000}}

CHECKS = {
    "actor_hidden_dims": (lambda v: len(v) >= 1 and all(isinstance(h, int) and h >= 1 for h in v),
                          "a non-empty tuple of positive integers, e.g. '(200,200)'"),
    "brac_alpha": (lambda v: v >= 0, "a float >= 0 (the divergence weight)"),
    "brac_alpha_lr": (lambda v: v > 0, "a positive float"),
    "brac_train_alpha": (lambda v: isinstance(v, bool), "True or False"),
    "brac_target_divergence": (lambda v: True, "a float (the dual variant's target KL)"),
    "brac_value_penalty": (lambda v: isinstance(v, bool), "True (BRAC-v) or False (BRAC-p)"),
    "brac_n_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "brac_warm_start": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
    **BEHAVIOUR_CHECKS,
}


def get_config(preset=None):
    c = add_behaviour_fields(get_base_config(), head="tanh_gaussian", hidden_dims=(200, 200), lr=5e-4,
                             steps=300_000)
    c.algo = "brac"
    c.observation_transform = "none"  # the code feeds raw observations
    c.num_updates = 500_000         # run_primal.sh's total_train_steps
    c.hidden_dims = (300, 300)      # the critics
    c.actor_hidden_dims = (200, 200)  # the actor
    c.critic_lr = 1e-3
    c.actor_lr = 3e-4
    c.num_critics = 2
    c.brac_alpha = 0.1              # divergence weight (the initial value when trained)
    c.brac_alpha_lr = 1e-3
    c.brac_train_alpha = False      # True: dual ascent on alpha towards brac_target_divergence
    c.brac_target_divergence = 0.0
    c.brac_value_penalty = True     # True: BRAC-v (penalty in the target too); False: BRAC-p
    c.brac_n_samples = 4            # policy samples per state in the KL estimate
    c.brac_warm_start = 20_000      # updates of the train phase before the actor sees Q
    return apply_preset(c, preset, variants=VARIANTS)
