"""How much of Adam's first step an epsilon leaves each layer, per DQN-family algorithm: the mean
|parameter change| of one update with epsilon `--eps` over the same with 1e-8 (1.0: epsilon
changes nothing; small: epsilon dominates sqrt(v) there, the layer learns slowly). Averaged over
5 initialisations and batches of 32 transitions from a discrete dataset.

  MINARI_DATASETS_PATH=$PWD/runs/minari python scripts/adam_eps_step.py --dataset=stitch/breakout/replay-v0

Issue 17's Breakout replay check: REM's heads get a small share of the mixture's gradient each.
"""
import importlib

import flax
import jax
import jax.numpy as jnp
import minari
import numpy as np
from absl import app, flags

from algos import get_algo
from algos.common import Spec

flags.DEFINE_string("dataset", "stitch/breakout/replay-v0", "a discrete Minari dataset")
flags.DEFINE_string("preset", "minatar", "the configs' preset")
flags.DEFINE_list("algos", ["dqn", "rem", "qr_dqn"], "algorithms (qr_dqn with 50 quantiles)")
flags.DEFINE_float("eps", 3.125e-4, "the epsilon to compare with 1e-8 (batch_rl's 0.01/32)")
FLAGS = flags.FLAGS


def batches(dataset_id, count=5, size=32, seed=0):
    ds = minari.load_dataset(dataset_id)
    rng = np.random.default_rng(seed)
    rows = []
    for e in ds.iterate_episodes(rng.choice(ds.total_episodes, min(300, ds.total_episodes), replace=False).tolist()):
        rows += [(e.observations[t], e.actions[t], e.rewards[t], e.observations[t + 1], float(e.terminations[t]))
                 for t in range(len(e.rewards))]
    keys = ["observations", "actions", "rewards", "next_observations", "terminals"]
    out = []
    for _ in range(count):
        idx = rng.choice(len(rows), size, replace=False)
        out.append({k: jnp.asarray(np.stack([rows[i][j] for i in idx]).astype(np.int32 if k == "actions" else np.float32))
                    for j, k in enumerate(keys)})
    spec = Spec(tuple(ds.observation_space.shape), np.dtype(ds.observation_space.dtype).name,
                int(ds.action_space.n), True)
    return out, spec


def step_sizes(name, eps, data, spec):
    extra = {"num_quantiles": 50} if name == "qr_dqn" else {}
    algo, sizes = get_algo(name), []
    for trial, batch in enumerate(data):
        config = importlib.import_module(f"configs.{name}").get_config(FLAGS.preset or None)
        config.update(dict(adam_eps=eps, **extra))
        state = algo.init(config, spec, jax.random.PRNGKey(trial), None)
        new, _ = algo.update(config, state, batch, jax.random.PRNGKey(1))
        before, after = (flax.traverse_util.flatten_dict(s.q.params) for s in (state, new))
        sizes.append({"/".join(k): float(jnp.abs(after[k] - before[k]).mean()) for k in before if k[-1] == "kernel"})
    return {k: np.mean([s[k] for s in sizes]) for k in sizes[0]}


def main(argv):
    del argv
    data, spec = batches(FLAGS.dataset)
    print(f"first Adam step with epsilon {FLAGS.eps:g} / with 1e-8, mean |change| per kernel ({FLAGS.dataset}):")
    for name in FLAGS.algos:
        big, small = step_sizes(name, FLAGS.eps, data, spec), step_sizes(name, 1e-8, data, spec)
        print(f"  {name}: " + "; ".join(f"{k} {big[k] / small[k]:.2f}" for k in small))


if __name__ == "__main__":
    app.run(main)
