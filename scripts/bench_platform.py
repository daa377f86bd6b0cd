"""Platform benchmarks: sweeps in one program, dataset memory, and no regression vs an old checkout.

  # (a) a 4-point grid x 3 seeds: one vmapped program vs the 12 runs one after another, end to end
  MINARI_DATASETS_PATH=../shared/datasets python scripts/bench_platform.py grid --num_updates=2000
  # (b) device bytes of a 1M-transition MinAtar-shaped uint8 dataset and of 100k Hopper transitions
  MINARI_DATASETS_PATH=../shared/datasets python scripts/bench_platform.py memory
  # (c) an older checkout vs this one: final returns of every algorithm (fixed seed, short run)
  #     and IQL's compiled-chunk updates/s, interleaved rounds in one invocation
  git worktree add /tmp/old <commit>
  MINARI_DATASETS_PATH=../shared/datasets python scripts/bench_platform.py regression --old=/tmp/old

Every ratio is measured against a baseline taken in the same run.
"""
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_string("dataset", "bench/hopper/medium-replay-v0", "Minari id (grid, regression)")
    flags.DEFINE_integer("num_updates", 2000, "updates per run (grid)")
    flags.DEFINE_string("algo", "iql", "algorithm (grid)")
    flags.DEFINE_string("sweep", "expectile=0.7,0.9 temperature=3,10", "the grid (grid)")
    flags.DEFINE_integer("num_seeds", 3, "seeds per grid point (grid)")
    flags.DEFINE_integer("transitions", 1_000_000, "size of the MinAtar-shaped dataset (memory)")
    flags.DEFINE_string("old", None, "checkout of the code to compare against (regression)")
    flags.DEFINE_integer("rounds", 3, "interleaved throughput rounds per version (regression)")
    flags.DEFINE_bool("skip_returns", False, "regression: only the throughput part")
    flags.DEFINE_string("out", None, "write the figures as JSON here")

ALGOS = ("bc", "td3_bc", "iql", "cql", "sac_n", "edac", "rebrac", "awac")


def train(code_dir, workdir, algo, dataset, **fields):
    """One train_offline.py run of the checkout `code_dir`; its results.json and wall time."""
    args = [sys.executable, os.path.join(code_dir, "train_offline.py"), f"--config={code_dir}/configs/{algo}.py",
            f"--config.dataset={dataset}", "--config.progress_bar=False", f"--workdir={workdir}"]
    args += [f"--config.{k}={v}" for k, v in fields.items()]
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=code_dir, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f), wall


def grid():
    fields = dict(num_updates=FLAGS.num_updates, log_interval=FLAGS.num_updates // 2,
                  eval_interval=FLAGS.num_updates, eval_episodes=5, checkpoint=False)
    fields_values = [kv.split("=") for kv in FLAGS.sweep.split()]
    points = [dict(zip([f for f, _ in fields_values], vals))
              for vals in itertools.product(*[v.split(",") for _, v in fields_values])]
    with tempfile.TemporaryDirectory() as tmp:
        together, wall_together = train(REPO, f"{tmp}/grid", FLAGS.algo, FLAGS.dataset,
                                        num_seeds=FLAGS.num_seeds, sweep=FLAGS.sweep, **fields)
        wall_sequential, sequential = 0.0, []
        for g, point in enumerate(points):
            for s in range(FLAGS.num_seeds):
                # A lone invocation per run, with base seed s (its own random stream): what a
                # user without the run axis would launch, timed end to end.
                res, wall = train(REPO, f"{tmp}/seq{g}_{s}", FLAGS.algo, FLAGS.dataset, num_seeds=1,
                                  seed=s, **point, **fields)
                wall_sequential += wall
                sequential.append(res["final_normalized_score"][0])
    n = len(points) * FLAGS.num_seeds
    out = {"runs": n, "num_updates": FLAGS.num_updates, "wall_one_program_s": wall_together,
           "wall_sequential_s": wall_sequential, "speedup": wall_sequential / wall_together,
           "one_program_train_s": together["train_time_s"], "one_program_compile_s": together["compile_time_s"],
           "mean_score_one_program": float(np.mean(together["final_normalized_score"])),
           "mean_score_sequential": float(np.mean(sequential))}
    print(f"{n} runs ({len(points)} grid points x {FLAGS.num_seeds} seeds) of {FLAGS.algo}, "
          f"{FLAGS.num_updates} updates each, end to end: one program {wall_together:.1f} s, "
          f"one after another {wall_sequential:.1f} s: {out['speedup']:.2f}x")
    return out


