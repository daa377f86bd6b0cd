"""AWR (Peng et al. 2019), offline, with the paper code's settings where they carry over.

From xbpeng/awr (learning/awr_agent.py at 64eca1d): 128-64 networks, temperature 1.0, weight
clip 20, advantages standardised, observations normalised, discount 0.99, batch 256. Not taken:
its SGD-with-momentum rates (5e-5 policy, 1e-2 value), which belong to that optimizer; here
Adam at 3e-4 as every other method. Its fixed action std (0.2) is a learned state-independent
std here. The paper tunes nothing per task.
"""
from configs.base import LIKELIHOOD_HEAD_CHECK, add_policy_head_fields, apply_preset, get_base_config

CHECKS = {
    "awr_temperature": (lambda v: v > 0, "a positive float (beta of exp(A / beta))"),
    "awr_weight_clip": (lambda v: v > 0, "a positive float (the largest advantage weight)"),
    "awr_standardise": (lambda v: isinstance(v, bool), "True or False"),
    **LIKELIHOOD_HEAD_CHECK,
}


def get_config(preset=None):
    c = add_policy_head_fields(get_base_config())
    c.algo = "awr"
    c.hidden_dims = (128, 64)       # the paper code's policy and value networks
    c.value_lr = 3e-4               # V-network learning rate (Adam)
    c.awr_temperature = 1.0         # beta
    c.awr_weight_clip = 20.0        # weights min(exp(A_hat / beta), clip)
    c.awr_standardise = True        # standardise advantages before the exponential (the paper's code)
    return apply_preset(c, preset)
