"""IDQL (Hansen-Estruch et al. 2023) with the authors' D4RL settings.

Read from philippe-eecs/IDQL at 89bb493 (launcher/examples/train_ddpm_iql_offline.py and
jaxrl5/agents/ddpm_iql/ddpm_iql_learner.py): T = 5 denoising steps on the vp schedule; 64
samples when acting; a noise network of 3 LayerNorm residual blocks 256 wide (4x inner), dropout
0.1, Mish, learned Fourier time features; Adam 3e-4 everywhere, the diffusion model's rate
cosine-decayed over the run and its EMA at 0.001; IQL's critic (2x256, expectile 0.7 on
locomotion; 0.9 and rewards - 1 on AntMaze), batch 512 for the diffusion model and its first 256
for the critic; rewards on IQL's locomotion scale (`normalize_returns`); 3M updates; jaxrl5's
orthogonal(sqrt 2) initialisation. Acting with the highest-Q sample is the reference's
evaluation (`eval_actions`); `idql_select=weighted` samples the paper's implicit policy.
"""
from configs.base import (ANTMAZE_TASKS, LIKELIHOOD_HEAD_CHECK, LOCOMOTION_TASKS, add_policy_head_fields, apply_preset,
                          get_base_config, reward_affine, task_table)

DATASET_PRESETS = {**task_table(LOCOMOTION_TASKS, {}),
                   **task_table(ANTMAZE_TASKS, {"expectile": 0.9, **reward_affine(1.0, -1.0)})}

# The built-in Pendulum data: small networks, and fewer samples to keep acting cheap on a CPU.
VARIANTS = {"pendulum": {"actor_hidden_dims": (64, 64, 64), "batch_size": 256, "critic_batch_size": 256,
                         "num_samples": 16}}

CHECKS = {
    **{k: v for k, v in LIKELIHOOD_HEAD_CHECK.items() if k != "policy_head"},
    "policy_head": (lambda v: v == "diffusion", "diffusion (IDQL's policy is a diffusion model)"),
    "actor_hidden_dims": (lambda v: len(v) >= 1 and len(set(v)) == 1 and all(isinstance(h, int) and h >= 1 for h in v),
                          "equal positive widths, one per residual block, e.g. '(256,256,256)'"),
    "critic_batch_size": (lambda v: isinstance(v, int) and v >= 1, "a positive integer, at most batch_size"),
    "num_samples": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (candidates per state)"),
    "actor_tau": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "idql_select": (lambda v: v in ("argmax", "weighted"), "argmax or weighted"),
}


def get_config(preset=None):
    c = add_policy_head_fields(get_base_config(), head="diffusion")
    c.algo = "idql"
    c.init = "orthogonal"           # jaxrl5's default_init, on the critic and the noise network
    c.num_updates = 3_000_000       # the launcher's max_steps
    c.batch_size = 512              # the diffusion model's batch
    c.critic_batch_size = 256       # the critic's: the batch's first rows
    c.actor_hidden_dims = (256, 256, 256)  # the noise network: one residual block per entry, this wide
    c.diffusion_steps = 5           # T
    c.diffusion_dropout = 0.1       # in every residual block
    c.beta_schedule = "vp"          # the variance-preserving schedule
    c.actor_tau = 0.001             # EMA rate of the acting copy of the diffusion model
    c.actor_cosine_decay = True     # the diffusion model's rate decays over num_updates
    c.num_samples = 64              # N: candidate actions per state when acting
    c.idql_select = "argmax"        # argmax (the reference's evaluation) | weighted (the implicit policy)
    c.expectile = 0.7               # IQL's tau (0.9 on AntMaze)
    c.value_lr = 3e-4               # V's rate
    c.reward_transform = "iql_locomotion"  # rewards * 1000 / (max return - min return)
    return apply_preset(c, preset, DATASET_PRESETS, VARIANTS)
