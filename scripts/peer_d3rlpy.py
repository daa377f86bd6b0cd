"""d3rlpy's training throughput at stitch's paper network sizes (the peer side of
`scripts/benchmark.py peer`). Runs in d3rlpy's own virtual environment, never stitch's:

    python3 -m venv ../peers/d3rlpy-venv && ../peers/d3rlpy-venv/bin/pip install torch==2.13.0 d3rlpy
    ../peers/d3rlpy-venv/bin/python scripts/peer_d3rlpy.py --algos=iql,cql --seconds=10

Each algorithm is built with the same hidden layers, batch size and critic count as
`configs/<algo>.py` (listed in SIZES below), on hopper-shaped random data (11-d observations,
3-d actions, 100k transitions), and `fit` is timed for at least `--seconds` after a warm-up: what a
d3rlpy user gets per update, replay-buffer sampling included. Prints one JSON line per algorithm.
Imports neither jax nor stitch.
"""
import argparse
import json
import os
import time

import numpy as np

# stitch's paper sizes (configs/<algo>.py): hidden layers of actor and critics, batch, critics.
SIZES = {
    "bc": dict(hidden=[256, 256], batch=256),
    "td3_bc": dict(hidden=[256, 256], batch=256),
    "iql": dict(hidden=[256, 256], batch=256),
    "awac": dict(hidden=[256, 256, 256], batch=256),
    "cql": dict(hidden=[256, 256, 256], batch=256),
    "sac_n": dict(hidden=[256, 256, 256], batch=256, critics=10),
    "rebrac": dict(hidden=[256, 256, 256], batch=1024),
}


def make_config(name):
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory

    size = SIZES[name]
    enc = VectorEncoderFactory(size["hidden"])
    common = dict(batch_size=size["batch"])
    if name == "bc":  # stitch's BC: deterministic MSE policy
        return d3rlpy.algos.BCConfig(encoder_factory=enc, policy_type="deterministic",
                                     learning_rate=3e-4, **common)
    if name == "td3_bc":
        return d3rlpy.algos.TD3PlusBCConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                            alpha=2.5, update_actor_interval=2, **common)
    if name == "iql":
        return d3rlpy.algos.IQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      value_encoder_factory=enc, expectile=0.7, weight_temp=3.0,
                                      **common)
    if name == "awac":
        return d3rlpy.algos.AWACConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                       n_action_samples=1, **common)
    if name == "cql":  # stitch's default: fixed weight (no Lagrange), 10 samples per proposal
        return d3rlpy.algos.CQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      n_action_samples=10, alpha_learning_rate=0.0,
                                      conservative_weight=5.0, **common)
    if name == "sac_n":  # SAC-N is SAC with N critics
        return d3rlpy.algos.SACConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      n_critics=size["critics"], **common)
    if name == "rebrac":  # LayerNorm critics, as stitch's
        critic = VectorEncoderFactory(size["hidden"], use_layer_norm=True)
        return d3rlpy.algos.ReBRACConfig(actor_encoder_factory=enc, critic_encoder_factory=critic,
                                         **common)
    raise ValueError(f"d3rlpy has no counterpart of '{name}' here; use one of {sorted(SIZES)}.")


def hopper_shaped_dataset(n=100_000, episode=1000, seed=0):
    import d3rlpy
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(n, np.float32)
    timeouts[episode - 1::episode] = 1.0
    return d3rlpy.dataset.MDPDataset(
        observations=rng.normal(size=(n, 11)).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        terminals=np.zeros(n, np.float32), timeouts=timeouts)


def updates_per_s(name, dataset, steps, seconds, warmup):
    """`fit` in calls of `steps` updates, timed until `seconds` have passed (after a warm-up)."""
    from d3rlpy.logging import NoopAdapterFactory
    algo = make_config(name).create(device="cpu:0")
    fit = dict(logger_adapter=NoopAdapterFactory(), show_progress=False, save_interval=10 ** 9)
    algo.fit(dataset, n_steps=warmup, n_steps_per_epoch=warmup, **fit)
    done, t0 = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - t0 < seconds:
        algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, **fit)
        done += steps
    return done / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", default=",".join(SIZES))
    parser.add_argument("--steps", type=int, default=25, help="updates per timed fit call")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per algorithm")
    parser.add_argument("--warmup", type=int, default=20, help="untimed updates first")
    args = parser.parse_args()
    import d3rlpy
    import torch
    dataset = hopper_shaped_dataset()
    for name in args.algos.split(","):
        row = {"algo": name, "d3rlpy": d3rlpy.__version__, "torch": torch.__version__,
               "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), **SIZES[name],
               "updates_per_s": updates_per_s(name, dataset, args.steps, args.seconds, args.warmup)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
