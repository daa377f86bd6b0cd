"""The training loop behind `train_offline.py`: compiled chunks, vmapped seeds, eval, resume.

One compiled call runs `log_interval` updates with `lax.scan` for every seed at once
(`vmap` over the seed axis, the dataset broadcast), sampling batches on device; the state is
donated. The host sees metrics once per chunk, evaluates and checkpoints every
`eval_interval` updates, and resumes from the last checkpoint when re-run on the same workdir.
"""
import csv
import functools
import json
import math
import os
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from algos import ALGOS
from algos.common import StitchError
from algos.evaluation import Evaluator, score
from configs.base import validate
from data.dataset import denormalize_actions, load_dataset

IGNORED_ON_RESUME = ("progress_bar",)  # fields that may differ between a run and its resume


def get_algo(config):
    if config.algo not in ALGOS:
        raise StitchError(f"Unknown algorithm '{config.algo}'. Fix: use one of "
                          f"{', '.join(sorted(ALGOS))} (--config=configs/<algo>.py).")
    return ALGOS[config.algo]


def sample_batch(dataset, rng, batch_size):
    idx = jax.random.randint(rng, (batch_size,), 0, dataset["rewards"].shape[0])
    return jax.tree_util.tree_map(lambda x: x[idx], dataset)


def make_train_chunk(config, algo, num_steps: int):
    """Pure function (carry, dataset) -> (carry, per-step metrics) for ONE seed.

    carry = (algorithm state, rng). The driver vmaps it over seeds and jits it.
    """
    update = functools.partial(algo.update, config)

    def chunk(carry, dataset):
        def body(carry, _):
            state, rng = carry
            rng, sample_rng, update_rng = jax.random.split(rng, 3)
            state, metrics = update(state, sample_batch(dataset, sample_rng, config.batch_size), update_rng)
            return (state, rng), metrics

        return jax.lax.scan(body, carry, None, length=num_steps)

    return chunk


def init_carry(config, algo, spec):
    """Per-seed (state, rng), stacked on a leading seed axis. Seed i = fold_in(seed, i)."""
    def one(i):
        rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), i)
        init_rng, train_rng = jax.random.split(rng)
        return algo.init(config, spec, init_rng), train_rng

    return jax.jit(jax.vmap(one))(jnp.arange(config.num_seeds))


def shard_seeds(carry, dataset, num_seeds):
    """Spread the seed axis over all devices (a 1-d Mesh), the dataset replicated.

    With one device, or a seed count the devices do not divide, everything stays where it is.
    """
    devices = jax.devices()
    if len(devices) == 1 or num_seeds % len(devices):
        return carry, dataset
    mesh = Mesh(np.array(devices), ("seeds",))
    carry = jax.device_put(carry, NamedSharding(mesh, PartitionSpec("seeds")))
    return carry, jax.device_put(dataset, NamedSharding(mesh, PartitionSpec()))


@jax.jit
def _all_finite(tree):
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.stack(leaves).all()


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)  # atomic: a kill never leaves half a file


