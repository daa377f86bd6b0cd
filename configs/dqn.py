"""Offline DQN (algos/dqn.py) and the settings its family shares: google-research/batch_rl's
fixed-replay configs (Agarwal et al. 2020; configs/dqn.gin, rem.gin, quantile.gin at 8d967cc):
Adam with rate 5e-5 and eps 0.01/32, batch 32, gamma 0.99, one-step targets, the target network
copied every 8000 agent steps = 2000 updates (one update per 4 steps), evaluation with
epsilon 0.001. Their Atari networks are Nature CNNs; here the torso is the config's (mlp for
vector observations, cnn for MinAtar) followed by `hidden_dims`.

Presets (the discrete suite of scripts/discrete_suite.py): `classic` for CartPole / Acrobot-sized
tasks; `minatar` for MinAtar's 10x10xC grids (Young & Tian 2019's network: one 3x3 convolution
of 16 filters and a 128-unit layer; the grids' 0/1 channels fed as they are).
"""
from configs.base import apply_preset, get_base_config

CHECKS = {
    "target_update_interval": (lambda v: isinstance(v, int) and v >= 0,
                               "an integer >= 0 (updates between hard target copies; 0: Polyak with tau)"),
    "td_loss": (lambda v: v in ("huber", "mse"), "huber (DQN's) or mse"),
    "eval_epsilon": (lambda v: 0.0 <= v <= 1.0, "in [0, 1] (the probability of a random action when sampling)"),
    "adam_eps": (lambda v: v > 0, "a positive float (Adam's epsilon)"),
    "num_heads": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (heads on one trunk)"),
}

PRESETS = {
    "classic": {  # small vector tasks: a smaller net, a faster target, a budget of minutes on a CPU
        "hidden_dims": (256, 256),
        "num_updates": 50_000,
        "eval_interval": 5_000,
        "target_update_interval": 1_000,
        "critic_lr": 1e-4,
    },
    "minatar": {  # MinAtar grids: the MinAtar paper's CNN, the same CPU-sized budget as classic
        "torso": "cnn",
        "hidden_dims": (128,),
        "observation_transform": "none",
        "num_updates": 50_000,
        "eval_interval": 5_000,
        "target_update_interval": 1_000,
        "critic_lr": 1e-4,
    },
}


def add_dqn_fields(c):
    """The fields every member of the DQN family has (algos/dqn.py)."""
    c.batch_size = 32
    c.critic_lr = 5e-5                 # Q-network rate (batch_rl's Adam)
    c.adam_eps = 3.125e-4              # Adam's epsilon (Dopamine's 0.01 / batch size)
    c.target_update_interval = 2_000   # updates between hard copies to the target (0: Polyak with tau)
    c.td_loss = "huber"                # huber (DQN's) | mse (FQI's regression)
    c.eval_epsilon = 0.001             # epsilon-greedy when acting with sampling (batch_rl's evaluation)
    c.num_heads = 1                    # Q heads on one trunk (Ensemble-DQN and REM: 200)
    return c


def family_config(algo: str):
    """A DQN-family config before its presets: the base, these fields, and `algo`."""
    c = add_dqn_fields(get_base_config())
    c.algo = algo
    return c


def with_presets(c, preset):
    """Apply the presets last, so they win over a variant's own defaults. A preset that changes the
    Q-network's widths (minatar) changes a behaviour classifier's too, where it had the same ones."""
    widths = tuple(c.hidden_dims)
    c = apply_preset(c, preset, variants=PRESETS)
    if "behaviour_hidden_dims" in c and tuple(c.behaviour_hidden_dims) == widths != tuple(c.hidden_dims):
        c.behaviour_hidden_dims = c.hidden_dims
    return c


def get_config(preset=None):
    return with_presets(family_config("dqn"), preset)
