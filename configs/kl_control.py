"""KL-control (algos/kl_control.py): configs/dqn.py's settings, a prior fitted for 20k updates
first, and the KL weight c."""
from configs import bcq_discrete, dqn

CHECKS = {**{k: v for k, v in bcq_discrete.CHECKS.items() if k != "bcq_threshold"},
          "kl_coef": (lambda v: v > 0, "a positive float (c, the weight of KL(pi || prior))"),
          "behaviour_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (the prior's updates)")}


def behaviour_prior(c):
    """pi_b's classifier fitted in a first phase (KL-control's prior, SPIBB's baseline)."""
    c = bcq_discrete.add_behaviour_classifier(c)
    c.behaviour_logit_penalty = 0.0
    c.behaviour_lr = 1e-3
    c.behaviour_steps = 20_000        # updates of the classifier's phase, before Q-learning
    return c


def get_config(preset=None):
    c = behaviour_prior(dqn.family_config("kl_control"))
    c.kl_coef = 0.1                   # c: reward units per nat of KL(pi || prior)
    return dqn.with_presets(c, preset)
