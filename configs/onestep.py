"""One-step RL (Brandfonbrener et al. 2021) with the authors' settings.

From davidbrandfonbrener/onestep-rl (config/train.yaml, config/{beta,q,pi}/*.yaml, readme.md, at
3c585a4): behaviour 500k, SARSA 2M and improvement 100k updates (the readme's one-step
setting), 1024 x 2 networks, batch 512, Adam 1e-4 everywhere, Polyak 0.005 every second
update, one critic, reverse-KL improvement with alpha 1 and 10 samples (train.yaml's default).
Not taken: the truncated-normal policy (here IQL's Gaussian, tanh mean with a state-dependent
std: `behaviour_head`). The exponentially weighted variant, `onestep_improvement=exp`, takes
the inverse temperature of `onestep_temperature`; the paper tunes it per task over a grid that
the repository does not record, so there is no per-task table.
"""
from configs.base import BEHAVIOUR_CHECKS, add_behaviour_fields, apply_preset, get_base_config

VARIANTS = {"pendulum": {"behaviour_hidden_dims": (64, 64), "behaviour_steps": 10_000, "q_steps": 20_000,
                         "num_updates": 5_000, "batch_size": 256, "behaviour_lr": 3e-4, "critic_lr": 3e-4,
                         "actor_lr": 3e-4}}

CHECKS = {
    "q_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (SARSA updates)"),
    "onestep_improvement": (lambda v: v in ("reverse_kl", "exp"), "reverse_kl or exp"),
    "onestep_alpha": (lambda v: v >= 0, "a float >= 0"),
    "onestep_temperature": (lambda v: v > 0, "a positive float (inverse temperature of exp(t A))"),
    "onestep_n_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "num_critics": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    **BEHAVIOUR_CHECKS,
}


def get_config(preset=None):
    c = add_behaviour_fields(get_base_config(), head="gaussian", hidden_dims=(1024, 1024), lr=1e-4,
                             steps=500_000)
    c.algo = "onestep"
    c.hidden_dims = (1024, 1024)    # the critic (the policy is the behaviour network, copied)
    c.batch_size = 512
    c.actor_lr = 1e-4
    c.critic_lr = 1e-4
    c.num_critics = 1
    c.q_steps = 2_000_000           # SARSA updates of the second phase
    c.num_updates = 100_000         # improvement updates (the third phase)
    c.onestep_improvement = "reverse_kl"  # reverse_kl (-Q + alpha KL) | exp (exponentially weighted BC)
    c.onestep_alpha = 1.0           # the reverse-KL weight
    c.onestep_temperature = 1.0     # exp: weights exp(temperature * A), clipped at 100
    c.onestep_n_samples = 10        # samples for the KL, and for V_b in exp
    return apply_preset(c, preset, variants=VARIANTS)
