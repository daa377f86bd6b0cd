"""Decision Transformer (Chen et al. 2021) with the paper's gym settings.

Read from kzl/decision-transformer, gym/experiment.py (and the paper's Table 8): context K=20,
128-wide embeddings, 3 layers, 1 head, ReLU MLPs, dropout 0.1, AdamW lr 1e-4 with weight decay
1e-4, a 10k-update linear warm-up, gradient norm clipped at 0.25, batch 64, 10 x 10k = 100k
updates, returns-to-go divided by 1000, states z-scored with the data's statistics, episodes of
up to 1000 steps. The target returns are per environment (DATASET_PRESETS, `:auto`): hopper
3600 and 1800, halfcheetah 12000 and 6000, walker2d 5000 and 2500, the first reported as the
run's score. The paper evaluates 100 episodes per target; stitch keeps CORL's 10 every 5k
(README, reproduction table).
"""
from configs.base import LOCOMOTION_TASKS, apply_preset, get_base_config, task_table

TARGETS = {"halfcheetah": (12000.0, 6000.0), "hopper": (3600.0, 1800.0), "walker2d": (5000.0, 2500.0)}
DATASET_PRESETS = {task: {"target_returns": TARGETS[task.split("-")[0]]} for task in LOCOMOTION_TASKS}
assert set(DATASET_PRESETS) == set(task_table(LOCOMOTION_TASKS, {}))

# On the built-in Pendulum data (200-step episodes, 3-d observations) a smaller model and
# warm-up; not calibrated yet (BENCHMARKS.md has no Pendulum DT row).
VARIANTS = {"pendulum": {"embed_dim": 64, "num_layers": 2, "context_len": 10, "warmup_steps": 1000}}

CHECKS = {
    "context_len": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "num_heads": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 that divides embed_dim"),
    "activation": (lambda v: v in ("relu", "gelu"), "relu or gelu"),
    "rtg_scale": (lambda v: v > 0, "a positive float"),
}


def get_config(preset=None):
    c = get_base_config()
    c.algo = "dt"
    c.num_updates = 100_000         # the paper's 10 iterations x 10k steps
    c.batch_size = 64               # windows per update
    c.context_len = 20              # K: steps per window (the windows sampler's)
    c.embed_dim = 128               # token width
    c.num_layers = 3                # transformer blocks
    c.num_heads = 1                 # attention heads
    c.dropout = 0.1                 # on embeddings, attention weights and residual branches
    c.activation = "relu"           # the blocks' MLP nonlinearity (the gym code's; GPT-2's is gelu)
    c.actor_lr = 1e-4               # AdamW rate after warm-up
    c.weight_decay = 1e-4           # AdamW's decoupled decay, every parameter
    c.warmup_steps = 10_000         # linear warm-up of the rate
    c.grad_clip = 0.25              # gradient global-norm clip
    c.max_timestep = 1000           # timestep embeddings (later steps share the last)
    c.rtg_scale = 1000.0            # returns-to-go are divided by this in the tokens
    c.target_returns = ()           # evaluation's starting returns-to-go; () = the data's best episode return
    c.reward_transform = "none"     # DT conditions on the env's own returns
    c.termination_penalty = 0.0     # the windows sampler's (TT's); DT's returns-to-go never carry one
    return apply_preset(c, preset, DATASET_PRESETS, VARIANTS)
