"""The discrete family's training speed, stitch against d3rlpy, at the side by side's settings.

Run each side in its own venv, one after the other, pinned to the same core (issue 17's
side-by-side; BENCHMARKS.md has the figures):

    MINARI_DATASETS_PATH=$PWD/runs/minari taskset -c 1 python scripts/discrete_peer_speed.py stitch
    MINARI_DATASETS_PATH=$PWD/runs/minari taskset -c 1 ../peers/d3rlpy-venv/bin/python \
        scripts/discrete_peer_speed.py d3rlpy

Both train on `--dataset` (made by scripts/discrete_suite.py) with scripts/peer_d3rlpy.DISCRETE's
settings (256x256 MLPs, batch 32, Adam 6.25e-5, target copies every 1000 updates, z-scored
observations), one seed, one thread where the library allows. Each times `--updates` updates
after a compiling or warming `--warmup`, batch sampling included, and prints one JSON line of
updates per second per algorithm. stitch's NFQ is `fqi` with a target copy every update and the
Huber loss (d3rlpy's NFQ).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_d3rlpy import DISCRETE, DISCRETE_ALGOS  # noqa: E402

STITCH_NAME = {"nfq": "fqi"}


def stitch_overrides(name):
    """stitch's config fields for the side by side's settings (peer_d3rlpy.DISCRETE)."""
    fields = dict(hidden_dims=tuple(DISCRETE["hidden"]), batch_size=DISCRETE["batch"], critic_lr=DISCRETE["lr"],
                  adam_eps=1e-8, target_update_interval=DISCRETE["target_update_interval"], observation_transform="zscore")
    if name == "bcq_discrete":
        fields.update(behaviour_hidden_dims=tuple(DISCRETE["hidden"]), behaviour_lr=DISCRETE["lr"])
    if name == "nfq":
        fields.update(target_update_interval=1, td_loss="huber")
    return fields


def stitch(name, dataset, updates, warmup):
    import importlib
    import jax
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from algos import get_algo
    from data import samplers
    from data.dataset import load_dataset
    algo_name = STITCH_NAME.get(name, name)
    config = importlib.import_module(f"configs.{algo_name}").get_config()
    config.update(dict(dataset=dataset, **stitch_overrides(name)))
    algo = get_algo(algo_name)
    data, info = load_dataset(config, actions="discrete")
    state = algo.init(config, info.spec, jax.random.PRNGKey(0))

    return scan_rate(lambda s, batch, rng: algo.update(config, s, batch, rng), state,
                     lambda rng: samplers.sample(samplers.transitions, config, data, rng), updates, warmup)


def scan_rate(update, state, sample, updates, warmup):
    """stitch's updates per second: `update(state, batch, rng)` on `sample(rng)`'s batches in one
    jitted lax.scan, compiled (and warmed for `warmup` updates) before `updates` are timed. The
    speed scripts' stitch side."""
    import jax

    def many(state, key, n):
        def body(s, k):
            sample_rng, update_rng = jax.random.split(k)
            s, metrics = update(s, sample(sample_rng), update_rng)
            return s, metrics
        return jax.lax.scan(body, state, jax.random.split(key, n))
    run = jax.jit(many, static_argnums=2)
    state, _ = run(state, jax.random.PRNGKey(1), warmup)
    jax.block_until_ready(state)
    jax.block_until_ready(run(state, jax.random.PRNGKey(2), updates))  # compile the timed length too
    tick = time.perf_counter()
    state, metrics = run(state, jax.random.PRNGKey(3), updates)
    jax.block_until_ready(metrics)
    return updates / (time.perf_counter() - tick)


def d3rlpy_side(name, dataset, updates, warmup):
    from peer_d3rlpy import discrete_config, fit_rate
    return fit_rate(discrete_config(name), dataset, updates, warmup)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=["stitch", "d3rlpy"])
    parser.add_argument("--algos", default=",".join(DISCRETE_ALGOS))
    parser.add_argument("--dataset", default="stitch/cartpole/noisy-v0")
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    for name in args.algos.split(","):
        rate = (stitch if args.side == "stitch" else d3rlpy_side)(name, args.dataset, args.updates, args.warmup)
        print(json.dumps({"side": args.side, "algo": name, "dataset": args.dataset, "updates": args.updates,
                          "updates_per_s": round(rate, 1)}), flush=True)


if __name__ == "__main__":
    main()
