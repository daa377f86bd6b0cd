"""A run's workdir: config.json, metrics.csv, results.json, checkpoints/ (orbax), and resume.

Also what reads a finished workdir back: `restore` (config, carry, meta of a checkpoint) and
`load_policy` (a host policy from a checkpoint, for scripts/collect.py).
"""
import csv
import fcntl
import functools
import json
import os
import warnings

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from algos import get_algo
from algos.common import Spec, StitchError, contract
from algos.runs import bind, init_runs, parse_sweep, process_share, run_table
from data.dataset import DataInfo, denormalize_actions, observations_for_policy

IGNORED_ON_RESUME = ("progress_bar",)  # fields that may differ between a run and its resume


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)  # atomic: a kill never leaves half a file


class WorkdirLock:
    """An exclusive lock on a workdir for a run's life: `fcntl.flock` on `workdir/.lock`.

    The kernel drops a flock when its process ends, however it ends (kill -9 included), so the
    lock of a killed run is simply taken over by the next; the file keeps the holder's pid for
    the message a second, concurrent run gets.
    """

    def __init__(self, workdir):
        os.makedirs(workdir, exist_ok=True)
        self.fd = os.open(process_file(workdir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise StitchError(
                f"Workdir {workdir} is in use by another stitch run (pid {holder}); two runs on one "
                f"workdir would corrupt its checkpoints and metrics. Fix: wait for that run to "
                f"finish (or stop it), or pass a new --workdir.") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def prepare_workdir(config, workdir):
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
        write_json(path, current)


class MetricsLog:
    """metrics.csv: one row per (chunk, run), with its phase, seed and grid values.

    `columns` are every metric any phase logs (a phase leaves the others' cells empty);
    `runs` is a list of (seed index, {grid field: value}) per run, the first numbered `first_run`
    (a process's share under jax.distributed). On resume the file is cut
    back to the rows at or before the resumed position `(phase index, step in phase)`.
    """

    def __init__(self, path, phase_names, resume_at, runs, columns, first_run=0):
        self.path, self.runs, self.first_run = path, runs, first_run
        grid_fields = list(runs[0][1]) if runs else []
        self.fields = ["phase", "step", "run", "seed", *grid_fields, *sorted(columns)]
        order = {name: i for i, name in enumerate(phase_names)}
        rows = []
        if os.path.exists(path) and resume_at > (0, 0):
            with open(path) as f:
                rows = [r for r in csv.DictReader(f)
                        if (order[r["phase"]], int(r["step"])) <= resume_at]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(rows)

    def write(self, phase, step, metrics):
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            for r, (seed, grid) in enumerate(self.runs):
                w.writerow({"phase": phase, "step": step, "run": self.first_run + r, "seed": seed, **grid,
                            **{k: f"{float(v[r]):.6g}" for k, v in metrics.items()}})


def checkpoint_dir(workdir):
    """checkpoints/, or checkpoints/process-<i>/ for each process under jax.distributed (each
    holds its own share of the runs)."""
    ckpt_dir = os.path.abspath(os.path.join(workdir, "checkpoints"))
    if jax.process_count() > 1:
        ckpt_dir = os.path.join(ckpt_dir, f"process-{jax.process_index()}")
    return ckpt_dir


def process_file(workdir, name):
    """workdir/name, or name.process-<i>.<ext> for each process under jax.distributed."""
    if jax.process_count() > 1:
        stem, ext = os.path.splitext(name)
        name = f"{stem}.process-{jax.process_index()}{ext}"
    return os.path.join(workdir, name)


def checkpoint_manager(workdir):
    options = dict(max_to_keep=2, enable_async_checkpointing=False)
    if jax.process_count() > 1:
        # Every process checkpoints its own runs into its own folder: no cross-process barriers.
        index = jax.process_index()
        options["multiprocessing_options"] = ocp.options.MultiprocessingOptions(
            primary_host=index, active_processes={index}, barrier_sync_key_prefix=f"process-{index}")
        options["create"] = False  # orbax cannot create it in this mode: we do
        os.makedirs(checkpoint_dir(workdir), exist_ok=True)
    return ocp.CheckpointManager(checkpoint_dir(workdir), item_names=("carry", "meta"),
                                 options=ocp.CheckpointManagerOptions(**options))


def _host_local(carry):
    """Under jax.distributed each process's arrays are its own (not one global array), which
    orbax will not serialise as jax.Arrays: they are saved and restored as numpy instead."""
    return jax.device_get(carry) if jax.process_count() > 1 else carry


def _to_device(carry):
    return jax.tree_util.tree_map(jax.numpy.asarray, carry) if jax.process_count() > 1 else carry


def save_checkpoint(manager, step, carry, meta):
    manager.save(step, args=ocp.args.Composite(carry=ocp.args.StandardSave(_host_local(carry)),
                                               meta=ocp.args.JsonSave(meta)))


def restore_latest(manager, carry, ckpt_dir):
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
                carry=ocp.args.StandardRestore(_host_local(carry)), meta=ocp.args.JsonRestore()))
            if jax.process_count() > 1:
                restored = ocp.args.Composite(carry=_to_device(restored.carry), meta=restored.meta)
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


