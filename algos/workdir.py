"""A run's workdir: config.json, metrics.csv, results.json, checkpoints/ (orbax), and resume.

Also what reads a finished workdir back: `restore` (config, carry, meta of a checkpoint) and
`load_policy` (a host policy from a checkpoint, for scripts/collect.py).
"""
import csv
import datetime
import fcntl
import functools
import hashlib
import io
import json
import os
import warnings

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from algos import get_algo
from algos.common import Spec, StitchError, contract
from configs.base import get_base_config
from algos.runs import bind, init_runs, parse_sweep, process_share, run_table
from data.dataset import DataInfo, denormalize_actions, observations_for_policy

# Fields that may differ between a run and its resume: they change how a run is watched and
# saved, never what it computes.
IGNORED_ON_RESUME = ("progress_bar", "checkpoint_interval_s", "tensorboard", "wandb_project", "keep_checkpoints")
CHECKSUMS = "stitch-checksums.json"  # written into each checkpoint's folder after orbax commits it


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
        ensure_writable(workdir)
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


def ensure_writable(workdir):
    """Create the workdir if needed and check that files can be written in it, before any work.

    A path that is a file, a folder without write permission or a read-only file system stop
    here with a message instead of an OSError traceback mid-run.
    """
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise StitchError(f"--workdir {workdir} is a file, not a folder. Fix: pass a folder path "
                          f"(it is created if missing), e.g. --workdir=runs/my_run.")
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as err:
        raise StitchError(
            f"Cannot write to workdir {workdir} ({type(err).__name__}: {err.strerror or err}). Fix: "
            f"make it writable (e.g. chmod u+w), or pass a --workdir on a writable disk.") from None


