"""Probe a trained run on other datasets: whose actions does its policy take, its critic prefer?

On a mixed dataset such as medium-expert, a value-based method beats behaviour cloning only
once its critic ranks the expert episodes' actions above the medium ones' and its policy
follows them. This measures both, on each probe dataset (e.g. the two halves of the mix):

  MINARI_DATASETS_PATH=../shared/datasets python scripts/probe_critic.py \
      --workdir=runs/me300k/iql_bench-hopper-medium-expert-v0 \
      --probes=bench/hopper/medium-v0,bench/hopper/expert-v0

Per seed and probe dataset (observations and actions transformed exactly as in training):
  action_mse  mean ||pi(s) - a||^2 over the probe's (s, a), actions in [-1, 1]; it includes the
              probe data's own action noise, so compare policies on one probe, not probes
  q_data      mean min_i Q_i(s, a)                           (methods with a critic)
  q_policy    mean min_i Q_i(s, pi(s))
  advantage   mean of q_data - V(s) where the method learns V (IQL), else q_data - q_policy
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import numpy as np
from absl import app, flags

from algos import get_algo
from algos.workdir import restore
from data.dataset import normalize_actions, read_columns
from networks import ensemble_min

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_string("workdir", None, "a stitch run's --workdir (its checkpoint is probed)")
    flags.DEFINE_list("probes", None, "Minari dataset ids to probe with")
    flags.DEFINE_integer("step", None, "checkpoint step (default: the latest)")
    flags.DEFINE_integer("max_transitions", 20_000, "transitions sampled from each probe dataset")


def probe_arrays(dataset_id, io, max_transitions, seed=0):
    """(observations, actions) of a dataset, normalised with a run's own policy_io."""
    arrays, _, _ = read_columns(dataset_id)
    n = len(arrays["rewards"])
    idx = (np.random.default_rng(seed).permutation(n)[:max_transitions] if n > max_transitions
           else np.arange(n))  # a small dataset is probed whole, in order
    obs = arrays["observations"][idx]
    if io["obs_mean"] is not None:  # observation_transform=zscore
        obs = (obs - np.asarray(io["obs_mean"])) / np.asarray(io["obs_std"])
    actions = normalize_actions(arrays["actions"][idx], np.asarray(io["action_low"]),
                                np.asarray(io["action_high"]))
    return obs.astype(np.float32), actions.astype(np.float32)


def probe(config, state, observations, actions):
    """The quantities of the module docstring for one seed's state."""
    algo = get_algo(config.algo)
    pi = algo.act(config, state, observations, jax.random.PRNGKey(0), deterministic=True)
    out = {"action_mse": np.square(np.asarray(pi) - actions).sum(-1).mean()}
    if hasattr(state, "critic"):
        q = lambda a: ensemble_min(state.critic.apply_fn({"params": state.critic.params},
                                                         observations, a))
        q_data, q_policy = q(actions), q(pi)
        baseline = (state.value.apply_fn({"params": state.value.params}, observations)
                    if hasattr(state, "value") else q_policy)
        out.update(q_data=q_data.mean(), q_policy=q_policy.mean(),
                   advantage=(q_data - baseline).mean())
    return {k: float(v) for k, v in out.items()}


def main(argv):
    del argv
    config, carry, meta = restore(FLAGS.workdir, FLAGS.step)
    states = carry[0]
    num_seeds = len(states.step)
    rows = []
    for dataset_id in FLAGS.probes:
        obs, actions = probe_arrays(dataset_id, meta["policy_io"], FLAGS.max_transitions)
        for s in range(num_seeds):
            state = jax.tree_util.tree_map(lambda x: x[s], states)
            rows.append((dataset_id, s, probe(config, state, obs, actions)))
    keys = list(rows[0][2])
    step = int(np.asarray(states.step)[0])
    print(f"{config.algo} on {config.dataset}, checkpoint at update {step}")
    print("| probe dataset | seed | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for dataset_id, s, values in rows:
        print(f"| {dataset_id} | {s} | " + " | ".join(f"{values[k]:.3f}" for k in keys) + " |")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["workdir", "probes"])
    app.run(main)
