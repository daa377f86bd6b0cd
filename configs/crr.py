"""CRR (Wang et al. 2020) with the paper's settings and d3rlpy's where the paper's differ in kind.

The paper (its appendix): m = 4 policy samples for V, beta 1, weights clipped at 20, targets
copied every 100 updates, acting by the critic-weighted policy. Its critic is distributional;
stitch's is a plain one (as d3rlpy's CRR), with d3rlpy's single critic, batch 100, Adam 3e-4 and
256-256 networks (d3rlpy 2.8.1 `CRRConfig`). The paper tunes nothing per task; its D4RL-style
runs used the exponential filter with the mean advantage, the defaults here.
"""
from configs.base import LIKELIHOOD_HEAD_CHECK, add_policy_head_fields, apply_preset, get_base_config

CHECKS = {
    "crr_filter": (lambda v: v in ("binary", "exp"), "binary or exp"),
    "crr_advantage": (lambda v: v in ("mean", "max"), "mean or max (V from the policy's samples)"),
    "crr_beta": (lambda v: v > 0, "a positive float"),
    "crr_max_weight": (lambda v: v > 0, "a positive float"),
    "crr_n_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "crr_target_interval": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (1: copy every update)"),
    "crr_act": (lambda v: v in ("cwp", "mode"), "cwp (critic-weighted) or mode"),
    "num_critics": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    **LIKELIHOOD_HEAD_CHECK,
}


def get_config(preset=None):
    c = add_policy_head_fields(get_base_config())
    c.algo = "crr"
    c.batch_size = 100
    c.num_critics = 1               # the paper's single critic (the target takes the minimum if more)
    c.crr_filter = "exp"            # f(A): binary 1[A > 0] | exp min(exp(A / beta), max_weight)
    c.crr_advantage = "mean"        # V(s) from m policy samples: mean | max
    c.crr_beta = 1.0                # temperature of the exponential filter
    c.crr_max_weight = 20.0         # its clip
    c.crr_n_samples = 4             # m: policy samples for V and for acting
    c.crr_target_interval = 100     # updates between copies of the target critic and policy
    c.crr_act = "cwp"               # acting: cwp (resample m policy samples by softmax Q) | mode
    return apply_preset(c, preset)
