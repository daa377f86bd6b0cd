"""Does a policy head keep two modes apart? BC on the two-mode Pendulum data, one run per head.

  python -m scripts.multimodal --heads=gaussian,mixture --num_updates=5000 --out=runs/multimodal/result.json

The data (`stitch/pendulum/two-mode-v0`, data/collect.py, built on first use) mixes two scripted
behaviours at every step: torques of about +1.2 and -1.2 in the same states. A likelihood-fitted
policy is then evaluated on the data's own states: the fraction of its deterministic actions
within `--margin` (env units) of either behaviour's action at that state, their mean |action|,
and the same fraction for its sampled actions. One Gaussian must put its mean between the modes (near 0, where neither behaviour
acts); a mixture of Gaussians can act in one of them.
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from absl import app, flags

DATASET = "stitch/pendulum/two-mode-v0"


def define_flags():
    flags.DEFINE_list("heads", ["gaussian", "mixture", "latent"], "BC's policy heads to compare (configs/bc.py policy_head)")
    flags.DEFINE_integer("num_updates", 5_000, "BC updates per head")
    flags.DEFINE_integer("num_seeds", 3, "vmapped seeds per head")
    flags.DEFINE_float("margin", 0.3, "an action within this of a behaviour's (env units, range +-2) is in that mode")
    flags.DEFINE_string("workdir", "runs/multimodal", "parent folder of the per-head runs")
    flags.DEFINE_string("out", None, "write the figures to this JSON")


def mode_fractions(actions, observations, margin):
    """(fraction of actions within `margin` of either behaviour's action at its state, mean |a|)."""
    from data.collect import pendulum_two_modes
    modes = np.array([np.concatenate(pendulum_two_modes(o)) for o in observations])  # (N, 2)
    distance = np.min(np.abs(np.asarray(actions).reshape(-1, 1) - modes), axis=1)
    return float(np.mean(distance <= margin)), float(np.mean(np.abs(actions)))


def measure(heads, num_updates, num_seeds, margin, workdir, hidden=(64, 64)):
    """{head: {"in_mode": [per seed], "mean_abs_action": [...], "sampled_in_mode": [...],
    "normalized_score": [...]}}."""
    from algos.trainer import train_and_evaluate
    from algos.workdir import load_batched_policy
    from configs import bc
    from data.dataset import read_columns
    out, observations = {}, None
    for head in heads:
        config = bc.get_config("pendulum")
        config.update(dict(dataset=DATASET, policy_head=head, num_updates=num_updates, num_seeds=num_seeds,
                           hidden_dims=tuple(hidden), log_interval=math.gcd(1000, num_updates),
                           eval_interval=num_updates, progress_bar=False, tensorboard=False))
        run_dir = os.path.join(workdir, head)
        results = train_and_evaluate(config, run_dir)  # builds the data on first use
        if observations is None:
            observations = read_columns(DATASET)[0]["observations"][::5]  # every 5th state of the data
        row = {"in_mode": [], "mean_abs_action": [], "sampled_in_mode": [],
               "normalized_score": results["final_normalized_score"]}
        for run in range(num_seeds):
            policy, _, _ = load_batched_policy(run_dir, run)
            in_mode, mean_abs = mode_fractions(policy(observations), observations, margin)
            row["in_mode"].append(in_mode)
            row["mean_abs_action"].append(mean_abs)
            sampler, _, _ = load_batched_policy(run_dir, run, deterministic=False)
            actions = sampler(observations, np.random.default_rng(run))
            row["sampled_in_mode"].append(mode_fractions(actions, observations, margin)[0])
        out[head] = row
    return out


def main(argv):
    del argv
    from algos.common import quiet_logs
    quiet_logs()
    F = flags.FLAGS
    result = measure(F.heads, F.num_updates, F.num_seeds, F.margin, F.workdir)
    for head, row in result.items():
        print(f"{head}: actions within {F.margin} of a mode {np.mean(row['in_mode']):.1%} "
              f"(per seed {', '.join(f'{x:.2f}' for x in row['in_mode'])}), mean |a| "
              f"{np.mean(row['mean_abs_action']):.2f} (the modes are at about 1.2); sampled actions within "
              f"{F.margin} of a mode {np.mean(row['sampled_in_mode']):.1%}")
    if F.out:
        os.makedirs(os.path.dirname(os.path.abspath(F.out)), exist_ok=True)
        with open(F.out, "w") as f:
            json.dump({"margin": F.margin, "num_updates": F.num_updates, "heads": result}, f, indent=1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
