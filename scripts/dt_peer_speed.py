"""Decision Transformer's training speed, stitch against d3rlpy, at the same model size and batch.

Run each side in its own venv, one after the other, pinned to the same core (issue 16's
side-by-side; BENCHMARKS.md has the figures):

    taskset -c 1 python scripts/dt_peer_speed.py stitch --updates=2000
    taskset -c 1 ../peers/d3rlpy-venv/bin/python scripts/dt_peer_speed.py d3rlpy --updates=2000

Both train on the built-in Pendulum data (`stitch/pendulum/mixed-v0`, made by any stitch run)
with the `:pendulum` sizes (configs/dt.py; d3rlpy's through scripts/peer_d3rlpy.dt_config), one
seed, one thread where the library allows. Each times `--updates` updates after a compiling or
warming `--warmup`, batch sampling included, and prints one JSON line of updates per second.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from discrete_peer_speed import scan_rate  # noqa: E402  (the stitch side's timer, shared)

DATASET = "stitch/pendulum/mixed-v0"


def stitch(updates, warmup):
    import jax
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from algos import dt
    from algos.common import Spec
    from configs.dt import get_config
    from data import samplers
    from data.dataset import load_dataset
    config = get_config("pendulum")
    config.batch_size = 64
    data, info = load_dataset(config, actions="both", samplers=(samplers.windows,))
    state = dt.init(config, info.spec, jax.random.PRNGKey(0), dt.prepare(config, data, info))

    return scan_rate(lambda s, batch, rng: dt.update(config, s, batch, rng), state,
                     lambda rng: samplers.sample(samplers.windows, config, data, rng), updates, warmup)


def d3rlpy_side(updates, warmup):
    from peer_d3rlpy import dt_config, fit_rate
    return fit_rate(dt_config(DATASET), DATASET, updates, warmup)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=["stitch", "d3rlpy"])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    rate = (stitch if args.side == "stitch" else d3rlpy_side)(args.updates, args.warmup)
    print(json.dumps({"side": args.side, "algo": "dt", "dataset": DATASET, "updates": args.updates,
                      "updates_per_s": round(rate, 2)}), flush=True)


if __name__ == "__main__":
    main()