def policy_io(info: DataInfo):
    """What acting from a checkpoint needs besides the state: spec, observation transform, bounds."""
    as_list = lambda x: None if x is None else [float(v) for v in np.ravel(x)]
    return {"spec": info.spec.to_json(), "observation_transform": info.observation_transform,
            "obs_mean": as_list(info.obs_mean), "obs_std": as_list(info.obs_std),
            "action_low": as_list(info.action_low), "action_high": as_list(info.action_high)}


def check_same_data(saved_io, info, ckpt_dir):
    """Refuse to resume when the dataset changed under its id since the checkpoint was written."""
    now = policy_io(info)
    for key in ("spec", "observation_transform", "obs_mean", "obs_std", "action_low", "action_high"):
        a, b = saved_io.get(key), now[key]
        if isinstance(b, list) and isinstance(a, list):
            same = len(a) == len(b) and np.allclose(a, b, rtol=1e-6, atol=1e-7)
        else:
            same = a == b
        if not same:
            raise StitchError(
                f"The dataset '{info.dataset_id}' differs from the one the checkpoints in {ckpt_dir} "
                f"were trained on ({key} changed): it was re-collected or replaced under the same "
                f"id. Resuming would mix two datasets. Fix: train in a new --workdir.")


def load_config(workdir):
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise StitchError(f"{workdir} is not a stitch workdir (no config.json). Fix: pass the "
                          f"--workdir of a finished or checkpointed training run.")
    with open(path) as f:
        config = ml_collections.ConfigDict(json.load(f))
    if "hidden_dims" in config:
        config.hidden_dims = tuple(config.hidden_dims)
    return config


def restore(workdir, step=None, aux=None):
    """Load (config, carry, meta) of a stitch run's checkpoint (the latest by default).

    The carry holds every run (seeds x grid points) on its leading axis. An algorithm with a
    `prepare` step needs its `aux` (computed from the data) to rebuild the state's structure.
    """
    config = load_config(workdir)
    algo = contract(get_algo(config.algo))
    if algo.prepare is not None and aux is None:
        raise StitchError(f"Restoring a {config.algo} checkpoint needs the output of its prepare "
                          f"step. Fix: pass aux=algo.prepare(config, data, info).")
    manager = checkpoint_manager(workdir)
    step = manager.latest_step() if step is None else step
    if step is None:
        raise StitchError(f"No checkpoint in {workdir}/checkpoints. Fix: train with "
                          f"config.checkpoint=True first.")
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    points = parse_sweep(config)
    target = init_runs(config, algo, Spec.from_json(meta["policy_io"]["spec"]), points, aux,
                       process_share(len(run_table(config, points))))
    carry = manager.restore(step, args=ocp.args.Composite(
        carry=ocp.args.StandardRestore(_host_local(target)))).carry
    carry = _to_device(carry)
    manager.close()
    return config, carry, meta


def load_policy(workdir, run_index: int = 0):
    """A host policy(obs, rng, episode) -> env action from a trained checkpoint (for collection)."""
    config = load_config(workdir)
    algo = contract(get_algo(config.algo))
    if algo.init_memory is not None:
        raise StitchError(f"Collecting from a {config.algo} checkpoint needs a policy with memory, "
                          f"which load_policy does not carry yet. Fix: collect with a memoryless "
                          f"algorithm's checkpoint.")
    config, carry, meta = restore(workdir)
    io = meta["policy_io"]
    spec = Spec.from_json(io["spec"])
    _, grid = run_table(config, parse_sweep(config))[run_index]
    state = jax.tree_util.tree_map(lambda x: x[run_index], carry[0])
    act = jax.jit(functools.partial(algo.act, bind(config, grid), deterministic=True))
    reshape = lambda v: None if v is None else np.asarray(v, np.float32).reshape(spec.observation_shape)
    info = DataInfo(dataset_id="", spec=spec, env_spec=None, action_low=None, action_high=None,
                    observation_transform=io["observation_transform"], obs_mean=reshape(io["obs_mean"]),
                    obs_std=reshape(io["obs_std"]), ref_min_score=None, ref_max_score=None,
                    num_episodes=0, num_transitions=0, behaviour_return=0.0, reward_scale=1.0,
                    reward_shift=0.0)
    low = None if io["action_low"] is None else np.asarray(io["action_low"])
    high = None if io["action_high"] is None else np.asarray(io["action_high"])

    def policy(obs, rng, episode):
        obs = np.asarray(obs)
        obs = observations_for_policy((obs.astype(np.float64) if obs.dtype.kind == "f" else obs)[None], info)
        action = np.asarray(act(state, obs, jax.random.PRNGKey(int(rng.integers(2**31)))))[0]
        return int(action) if low is None else denormalize_actions(action, low, high)

    return policy
