"""Discrete BCQ (algos/bcq_discrete.py): the authors' settings (sfujim/BCQ, discrete_BCQ/main.py):
threshold 0.3, logit penalty 1e-2, Adam; their Atari runs copy the target every 8k updates, their
low-dimensional ones average it with tau 0.005. Other fields as configs/dqn.py."""
from configs import dqn

CHECKS = {**dqn.CHECKS,
          "bcq_threshold": (lambda v: 0.0 <= v <= 1.0, "in [0, 1] (0: Double DQN, 1: behaviour cloning)"),
          "behaviour_lr": (lambda v: v > 0, "a positive float"),
          "behaviour_logit_penalty": (lambda v: v >= 0, "a float >= 0"),
          "behaviour_hidden_dims": (lambda v: len(v) >= 1 and all(isinstance(h, int) and h >= 1 for h in v),
                                    "a non-empty tuple of positive integers, e.g. '(256,256)'")}


def add_behaviour_classifier(c):
    """The fields of pi_b's classifier (algos/dqn.fit_behaviour)."""
    c.behaviour_hidden_dims = c.hidden_dims  # its MLP widths (after the same kind of torso)
    c.behaviour_lr = c.critic_lr             # its Adam rate
    c.behaviour_logit_penalty = 1e-2         # x mean(logits^2), discrete BCQ's regulariser
    return c


def get_config(preset=None):
    c = add_behaviour_classifier(dqn.family_config("bcq_discrete"))
    c.bcq_threshold = 0.3             # tau: admissible actions have G(a|s) / max G >= tau
    return dqn.with_presets(c, preset)
