"""IQL (Kostrikov et al. 2022) with the paper's locomotion hyperparameters."""
from configs.base import apply_preset, get_base_config


def get_config(preset=None):
    c = get_base_config()
    c.algo = "iql"
    c.expectile = 0.7               # tau of the expectile regression for V
    c.temperature = 3.0             # beta: inverse temperature of advantage weights
    c.value_lr = 3e-4               # V-network learning rate
    c.actor_cosine_decay = True     # cosine-decay the actor learning rate over num_updates
    c.reward_transform = "iql_locomotion"  # rewards * 1000 / (max return - min return)
    return apply_preset(c, preset)