def read_json(path, what):
    """A JSON file the project wrote, or a StitchError naming it when it is damaged."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise StitchError(f"{path} is damaged (not valid JSON: {err}); {what}") from None


def prepare_workdir(config, workdir, extendable=()):
    """Create the workdir, or check that an existing one holds a run of the same config.

    Fields in `extendable` (the last phase's length) may grow: a finished or stopped run then
    continues to the new length; the change is kept in `extensions.json` and results.json.
    """
    ensure_writable(workdir)
    path = os.path.join(workdir, "config.json")
    current = json.loads(config.to_json_best_effort())
    if not os.path.exists(path):
        write_json(path, current)
        return
    previous = read_json(path, (
        "it records which config this workdir's run used. Fix: if you are re-running the command "
        "that made this workdir, delete config.json and re-run it (the checkpoints are checked "
        "against the dataset on resume); otherwise pass a new --workdir."))
    # A field added to stitch after this workdir was made counts as its default there.
    base = json.loads(get_base_config().to_json_best_effort())
    diff = sorted(k for k in set(previous) | set(current)
                  if k not in IGNORED_ON_RESUME and previous.get(k, base.get(k)) != current.get(k))
    longer = [k for k in diff if k in extendable and isinstance(previous.get(k), int)
              and current[k] > previous[k]]
    if diff and diff == longer:
        extensions = extensions_of(workdir)
        extensions += [{"field": k, "from": previous[k], "to": current[k],
                        "time": datetime.datetime.now().isoformat(timespec="seconds")} for k in longer]
        write_json(os.path.join(workdir, "extensions.json"), extensions)
        write_json(path, {**previous, **{k: current[k] for k in longer}})
        print(f"Extending the run in {workdir}: " + ", ".join(
            f"{k} {previous[k]} -> {current[k]}" for k in longer) + ". Learning-rate schedules that "
            f"span a phase (e.g. IQL's cosine actor decay) now span the new length, so the result "
            f"is not the same as a run trained to that length from the start.")
        return
    if diff:
        detail = ", ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in diff)
        grow = [k for k in diff if k in extendable]
        hint = (f" ({', '.join(grow)} may only grow: a run can be continued, not shortened)"
                if grow and diff == grow else "")
        raise StitchError(
            f"Workdir {workdir} holds a run with a different config ({detail}){hint}; resuming it "
            f"would mix two experiments. Fix: pass a new --workdir, or delete the old one.")


def extensions_of(workdir):
    """The record of a run's extensions (a larger num_updates on a later invocation)."""
    path = os.path.join(workdir, "extensions.json")
    if not os.path.exists(path):
        return []
    return read_json(path, "it records the run's extensions. Fix: delete it (only the record is lost).")


class MetricsLog:
    """metrics.csv: one row per (chunk, run), with its phase, seed and grid values.

    `columns` are every metric any phase logs (a phase leaves the others' cells empty);
    `runs` is a list of (seed index, {grid field: value}) per run, the first numbered `first_run`
    (a process's share under jax.distributed).

    The rows up to a checkpoint belong to it: `saved()` goes into every checkpoint's meta, and a
    resume from `resume_at = (phase index, step in phase)` rewrites the file from the
    checkpoint's rows (`restored`). Rows the file held past the checkpoint are dropped (the
    resumed run writes them again); a damaged or missing file is rebuilt with a warning.
    """

    def __init__(self, path, phase_names, resume_at, runs, columns, first_run=0, restored=None):
        self.path, self.runs, self.first_run = path, runs, first_run
        grid_fields = list(runs[0][1]) if runs else []
        self.fields = ["phase", "step", "run", "seed", *grid_fields, *sorted(columns)]
        self.order = {name: i for i, name in enumerate(phase_names)}
        self.rows = []
        if resume_at > (0, 0):
            on_file, problem = self._read(resume_at)
            if restored is not None:
                self.rows = [[row.get(f, "") for f in self.fields] for row in
                             (dict(zip(restored["fields"], r)) for r in restored["rows"])]
                changed = self._columns_changed(restored["fields"])
                if changed:  # the code now logs other metrics than when the run started: not damage
                    warnings.warn(f"{path}: this version of stitch logs other metrics than the one "
                                  f"that started the run ({changed}); rewrote its {len(self.rows)} "
                                  f"rows up to the checkpoint under the new header, the new "
                                  f"columns empty before the resume.", stacklevel=3)
                elif problem or on_file != self.rows:
                    problem = problem or "its rows differ from the checkpoint's"
                    warnings.warn(f"{path} was damaged ({problem}); rewrote its {len(self.rows)} "
                                  f"rows up to the checkpoint from the checkpoint's copy.", stacklevel=3)
            else:  # a checkpoint written before metrics were saved with checkpoints
                self.rows = on_file or []
                if problem:
                    warnings.warn(f"{path} was damaged ({problem}) and this run's checkpoints "
                                  f"predate saved metrics: its rows before the resume are lost.",
                                  stacklevel=3)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.fields)
            w.writerows(self.rows)

    def _columns_changed(self, saved_fields):
        """'added: a; dropped: b' when the checkpoint's columns are not this run's, else ''."""
        added = [f for f in self.fields if f not in saved_fields]
        dropped = [f for f in saved_fields if f not in self.fields]
        return "; ".join(f"{what}: {', '.join(names)}" for what, names in
                         (("added", added), ("dropped", dropped)) if names)

    def _read(self, resume_at):
        """(rows at or before resume_at, None) from the file, or (None, what is wrong with it)."""
        if not os.path.exists(self.path):
            return None, "missing"
        try:
            with open(self.path, "rb") as f:
                lines = list(csv.reader(io.StringIO(f.read().decode("utf-8"), newline="")))
            if not lines or lines[0] != self.fields:
                return None, "its header is not this run's"
            rows = []
            for line in lines[1:]:
                if len(line) != len(self.fields):
                    return None, f"a line has {len(line)} cells, not {len(self.fields)}"
                if (self.order[line[0]], int(line[1])) <= resume_at:
                    rows.append(line)
            return rows, None
        except (UnicodeDecodeError, KeyError, ValueError, csv.Error) as err:
            return None, f"unreadable: {type(err).__name__}: {err}"

    def write(self, phase, step, metrics):
        new = [[str(x) for x in [phase, step, self.first_run + r, seed, *grid.values()]] +
               [f"{float(metrics[k][r]):.6g}" if k in metrics else "" for k in self.fields[4 + len(grid):]]
               for r, (seed, grid) in enumerate(self.runs)]
        self.rows += new
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerows(new)

    def last(self):
        """{metric: [value per run]} of the last logged chunk (None where a run's cell is empty)."""
        latest = {}
        for row in self.rows:  # rows are in step order: the last one per run wins
            latest[row[2]] = row
        runs = sorted(latest, key=int)
        names = self.fields[4 + len(self.runs[0][1]):] if self.runs else []
        column = {f: i for i, f in enumerate(self.fields)}
        return {k: [float(latest[r][column[k]]) if latest[r][column[k]] != "" else None for r in runs]
                for k in names}

    def saved(self):
        """What a checkpoint keeps of the log: every row so far."""
        return {"fields": self.fields, "rows": list(self.rows)}


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


