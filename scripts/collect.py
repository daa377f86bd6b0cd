"""Collect a Minari dataset with a random, scripted or trained policy (a stitch checkpoint).

  python scripts/collect.py --env=Pendulum-v1 --policy=random --num_steps=20000 \
      --dataset_id=me/pendulum/random-v0 --ref_max_score=-150
  python scripts/collect.py --env=Hopper-v5 --policy=checkpoint:runs/iql_x --num_steps=100000 \
      --dataset_id=me/hopper/iql-v0 --action_noise=0.1

Whole episodes are collected until at least `num_steps` transitions exist (data/collect.py).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gymnasium as gym
from absl import app, flags

from algos.common import StitchError, quiet_logs
from algos.workdir import load_policy
from data.collect import collect, make_policy, with_action_noise

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_string("env", "Pendulum-v1", "gymnasium env id")
    flags.DEFINE_string("policy", "random", "random | pendulum_swingup | checkpoint:<workdir>")
    flags.DEFINE_integer("num_steps", 20_000, "minimum transitions (whole episodes are kept)")
    flags.DEFINE_string("dataset_id", None, "Minari id to write, e.g. me/pendulum/random-v0")
    flags.DEFINE_integer("seed", 0, "seed of env resets and policy noise")
    flags.DEFINE_float("action_noise", 0.0, "Box: Gaussian noise std as a fraction of half the action range; "
                       "Discrete: the probability of a uniformly random action (epsilon)")
    flags.DEFINE_float("ref_min_score", None, "normalisation min (default: random policy's mean return)")
    flags.DEFINE_float("ref_max_score", None, "normalisation max (default: noise-free policy's mean return)")
    flags.DEFINE_integer("run", 0, "with --policy=checkpoint:<workdir>: which run of it (seed x grid point)")


def policy_from_name(name, env, action_noise=0.0, run=0):
    """random | a scripted policy of data/collect.py | checkpoint:<stitch workdir>."""
    if name.startswith("checkpoint:"):
        return with_action_noise(load_policy(name.split(":", 1)[1], run), env.action_space, action_noise)
    return make_policy(name, env, action_noise)


def main(argv):
    del argv
    quiet_logs()
    env = gym.make(FLAGS.env)
    try:
        if FLAGS.policy == "random" and FLAGS.ref_max_score is None:
            raise StitchError(
                "With --policy=random the default reference scores would both be a random "
                "policy's return, so normalised scores would mean nothing. Fix: pass "
                "--ref_max_score (e.g. an expert's mean return).")
        policy = policy_from_name(FLAGS.policy, env, FLAGS.action_noise, FLAGS.run)
        reference = policy_from_name(FLAGS.policy, env, 0.0, FLAGS.run) if FLAGS.action_noise > 0 else None
        ds = collect(env, policy, FLAGS.num_steps, FLAGS.dataset_id, seed=FLAGS.seed,
                     ref_min_score=FLAGS.ref_min_score, ref_max_score=FLAGS.ref_max_score,
                     reference_policy=reference, algorithm_name=f"stitch:{FLAGS.policy}")
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"Wrote {FLAGS.dataset_id}: {ds.total_episodes} episodes, {ds.total_steps} steps, "
          f"ref scores [{ds.storage.metadata.get('ref_min_score'):.1f}, "
          f"{ds.storage.metadata.get('ref_max_score'):.1f}].")


if __name__ == "__main__":
    define_flags()
    flags.mark_flag_as_required("dataset_id")
    app.run(main)