def _prepare_workdir(config, workdir):
    """Create the workdir, or check that an existing one holds a run of the same config."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    current = json.loads(config.to_json_best_effort())
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        diff = sorted(k for k in set(previous) | set(current)
                      if k not in IGNORED_ON_RESUME and previous.get(k) != current.get(k))
        if diff:
            detail = ", ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in diff)
            raise StitchError(
                f"Workdir {workdir} holds a run with a different config ({detail}); resuming it "
                f"would mix two experiments. Fix: pass a new --workdir, or delete the old one.")
    else:
        _write_json(path, current)


class _MetricsLog:
    """metrics.csv: one row per (chunk, seed); truncated to the resumed step on restart."""

    def __init__(self, path, resume_step):
        self.path, self.fields = path, None
        rows = []
        if os.path.exists(path) and resume_step > 0:
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        if rows:
            self.fields = list(rows[0].keys())
        with open(path, "w", newline="") as f:
            if rows:
                w = csv.DictWriter(f, self.fields)
                w.writeheader()
                w.writerows(rows)

    def write(self, step, metrics):
        num_seeds = len(next(iter(metrics.values())))
        new = self.fields is None
        if new:
            self.fields = ["step", "seed", *sorted(metrics)]
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            if new:
                w.writeheader()
            for s in range(num_seeds):
                w.writerow({"step": step, "seed": s, **{k: f"{float(v[s]):.6g}" for k, v in metrics.items()}})


def _check_finite(metrics, start_step, carry, last_ckpt, workdir):
    """Stop on a NaN/inf metric or parameter, naming the update, the metric and what is kept.

    `last_ckpt` is the update of the last checkpoint written (None: none was written).
    """
    kept = ("Nothing was checkpointed before it (no checkpoint yet)." if last_ckpt is None else
            f"The last good checkpoint (update {last_ckpt}) is kept in {workdir}/checkpoints.")
    fix = ("Fix: lower the learning rates, check the reward scale (--config.reward_transform), or "
           "inspect the data; then train in a new --workdir (this one's config is fixed).")
    for name, values in metrics.items():
        bad = ~np.isfinite(values)  # (steps, seeds)
        if bad.any():
            i, s = np.argwhere(bad)[0]
            raise StitchError(f"Non-finite {name}={values[i, s]} at update {start_step + i + 1} "
                              f"(seed {s}). {kept} {fix}")
    if not bool(_all_finite(carry[0])):
        raise StitchError(
            f"Non-finite parameters after update {start_step + len(next(iter(metrics.values())))}. "
            f"{kept} {fix}")


def _restore_latest(manager, carry, ckpt_dir):
    """(step, restored) of the newest checkpoint that restores, or None when there is none.

    A damaged newest checkpoint (an item missing after a full disk or a partial copy) is moved
    aside to `damaged-<step>` with a warning, and the one before it is used; if none restores,
    nothing is moved and the run stops with a clear error.
    """
    steps = sorted(manager.all_steps(), reverse=True)
    failures = []
    for step in steps:
        try:
            restored = manager.restore(step, args=ocp.args.Composite(
                carry=ocp.args.StandardRestore(carry), meta=ocp.args.JsonRestore()))
        except Exception as err:  # orbax raises KeyError, ValueError, FileNotFoundError, ...
            failures.append((step, f"{type(err).__name__}: {err}"))
            continue
        for bad, why in failures:
            aside = os.path.join(ckpt_dir, f"damaged-{bad}")
            os.replace(os.path.join(ckpt_dir, str(bad)), aside)
            warnings.warn(f"The checkpoint at update {bad} could not be restored ({why}); moved it "
                          f"to {aside} and resuming from update {step} instead.", stacklevel=3)
        if failures:
            manager.reload()
        return step, restored
    if failures:
        raise StitchError(
            f"No checkpoint in {ckpt_dir} could be restored (" + "; ".join(
                f"update {s}: {why}" for s, why in failures) + "). Fix: train in a new --workdir, or "
            f"delete {ckpt_dir} to start this run over.")
    return None


def _check_same_data(saved_io, info, ckpt_dir):
    """Refuse to resume when the dataset changed under its id since the checkpoint was written."""
    now = _policy_io(info)
    for key in ("spec", "obs_mean", "obs_std", "action_low", "action_high"):
        a, b = saved_io.get(key), now[key]
        same = (a is None) == (b is None) and (a is None or (
            len(a) == len(b) and np.allclose(a, b, rtol=1e-6, atol=1e-7)))
        if not same:
            raise StitchError(
                f"The dataset '{info.dataset_id}' differs from the one the checkpoints in {ckpt_dir} "
                f"were trained on ({key} changed): it was re-collected or replaced under the same "
                f"id. Resuming would mix two datasets. Fix: train in a new --workdir.")


def train_and_evaluate(config, workdir):
    """Train `config.algo` on `config.dataset`; write outputs to `workdir`; return results."""
    problems = validate(config)
    if problems:
        raise StitchError("Invalid config:\n  " + "\n  ".join(problems))
    algo = get_algo(config)
    # Everything that can fail on bad input happens before the workdir is touched.
    dataset, info = load_dataset(config, algo.DISCRETE_ACTIONS)
    evaluator = None
    if config.eval_episodes > 0 and info.env_spec is None:
        warnings.warn(f"Dataset '{config.dataset}' records no environment spec: training "
                      f"without evaluation (final_return will be null).", stacklevel=2)
    elif config.eval_episodes > 0:
        try:
            evaluator = Evaluator(algo, config, info, config.num_seeds, config.eval_episodes)
        except StitchError:
            raise
        except Exception as err:  # e.g. the env's package is not installed here
            warnings.warn(f"Could not build the evaluation env {info.env_spec.id!r} "
                          f"({type(err).__name__}: {err}): training without evaluation.",
                          stacklevel=2)

    try:
        _prepare_workdir(config, workdir)
    except StitchError:
        if evaluator is not None:
            evaluator.close()
        raise
    ckpt_dir = os.path.abspath(os.path.join(workdir, "checkpoints"))
    manager = ocp.CheckpointManager(
        ckpt_dir, item_names=("carry", "meta"),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False))

    carry = init_carry(config, algo, info.spec)
    carry, dataset = shard_seeds(carry, dataset, config.num_seeds)
    step, history, train_time = 0, [], 0.0
    start = time.perf_counter()
    restored = _restore_latest(manager, carry, ckpt_dir)
    if restored is not None:
        step, restored = restored
        _check_same_data(restored.meta["policy_io"], info, ckpt_dir)
        carry, history, train_time = restored.carry, restored.meta["eval"], restored.meta["train_time"]
        carry, _ = shard_seeds(carry, dataset, config.num_seeds)
        print(f"Resuming from the checkpoint at update {step} in {ckpt_dir}.")
    log = _MetricsLog(os.path.join(workdir, "metrics.csv"), step)

    chunk_fns, compile_time = {}, 0.0

    def compiled_chunk(n, carry):
        """Ahead-of-time compiled chunk of n updates (timed apart from training)."""
        nonlocal compile_time
        if n not in chunk_fns:
            t0 = time.perf_counter()
            fn = jax.jit(jax.vmap(make_train_chunk(config, algo, n), in_axes=(0, None)),
                         donate_argnums=0)
            chunk_fns[n] = fn.lower(carry, dataset).compile()
            compile_time += time.perf_counter() - t0
        return chunk_fns[n]

    def evaluate_and_save(step, carry):
        if evaluator is not None:
            # A fresh seed per evaluation (the k-th uses k), also for a final one off the interval.
            returns = evaluator(carry[0], seed=config.seed + 1_000_003 * (len(history) + 1))
            history.append({"step": step, "return": [float(r) for r in returns],
                            "normalized_score": score(returns, info)})
        if config.checkpoint:
            manager.save(step, args=ocp.args.Composite(
                carry=ocp.args.StandardSave(carry),
                meta=ocp.args.JsonSave({"eval": history, "train_time": train_time,
                                        "policy_io": _policy_io(info)})))

    try:
        last_ckpt = step if step > 0 else None
        bar = tqdm(total=config.num_updates, initial=step, disable=not config.progress_bar,
                   desc=f"{config.algo}", unit="upd")
        while step < config.num_updates:
            n = min(config.log_interval, config.num_updates - step)
            fn = compiled_chunk(n, carry)
            t0 = time.perf_counter()
            carry, metrics = fn(carry, dataset)
            metrics = jax.device_get(metrics)  # one host sync per chunk
            elapsed = time.perf_counter() - t0
            # Per-step metrics arrive as (seeds, steps): transpose, check every step, log the mean.
            metrics = {k: np.asarray(v).T for k, v in metrics.items()}
            _check_finite(metrics, step, carry, last_ckpt, workdir)
            train_time += elapsed
            step += n
            log.write(step, {k: v.mean(0) for k, v in metrics.items()})
            bar.update(n)
            if step % config.eval_interval == 0 or step == config.num_updates:
                evaluate_and_save(step, carry)
                last_ckpt = step if config.checkpoint else last_ckpt
                if history:
                    last = history[-1]
                    bar.set_postfix(score=_fmt(last["normalized_score"] or last["return"]))
        bar.close()
    finally:  # on errors too: no leaked env processes, no half-finished checkpoint writes
        if evaluator is not None:
            evaluator.close()
        manager.wait_until_finished()
        manager.close()

    final = history[-1] if history else None
    results = {
        "algo": config.algo,
        "dataset": config.dataset,
        "env_id": getattr(info.env_spec, "id", None),
        "num_updates": config.num_updates,
        "num_seeds": config.num_seeds,
        "seed": config.seed,
        "eval_episodes": config.eval_episodes if evaluator is not None else 0,
        "final_return": final["return"] if final else None,
        "final_normalized_score": final["normalized_score"] if final else None,
        "eval": history,
        "behaviour_return": info.behaviour_return,
        "behaviour_normalized_score": None if info.behaviour_score is None else float(info.behaviour_score),
        "updates_per_second": config.num_updates / train_time if train_time > 0 else None,
        "train_time_s": train_time,  # compiled training chunks only (over resumes too)
        "compile_time_s": compile_time,
        "num_transitions": info.num_transitions,
        "num_episodes": info.num_episodes,
        "ref_min_score": info.ref_min_score,
        "ref_max_score": info.ref_max_score,
    }
    results["wall_time_s"] = time.perf_counter() - start  # this invocation: load, compile, eval
    _write_json(os.path.join(workdir, "results.json"), results)
    print(summary(results))
    return results


def _policy_io(info):
    """What acting from a checkpoint needs besides the state: spec, normaliser, bounds."""
    as_list = lambda x: None if x is None else [float(v) for v in np.ravel(x)]
    return {"spec": list(info.spec), "obs_mean": as_list(info.obs_mean),
            "obs_std": as_list(info.obs_std), "action_low": as_list(info.action_low),
            "action_high": as_list(info.action_high)}


def restore(workdir, step=None):
    """Load (config, carry, meta) of a stitch run's checkpoint (the latest by default)."""
    import ml_collections
    from algos.common import Spec

    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise StitchError(f"{workdir} is not a stitch workdir (no config.json). Fix: pass the "
                          f"--workdir of a finished or checkpointed training run.")
    with open(path) as f:
        config = ml_collections.ConfigDict(json.load(f))
    if "hidden_dims" in config:
        config.hidden_dims = tuple(config.hidden_dims)
    manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                                    item_names=("carry", "meta"))
    step = manager.latest_step() if step is None else step
    if step is None:
        raise StitchError(f"No checkpoint in {workdir}/checkpoints. Fix: train with "
                          f"config.checkpoint=True first.")
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    algo = get_algo(config)
    target = init_carry(config, algo, Spec(*meta["policy_io"]["spec"]))
    carry = manager.restore(step, args=ocp.args.Composite(carry=ocp.args.StandardRestore(target))).carry
    manager.close()
    return config, carry, meta