def checkpoint_manager(workdir, keep: int = 2):
    """orbax's manager of a workdir's checkpoints, keeping the newest `keep` (0: all of them)."""
    options = dict(max_to_keep=keep or None, enable_async_checkpointing=False)
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
    manager.wait_until_finished()
    step_dir = os.path.join(str(manager.directory), str(step))
    write_json(os.path.join(step_dir, CHECKSUMS), _digests(step_dir))


def _digests(step_dir):
    """sha256 of every file of a checkpoint (its checksum file excepted), by relative path."""
    digests = {}
    for root, _, files in os.walk(step_dir):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, step_dir)
            if rel in (CHECKSUMS, CHECKSUMS + ".tmp"):
                continue
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digests[rel] = h.hexdigest()
    return digests


def verify_checkpoint(step_dir):
    """None when the checkpoint's files match the checksums written with it, else what differs.

    A checkpoint without a checksum file (written by an older stitch, or cut between orbax's
    commit and the checksum) is taken as it is."""
    path = os.path.join(step_dir, CHECKSUMS)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            expected = json.load(f)
    except (ValueError, UnicodeDecodeError):
        return f"its checksum file {CHECKSUMS} is damaged"
    actual = _digests(step_dir)
    bad = sorted(k for k in expected if actual.get(k) != expected[k])
    if bad:
        return f"checksum mismatch in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}"
    return None


def restore_latest(manager, carry, ckpt_dir):
    """(step, restored) of the newest checkpoint that restores, or None when there is none.

    A damaged newest checkpoint (an item missing after a full disk or a partial copy, or bytes
    that no longer match the checksums written with it) is moved aside to `damaged-<step>` with a warning, and the one before it is used; if none restores,
    nothing is moved and the run stops with a clear error.
    """
    steps = sorted(manager.all_steps(), reverse=True)
    failures = []
    for step in steps:
        damage = verify_checkpoint(os.path.join(ckpt_dir, str(step)))
        if damage:
            failures.append((step, damage))
            continue
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


SAVED_IO_DEFAULTS = {"action_start": 0}  # what a checkpoint written before the field existed meant


def policy_io(info: DataInfo):
    """What acting from a checkpoint needs besides the state: spec, observation transform, bounds."""
    as_list = lambda x: None if x is None else [float(v) for v in np.ravel(x)]
    return {"spec": info.spec.to_json(), "observation_transform": info.observation_transform,
            "obs_mean": as_list(info.obs_mean), "obs_std": as_list(info.obs_std),
            "action_low": as_list(info.action_low), "action_high": as_list(info.action_high),
            "observation_keys": None if info.observation_keys is None else list(info.observation_keys),
            "action_start": int(info.action_start)}


