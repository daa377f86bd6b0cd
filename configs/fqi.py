"""FQI / NFQ (algos/fqi.py): squared-error regression, 2000 steps per iteration, 50 iterations."""
from configs import dqn
from configs.dqn import CHECKS  # noqa: F401  (the family's field checks)


def get_config(preset=None):
    c = dqn.family_config("fqi")
    c.td_loss = "mse"                 # the regression's loss
    c.target_update_interval = 2_000  # minibatch steps per iteration (the regression to convergence)
    c.num_updates = 100_000           # 50 iterations
    c.batch_size = 256
    c.critic_lr = 1e-3
    c.adam_eps = 1e-8
    return dqn.with_presets(c, preset)