def load_policy(workdir, seed_index: int = 0):
    """A host policy(obs, rng, episode) -> env action from a trained checkpoint (for collection)."""
    config, carry, meta = restore(workdir)
    algo, io = get_algo(config), meta["policy_io"]
    state = jax.tree_util.tree_map(lambda x: x[seed_index], carry[0])
    act = jax.jit(functools.partial(algo.act, config, deterministic=True))
    mean, std = np.asarray(io["obs_mean"]), np.asarray(io["obs_std"])
    low = None if io["action_low"] is None else np.asarray(io["action_low"])
    high = None if io["action_high"] is None else np.asarray(io["action_high"])

    def policy(obs, rng, episode):
        norm = ((np.asarray(obs, np.float64) - mean) / std).astype(np.float32)[None]
        action = np.asarray(act(state, norm, jax.random.PRNGKey(int(rng.integers(2**31)))))[0]
        return int(action) if low is None else denormalize_actions(action, low, high)

    return policy


def _fmt(values):
    return f"{np.mean(values):.1f}" if values is not None else "n/a"


def summary(results) -> str:
    """The readable closing lines of a run."""
    lines = [f"\n{results['algo']} on {results['dataset']} ({results['env_id'] or 'no env'}): "
             f"{results['num_seeds']} seed(s) x {results['num_updates']} updates, "
             f"{results['updates_per_second']:.0f} updates/s per seed (all seeds in one program)"]
    if results["final_return"] is None:
        lines.append("  no evaluation (no environment spec or eval_episodes=0)")
    else:
        scores = results["final_normalized_score"] or [None] * results["num_seeds"]
        lines.append("  seed   return   normalised score")
        for s, (r, n) in enumerate(zip(results["final_return"], scores)):
            lines.append(f"  {s:>4} {r:>8.1f}   {'n/a' if n is None else f'{n:.1f}'}")
        mean_n = "n/a" if results["final_normalized_score"] is None else \
            f"{np.mean(scores):.1f} ± {np.std(scores):.1f}"
        lines.append(f"  mean {np.mean(results['final_return']):>8.1f}   {mean_n}")
    b = results["behaviour_normalized_score"]
    lines.append(f"  behaviour data: return {results['behaviour_return']:.1f}, normalised score "
                 f"{'n/a' if b is None else f'{b:.1f}'}")
    return "\n".join(lines)