def check_same_data(saved_io, info, ckpt_dir):
    """Refuse to resume when the dataset changed under its id since the checkpoint was written."""
    now = policy_io(info)
    for key in ("spec", "observation_transform", "obs_mean", "obs_std", "action_low", "action_high",
                "observation_keys", "action_start"):
        a, b = saved_io.get(key, SAVED_IO_DEFAULTS.get(key)), now[key]
        numbers = lambda x: isinstance(x, list) and all(isinstance(v, (int, float)) for v in x)
        if numbers(a) and numbers(b):  # statistics: equal up to float round-off
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
    config = ml_collections.ConfigDict(read_json(path, (
        "it records the config of the run whose checkpoints are here. Fix: restore it from a copy "
        "(the run's command line rebuilds it: re-run it with --workdir pointing at a new folder "
        "and copy that config.json here).")))
    if "hidden_dims" in config:
        config.hidden_dims = tuple(config.hidden_dims)
    return config


def restore(workdir, step=None, aux=None):
    """Load (config, carry, meta) of a stitch run's checkpoint (the latest good one by default);
    meta["step"] is the update of the checkpoint read.

    The carry holds every run (seeds x grid points) on its leading axis. An algorithm with a
    `prepare` step needs its `aux` (computed from the data) to rebuild the state's structure.
    """
    config = load_config(workdir)
    algo = contract(get_algo(config.algo))
    if algo.prepare is not None and aux is None:
        raise StitchError(f"Restoring a {config.algo} checkpoint needs the output of its prepare "
                          f"step. Fix: pass aux=algo.prepare(config, data, info).")
    manager = checkpoint_manager(workdir, keep=0)  # reading: never prune
    ckpt_dir = checkpoint_dir(workdir)
    if step is None:
        steps = sorted(manager.all_steps(), reverse=True)
        if not steps:
            raise StitchError(f"No checkpoint in {workdir}/checkpoints. Fix: train with "
                              f"config.checkpoint=True first.")
        damaged = []  # newest first, until the first checkpoint that verifies
        for s in steps:
            damage = verify_checkpoint(os.path.join(ckpt_dir, str(s)))
            if damage is None:
                step = s
                break
            damaged.append((s, damage))
        if step is None:
            raise StitchError(f"Every checkpoint in {ckpt_dir} fails its checksum (damaged "
                              f"files). Fix: train this run again in a new --workdir.")
        for s, damage in damaged:
            warnings.warn(f"The checkpoint at update {s} in {workdir} is damaged ({damage}); "
                          f"using the one at update {step}.", stacklevel=2)
    else:
        damage = verify_checkpoint(os.path.join(ckpt_dir, str(step)))
        if damage:
            raise StitchError(f"The checkpoint at update {step} in {workdir} is damaged ({damage}). "
                              f"Fix: restore another step (step=None picks the newest good one).")
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    points = parse_sweep(config)
    target = init_runs(config, algo, Spec.from_json(meta["policy_io"]["spec"]), points, aux,
                       process_share(len(run_table(config, points))))
    carry = manager.restore(step, args=ocp.args.Composite(
        carry=ocp.args.StandardRestore(_host_local(target)))).carry
    carry = _to_device(carry)
    manager.close()
    return config, carry, dict(meta, step=int(step))


