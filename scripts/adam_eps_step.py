"""How much of Adam's first step an epsilon leaves each layer, per DQN-family algorithm: the mean
|parameter change| of one update with epsilon `--eps` over the same with 1e-8 (1.0: epsilon
changes nothing; small: epsilon dominates sqrt(v) there, the layer learns slowly). Averaged over
5 initialisations and batches (the configs' size, sampled as training samples them) from a
discrete dataset.

  MINARI_DATASETS_PATH=$PWD/runs/minari python scripts/adam_eps_step.py --dataset=stitch/breakout/replay-v0

Issue 17's Breakout replay check: REM's heads get a small share of the mixture's gradient each.
"""
import importlib

import flax
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from algos import get_algo
from data import samplers
from data.dataset import load_dataset

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_string("dataset", "stitch/breakout/replay-v0", "a discrete Minari dataset")
    flags.DEFINE_string("preset", "minatar", "the configs' preset")
    flags.DEFINE_list("algos", ["dqn", "rem", "qr_dqn"], "algorithms (qr_dqn with 50 quantiles)")
    flags.DEFINE_float("eps", 3.125e-4, "the epsilon to compare with 1e-8 (batch_rl's 0.01/32)")
TRIALS = 5


def make_config(name, eps):
    config = importlib.import_module(f"configs.{name}").get_config(FLAGS.preset or None)
    config.update(dict(dataset=FLAGS.dataset, adam_eps=eps, **({"num_quantiles": 50} if name == "qr_dqn" else {})))
    return config


def batches(config):
    """TRIALS batches of the config's size, drawn as training draws them."""
    data, info = load_dataset(config, actions="discrete")
    keys = jax.random.split(jax.random.PRNGKey(0), TRIALS)
    return [samplers.sample(samplers.transitions, config, data, key) for key in keys], info.spec


def step_sizes(name, eps, data, spec):
    config, algo, sizes = make_config(name, eps), get_algo(name), []
    for trial, batch in enumerate(data):
        state = algo.init(config, spec, jax.random.PRNGKey(trial), None)
        new, _ = algo.update(config, state, batch, jax.random.PRNGKey(1))
        before, after = (flax.traverse_util.flatten_dict(s.q.params) for s in (state, new))
        sizes.append({"/".join(k): float(jnp.abs(after[k] - before[k]).mean()) for k in before if k[-1] == "kernel"})
    return {k: np.mean([s[k] for s in sizes]) for k in sizes[0]}


def main(argv):
    del argv
    data, spec = batches(make_config(FLAGS.algos[0], FLAGS.eps))
    print(f"first Adam step with epsilon {FLAGS.eps:g} / with 1e-8, mean |change| per kernel ({FLAGS.dataset}):")
    for name in FLAGS.algos:
        big, small = step_sizes(name, FLAGS.eps, data, spec), step_sizes(name, 1e-8, data, spec)
        print(f"  {name}: " + "; ".join(f"{k} {big[k] / small[k]:.2f}" for k in small))


if __name__ == "__main__":
    define_flags()
    app.run(main)