def memory():
    import jax
    import minari
    from configs.bc import get_config
    from data.dataset import load_dataset
    from tests.conftest import make_dataset
    import gymnasium as gym

    def device_bytes(data):
        return sum(x.nbytes for x in jax.tree_util.tree_leaves(data))

    out = {}
    n, length = FLAGS.transitions, 1000
    dataset_id = f"stitch-bench/minatar-shaped/random-{n}-v0"
    if not os.path.exists(os.path.join(minari.storage.get_dataset_path(dataset_id), "data")):
        rng = np.random.default_rng(0)
        episodes = []
        for _ in range(n // length):
            term = np.zeros(length, bool)
            trunc = np.zeros(length, bool)
            trunc[-1] = True
            episodes.append({"observations": (rng.random((length + 1, 10, 10, 4)) < 0.1).astype(np.uint8),
                             "actions": rng.integers(0, 6, length), "rewards": rng.random(length),
                             "terminations": term, "truncations": trunc})
        make_dataset(dataset_id, episodes, env=None, ref_scores=False,
                     action_space=gym.spaces.Discrete(6),
                     observation_space=gym.spaces.Box(0, 1, (10, 10, 4), np.uint8))
    ds = minari.load_dataset(dataset_id)
    raw = sum(ep.observations.nbytes + ep.actions.nbytes + ep.rewards.nbytes + ep.terminations.nbytes
              + ep.truncations.nbytes for ep in ds.iterate_episodes())
    config = get_config()
    config.dataset, config.observation_transform = dataset_id, "none"
    t0 = time.perf_counter()
    data, _ = load_dataset(config, "discrete")
    jax.block_until_ready(data)
    out["minatar_shaped"] = {"transitions": n, "raw_numpy_bytes": raw, "device_bytes": device_bytes(data),
                             "observation_dtype": str(data["observations"].dtype),
                             "load_s": time.perf_counter() - t0,
                             "per_column": {k: int(v.nbytes) for k, v in data.items()}}
    config = get_config()
    config.dataset = "bench/hopper/medium-v0"
    ds = minari.load_dataset(config.dataset)
    raw = sum(ep.observations.nbytes + ep.actions.nbytes + ep.rewards.nbytes + ep.terminations.nbytes
              + ep.truncations.nbytes for ep in ds.iterate_episodes())
    data, _ = load_dataset(config)
    out["hopper_medium"] = {"transitions": int(data["rewards"].shape[0]), "raw_numpy_bytes": raw,
                            "device_bytes": device_bytes(data),
                            "per_column": {k: int(v.nbytes) for k, v in data.items()}}
    for name, row in out.items():
        print(f"{name}: {row['transitions']} transitions, raw {row['raw_numpy_bytes'] / 2**20:.1f} MiB, "
              f"on device {row['device_bytes'] / 2**20:.1f} MiB ({row['device_bytes'] / row['raw_numpy_bytes']:.2f}x)")
    return out


def regression():
    if not FLAGS.old:
        raise SystemExit("--old=<checkout to compare against> is required")
    short = dict(num_seeds=1, num_updates=400, log_interval=200, eval_interval=400, eval_episodes=3)
    out = {"returns": {}, "throughput": {"old": [], "new": []}}
    with tempfile.TemporaryDirectory() as tmp:
        for algo in () if FLAGS.skip_returns else ALGOS:
            old, _ = train(FLAGS.old, f"{tmp}/old_{algo}", algo, FLAGS.dataset, **short)
            new, _ = train(REPO, f"{tmp}/new_{algo}", algo, FLAGS.dataset, **short)
            out["returns"][algo] = {"old": old["final_return"], "new": new["final_return"],
                                    "identical": old["final_return"] == new["final_return"]}
            print(f"{algo:7s} old {old['final_return']} new {new['final_return']} "
                  f"{'identical' if old['final_return'] == new['final_return'] else 'DIFFERENT'}")
    for r in range(FLAGS.rounds):  # interleaved, so drifts in machine load hit both alike
        for version, code in (("old", FLAGS.old), ("new", REPO)):
            proc = subprocess.run([sys.executable, "-c", CHUNK_TIMING], cwd=code, capture_output=True,
                                  text=True)
            if proc.returncode:
                raise SystemExit(proc.stderr[-3000:])
            out["throughput"][version].append(float(proc.stdout.split()[-1]))
    if not FLAGS.rounds:
        return out
    old, new = (np.median(out["throughput"][v]) for v in ("old", "new"))
    out["throughput"]["ratio_new_over_old"] = new / old
    print(f"IQL compiled-chunk updates/s (each the best of 5 chunks of 1000 updates; median of "
          f"{FLAGS.rounds} interleaved rounds): old {old:.1f}, new {new:.1f}, new/old {new / old:.3f}")
    return out


# IQL at paper sizes (batch 256, 2x256), one run, a 100k-transition dataset, through either
# checkout's own driver: the API before the platform change (algos/runs.py absent) or after.
CHUNK_TIMING = """
import os, time
import jax, jax.numpy as jnp, numpy as np
from algos import ALGOS
from configs.iql import get_config
rng = np.random.default_rng(0)
n = 100_000
data = {"observations": rng.normal(size=(n, 11)), "actions": rng.uniform(-1, 1, (n, 3)),
        "rewards": rng.normal(size=n), "next_observations": rng.normal(size=(n, 11)),
        "next_actions": rng.uniform(-1, 1, (n, 3)), "terminals": (rng.random(n) < 0.01) * 1.0,
        "episode_ends": np.zeros(n)}
data = {k: np.asarray(v, np.float32) for k, v in data.items()}
config = get_config()
config.num_seeds = 1
if os.path.exists("algos/runs.py"):
    from algos.common import Spec, contract
    from algos.runs import init_runs
    from algos.trainer import make_train_chunk
    from data.dataset import share_frames  # the layout load_dataset gives the driver
    data = {k: jnp.asarray(v) for k, v in share_frames(data).items()}
    algo = contract(ALGOS["iql"])
    carry, hparams = init_runs(config, algo, Spec((11,), "float32", 3, False), [{}]), {}
    chunk = jax.jit(jax.vmap(make_train_chunk(config, algo.phases[0], 1000), in_axes=(0, 0, None)),
                    donate_argnums=0)
    step = lambda carry: chunk(carry, hparams, data)
else:
    from algos.common import Spec
    from algos.trainer import init_carry, make_train_chunk
    data = {k: jnp.asarray(v) for k, v in data.items()}
    carry = init_carry(config, ALGOS["iql"], Spec(11, 3, False))
    chunk = jax.jit(jax.vmap(make_train_chunk(config, ALGOS["iql"], 1000), in_axes=(0, None)),
                    donate_argnums=0)
    step = lambda carry: chunk(carry, data)
carry, m = step(carry)
jax.block_until_ready(m)
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter()
    carry, m = step(carry)
    jax.block_until_ready(m)
    best = min(best, time.perf_counter() - t0)
print(1000 / best)
"""


def main(argv):
    command = argv[1] if len(argv) > 1 else None
    commands = {"grid": grid, "memory": memory, "regression": regression}
    if command not in commands:
        raise SystemExit(f"usage: bench_platform.py {{{'|'.join(commands)}}} [flags]")
    out = commands[command]()
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    define_flags()
    app.run(main)