def _restored_run(workdir, run_index, step):
    """(contract, bound config, state, as_input, low, high, meta) of one run of a memoryless
    algorithm's checkpoint; as_input(raw observations) -> the networks' observations."""
    config = load_config(workdir)
    algo = contract(get_algo(config.algo))
    if algo.init_memory is not None:
        raise StitchError(f"Acting with a {config.algo} checkpoint outside an evaluation needs a policy "
                          f"with memory, which load_policy does not carry yet. Fix: use a memoryless "
                          f"algorithm's checkpoint.")
    config, carry, meta = restore(workdir, step)
    io = meta["policy_io"]
    spec = Spec.from_json(io["spec"])
    _, grid = run_table(config, parse_sweep(config))[run_index]
    state = jax.tree_util.tree_map(lambda x: x[run_index], carry[0])
    reshape = lambda v: None if v is None else np.asarray(v, np.float32).reshape(spec.observation_shape)
    info = DataInfo(dataset_id="", spec=spec, env_spec=None, action_low=None, action_high=None,
                    observation_transform=io["observation_transform"], obs_mean=reshape(io["obs_mean"]),
                    obs_std=reshape(io["obs_std"]), ref_min_score=None, ref_max_score=None,
                    num_episodes=0, num_transitions=0, behaviour_return=0.0, reward_scale=1.0,
                    reward_shift=0.0, observation_keys=io.get("observation_keys"),
                    action_start=int(io.get("action_start", SAVED_IO_DEFAULTS["action_start"])))
    low = None if io["action_low"] is None else np.asarray(io["action_low"])
    high = None if io["action_high"] is None else np.asarray(io["action_high"])

    def as_input(observations):
        if not isinstance(observations, dict):
            observations = np.asarray(observations)
            if observations.dtype.kind == "f":
                observations = observations.astype(np.float64)
        return observations_for_policy(observations, info)

    return algo, bind(config, grid), state, as_input, low, high, info.action_start, meta


def load_batched_policy(workdir, run_index: int = 0, step=None, deterministic: bool = True):
    """A host policy(observations) -> env actions over a batch, from a trained checkpoint (the
    latest, or `step`): the run's own observation transform in, its actions out in the env's
    units (integers for discrete actions). Returns (policy, config, meta). With
    deterministic=False the policy samples (give it an `rng`: a numpy Generator)."""
    algo, config, state, as_input, low, high, start, meta = _restored_run(workdir, run_index, step)
    act = jax.jit(functools.partial(algo.act, config, deterministic=deterministic))

    def policy(observations, rng=None):
        """Actions for a batch of raw observations (a dict of batches for Dict data)."""
        key = jax.random.PRNGKey(0) if rng is None else jax.random.PRNGKey(int(rng.integers(2**31)))
        actions = np.asarray(act(state, as_input(observations), key))
        return denormalize_actions(actions, low, high, start)

    return policy, config, meta


def load_batched_log_prob(workdir, run_index: int = 0, step=None):
    """A host log_prob(observations, actions) -> log pi(a|s) per row, from a trained checkpoint
    whose algorithm has a density (the contract's optional `log_prob`): raw observations in, and
    actions in the dataset's normalised [-1, 1] space (the density's space). Returns
    (log_prob, config)."""
    algo, config, state, as_input, _, _, _, _ = _restored_run(workdir, run_index, step)
    if algo.log_prob is None:
        raise StitchError(f"{config.algo}'s policy has no density (its contract has no log_prob), so "
                          f"importance sampling cannot weigh its actions. Fix: use FQE for it, or an "
                          f"algorithm with a stochastic policy (IQL, AWAC, CQL, SAC-N, EDAC, "
                          f"BC with policy_head=gaussian).")
    density = jax.jit(functools.partial(algo.log_prob, config))

    def log_prob(observations, actions):
        return np.asarray(density(state, as_input(observations), np.asarray(actions, np.float32)), np.float64)

    return log_prob, config


def load_policy(workdir, run_index: int = 0):
    """A host policy(obs, rng, episode) -> env action from a trained checkpoint (for collection)."""
    batched, _, _ = load_batched_policy(workdir, run_index)

    def policy(obs, rng, episode):
        if isinstance(obs, dict):  # a Dict observation (nested, for Kitchen): flattened as in training
            action = batched(jax.tree_util.tree_map(lambda v: np.asarray(v)[None], obs), rng)[0]
        else:
            action = batched(np.asarray(obs)[None], rng)[0]
        return int(action) if np.ndim(action) == 0 and np.issubdtype(np.asarray(action).dtype, np.integer) else action

    return policy
