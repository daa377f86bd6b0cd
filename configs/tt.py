"""Trajectory Transformer (Janner, Li & Levine 2021) with the paper's locomotion settings.

Read from jannerm/trajectory-transformer, config/offline.py (and trajectory/utils/training.py):
100 quantile bins per dimension; a GPT of 4 layers, 4 heads, 128 wide (n_embd 32 x 4 heads),
dropout 0.1, windows of 10 transitions; AdamW 6e-4 (b2 0.95, weight decay 0.1), gradient norm
clipped at 1, a warm-up then cosine decay; action tokens weighted 5; batch 256 and 50 epochs of a
1M-transition dataset (about 195k updates; 80 on medium-replay); termination penalty -100
(added to a terminal reward; theirs replaces it, a difference of that reward, a few units on
locomotion). Planning: horizon 15 (halfcheetah 5), beam width 128, 2 expansions, actions
sampled from the top 60 % of their mass, greedy states, rewards and values by their expectation,
5 transitions of context, discount 0.99. `:small` is a CPU-sized model and planner (a batch of 64
windows: the paper's 256 windows of 10 transitions cost about 0.35 s per update on one CPU core
even at this model's size).
"""
from configs.base import LOCOMOTION_TASKS, apply_preset, get_base_config, task_table

DATASET_PRESETS = task_table(LOCOMOTION_TASKS, {},
                             **{f"halfcheetah_{k}": {"tt_horizon": 5} for k in ("medium", "medium_replay", "medium_expert")},
                             hopper_medium_replay={"num_updates": 312_500},
                             walker2d_medium_replay={"num_updates": 312_500},
                             walker2d_medium_expert={"tt_horizon": 5})

SMALL = {"embed_dim": 64, "num_layers": 2, "num_heads": 2, "context_len": 4, "batch_size": 64, "tt_horizon": 3,
         "tt_beam_width": 8, "tt_n_expand": 2, "tt_max_context": 2, "tt_bins": 50}
VARIANTS = {"small": SMALL, "pendulum": {**SMALL, "warmup_steps": 1000}}

CHECKS = {
    "tt_bins": (lambda v: isinstance(v, int) and v >= 2, "an integer >= 2"),
    "tt_discretiser": (lambda v: v in ("uniform", "quantile"), "uniform or quantile"),
    "tt_action_weight": (lambda v: v > 0, "a positive float"),
    "tt_horizon": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "tt_beam_width": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "tt_n_expand": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "tt_cdf_act": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "tt_max_context": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (at most context_len)"),
    "context_len": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
}


def get_config(preset=None):
    c = get_base_config()
    c.algo = "tt"
    c.num_updates = 195_000         # 50 epochs x 1M transitions / batch 256
    c.batch_size = 256              # windows per update
    c.context_len = 10              # transitions per training window
    c.embed_dim = 128               # token width
    c.num_layers = 4                # transformer blocks
    c.num_heads = 4                 # attention heads
    c.dropout = 0.1                 # embeddings, attention and residual dropout
    c.actor_lr = 6e-4               # AdamW's peak rate
    c.weight_decay = 0.1            # AdamW's decoupled decay
    c.warmup_steps = 4_000          # linear warm-up (about one epoch of a 1M dataset)
    c.tt_bins = 100                 # bins per dimension
    c.tt_discretiser = "quantile"   # quantile | uniform bin edges
    c.tt_action_weight = 5.0        # loss weight of action tokens
    c.tt_horizon = 15               # planned transitions
    c.tt_beam_width = 128           # beams kept per step
    c.tt_n_expand = 2               # copies of each beam before its action is sampled
    c.tt_cdf_act = 0.6              # actions sampled from the top tokens holding this much mass
    c.tt_max_context = 5            # transitions of context the model sees when planning
    c.termination_penalty = -100.0  # added to a terminal transition's reward (tokens and values)
    c.reward_transform = "none"     # the discretiser sees the data's own rewards
    c.observation_transform = "none"  # ... and states
    return apply_preset(c, preset, DATASET_PRESETS, VARIANTS)
