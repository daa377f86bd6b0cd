"""FQE (Le, Voloshin & Yue 2019) as d3rlpy's FQE and Paine et al. 2020 run it: one Q network
of the shared width, Adam at 1e-4 (d3rlpy's FQEConfig), gamma 0.99; a Polyak target (tau 0.005)
in place of d3rlpy's hard copy every 100 updates. 100k updates by default: the estimate
bootstraps over a 1 / (1 - gamma) = 100-step horizon through a target that lags ~1 / tau
updates, so it needs far more than 100 x 200 = 20k. FQE does not act: no evaluation episodes.
scripts/ope.py sets target_actions and the policy_index sweep from a run's checkpoints.
"""
from configs.base import apply_preset, get_base_config


def get_config(preset=None):
    c = get_base_config()
    c.algo = "fqe"
    c.target_actions = ""           # .npz of pi's actions at each row's s and s' (scripts/ope.py); "" = behaviour policy
    c.policy_index = 0              # which of the file's K policies a run evaluates (sweep it: all K in one program)
    c.critic_lr = 1e-4              # d3rlpy's FQE learning rate
    c.critic_layer_norm = False     # LayerNorm in the Q network
    c.num_updates = 100_000
    c.eval_interval = 10_000        # checkpoints (FQE has no policy to evaluate online)
    c.eval_episodes = 0
    return apply_preset(c, preset)
