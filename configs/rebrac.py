"""ReBRAC (Tarasov et al. 2023): TD3+BC's config plus the paper's changes.

The paper tunes the two penalties per dataset (actor_bc_coef, critic_bc_coef). DATASET_PRESETS
holds the authors' values (tinkoff-ai/ReBRAC; CORL's copy differs only in hopper-medium,
0.01/0.01): --config=configs/rebrac.py:hopper-medium-replay.
"""
from configs import td3_bc
from configs.base import apply_preset

DATASET_PRESETS = {
    name: {"actor_bc_coef": actor, "critic_bc_coef": critic}
    for name, (actor, critic) in {
        "hopper-medium": (0.01, 0.001),
        "hopper-medium-replay": (0.05, 0.5),
        "hopper-medium-expert": (0.1, 0.01),
        "halfcheetah-medium": (0.001, 0.01),
        "halfcheetah-medium-replay": (0.01, 0.001),
        "halfcheetah-medium-expert": (0.01, 0.1),
    }.items()
}


def get_config(preset=None):
    c = td3_bc.get_config()
    c.algo = "rebrac"
    del c.alpha                      # TD3+BC's lambda = alpha / mean|Q| is replaced by the two betas
    c.hidden_dims = (256, 256, 256)  # deeper networks
    c.batch_size = 1024              # larger batch
    c.actor_lr = 1e-3
    c.critic_lr = 1e-3
    c.critic_layer_norm = True       # LayerNorm after every hidden ReLU of the critics
    c.observation_transform = "none"  # the authors' code trains on raw observations
    c.actor_bc_coef = 0.01           # beta_actor: weight of ||pi(s) - a||^2 in the actor loss
    c.critic_bc_coef = 0.01          # beta_critic: weight of ||a' - a_next||^2 in the target
    c.normalize_q = True             # divide the actor's Q term by mean|Q| (TD3+BC's lambda)
    return apply_preset(c, preset, DATASET_PRESETS)
