"""The training loop behind `train_offline.py`: phases of compiled chunks over the run axis.

Runs (seeds x grid points, algos/runs.py) train as one program: `vmap` over the run axis, the
dataset broadcast, the axis sharded over the local devices (and split between processes under
`jax.distributed`). An algorithm's PHASES run in order; in each, one compiled call runs
`log_interval` updates with `lax.scan`, each batch drawn on device by the phase's sampler; the
state is donated. The host sees metrics once per chunk, evaluates (phases that evaluate) and
checkpoints every `eval_interval` updates of a phase and at its end, and a re-run on the same
workdir resumes from the last checkpoint's (phase, step in phase). No algorithm is named here:
everything algorithm-specific comes through the contract (algos/common.py).
"""
import contextlib
import functools
import json
import os
import signal
import sys
import threading
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from algos import get_algo
from algos import loggers
from algos import workdir as wd
from algos.common import StitchError, contract, takes_step
from algos.rollout import Evaluator, score
from algos.runs import bind, hparam_arrays, init_runs, parse_sweep, process_share, run_table
from configs.base import budget_warnings, describe_tuning, resolve_tuning, validate
from data import samplers
from data.dataset import load_dataset


def make_train_chunk(config, phase, num_steps: int):
    """Pure function (carry, hparams, data, start) -> (carry, per-step metrics) for ONE run.

    carry = (algorithm state, rng); hparams = this run's swept values ({} without a sweep);
    start = the phase's update index at the chunk's first step, the same for every run (the
    driver passes it unbatched). An update that takes `step` gets that index (see
    algos/common.py). The driver vmaps it over runs and jits it.
    """

    def chunk(carry, hparams, data, start=0):
        run_config = bind(config, hparams)
        update = functools.partial(phase.update, run_config)
        shared_step = takes_step(phase.update)

        def body(carry, step):
            state, rng = carry
            rng, sample_rng, update_rng = jax.random.split(rng, 3)
            batch = samplers.sample(phase.sampler, run_config, data, sample_rng)
            if shared_step:
                state, metrics = update(state, batch, update_rng, step=step)
            else:
                state, metrics = update(state, batch, update_rng)
            return (state, rng), metrics

        # The steps are built from `start` alone, never from the vmapped carry, so they stay
        # unbatched under the run axis's vmap: a `lax.cond` on them is a real branch.
        steps = jnp.asarray(start, jnp.int32) + jnp.arange(num_steps, dtype=jnp.int32)
        return jax.lax.scan(body, carry, steps)

    return chunk


class RunStopped(Exception):
    """A run stopped on SIGINT/SIGTERM after checkpointing; `exit_code` is 128 + the signal."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + signum


class StopOnSignal:
    """While active (main thread only), SIGINT and SIGTERM ask the training loop to stop at the
    end of the current chunk, with a checkpoint; a second signal stops at once (KeyboardInterrupt,
    losing the work since the last checkpoint)."""

    def __enter__(self):
        self.signum, self.previous = None, {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:
            self.__exit__()
            raise KeyboardInterrupt
        self.signum = signum
        print(f"\n{signal.Signals(signum).name} received: stopping at the end of the current chunk "
              f"of updates, with a checkpoint (send it again to stop at once, losing the updates "
              f"since the last checkpoint).", file=sys.stderr, flush=True)

    def __exit__(self, *exc_info):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}


def fixed_fields(algo):
    """Fields a sweep may not vary for this algorithm: its phase lengths, its samplers' fields."""
    return tuple(p.steps for p in algo.phases) + tuple(
        f for s in algo.samplers for f in s.fields)


def shard_runs(tree, num_runs):
    """Spread the run axis (axis 0) of `tree` over the local devices; None: replicate (data).

    With one device, or a run count the devices do not divide, everything stays where it is.
    """
    devices = jax.local_devices()
    if len(devices) == 1 or num_runs % len(devices):
        return tree
    mesh = Mesh(np.array(devices), ("runs",))
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec("runs")))


def replicate(tree):
    devices = jax.local_devices()
    if len(devices) == 1:
        return tree
    return jax.device_put(tree, NamedSharding(Mesh(np.array(devices), ("runs",)), PartitionSpec()))


@jax.jit
def _all_finite(tree):
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.stack(leaves).all()


def _check_finite(metrics, phase, start_step, carry, last_ckpt, workdir, runs):
    """Stop on a NaN/inf metric or parameter, naming the update, the metric and what is kept.

    `last_ckpt` is the update of the last checkpoint written (None: none was written).
    """
    kept = ("Nothing was checkpointed before it (no checkpoint yet)." if last_ckpt is None else
            f"The last good checkpoint (update {last_ckpt}) is kept in {workdir}/checkpoints.")
    fix = ("Fix: lower the learning rates, check the reward scale (--config.reward_transform), or "
           "inspect the data; then train in a new --workdir (this one's config is fixed).")
    where = "" if phase == "train" else f" of phase '{phase}'"
    for name, values in metrics.items():
        bad = ~np.isfinite(values)  # (steps, runs)
        if bad.any():
            i, r = np.argwhere(bad)[0]
            seed, grid = runs[r]
            who = f"seed {seed}" + "".join(f", {k}={v}" for k, v in grid.items())
            raise StitchError(f"Non-finite {name}={values[i, r]} at update {start_step + i + 1}"
                              f"{where} ({who}). {kept} {fix}")
    if not bool(_all_finite(carry[0])):
        raise StitchError(
            f"Non-finite parameters after update {start_step + len(next(iter(metrics.values())))}"
            f"{where}. {kept} {fix}")


SATURATED_WARNING = 0.99  # chunk mean of `actor_saturated` (TD3+BC, ReBRAC) that warns


def _warn_saturated(metrics, phase, start_step, runs, warned):
    """Warn once per run whose actor had nearly every action entry at exactly +-1 over a whole
    logged chunk: float32 tanh passes back a zero gradient there, so such an actor has stalled
    (ReBRAC's reference init on poor data; BENCHMARKS.md). `warned` holds the runs warned of."""
    values = metrics.get("actor_saturated")  # (steps, runs)
    if values is None:
        return
    where = "" if phase == "train" else f" of phase '{phase}'"
    for r in np.flatnonzero(values.mean(0) >= SATURATED_WARNING):
        if int(r) in warned:
            continue
        warned.add(int(r))
        seed, grid = runs[r]
        who = f"seed {seed}" + "".join(f", {k}={v}" for k, v in grid.items())
        warnings.warn(f"{who}: {values[:, r].mean():.1%} of the actor's action entries were exactly +-1 over "
                      f"updates {start_step + 1}-{start_step + len(values)}{where}. float32 tanh passes back "
                      f"a zero gradient there, so the actor has stalled at the action bounds (the report "
                      f"flags it if it stays). Fix: train again with z-scored observations "
                      f"(--config.observation_transform=zscore), which kept ReBRAC's actors off the bounds "
                      f"on halfcheetah-medium-replay, or a smaller init (--config.init=pytorch or glorot).",
                      stacklevel=2)


_TRACER_ERRORS = (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
                  jax.errors.TracerBoolConversionError, jax.errors.TracerArrayConversionError)


@contextlib.contextmanager
def _swept_values_traced(config):
    """Turn the errors of a swept field used as a fixed Python value into a clear StitchError."""
    try:
        yield
    except Exception as err:
        if not config.sweep or not (isinstance(err, _TRACER_ERRORS) or "Tracer" in str(err)):
            raise
        fields = ", ".join(f.split("=")[0] for f in config.sweep.split())
        raise StitchError(
            f"config.sweep varies {fields}, but {config.algo} uses one of them where a fixed value "
            f"is needed (a shape, a loop length or a Python branch; {type(err).__name__}). Fix: "
            f"run one program per value of that field instead of sweeping it.") from None


def _metric_names(config, phases, lengths, carry, hparams, data):
    """Every metric any phase logs, from tracing one update of each (no computation)."""
    names = set()
    for phase, length in zip(phases, lengths):
        if length:
            chunk = jax.vmap(make_train_chunk(config, phase, 1), in_axes=(0, 0, None))
            names |= set(jax.eval_shape(chunk, carry, hparams, data)[1])
    return names


def train_and_evaluate(config, workdir, keep=()):
    """Train `config.algo` on `config.dataset`; write outputs to `workdir`; return results.

    keep: config fields the user set explicitly (train_offline.py passes its command-line
    overrides), which `tuning="auto"` never overwrites (configs/base.resolve_tuning)."""
    with contextlib.ExitStack() as cleanup:  # releases the workdir's lock however the run ends
        return _train_and_evaluate(config, workdir, cleanup, keep)


def _train_and_evaluate(config, workdir, cleanup, keep=()):
    config, tuning = resolve_tuning(config, keep)
    if tuning is not None and tuning["warning"]:
        warnings.warn(tuning["warning"], stacklevel=2)
    elif tuning is not None and jax.process_index() == 0:
        print(describe_tuning(tuning))
    problems = validate(config)
    if problems:
        raise StitchError("Invalid config:\n  " + "\n  ".join(problems))
    for warning in budget_warnings(config):
        warnings.warn(warning, stacklevel=2)
    algo = contract(get_algo(config.algo))
    for sampler in algo.samplers:
        missing = [f for f in sampler.fields if f not in config]
        if missing:
            raise StitchError(f"{config.algo} draws batches with the '{sampler.name}' sampler, which "
                              f"reads config field(s) {missing}. Fix: set them in "
                              f"configs/{config.algo}.py.")
    missing = [p.steps for p in algo.phases if p.steps not in config]
    if missing:
        raise StitchError(f"{config.algo}'s phases count their updates in config field(s) {missing}, "
                          f"which this config lacks. Fix: set them in configs/{config.algo}.py.")
    online = [p.name for p in algo.phases if p.online and config[p.steps] > 0]
    if online:
        raise StitchError(f"{config.algo} has online phase(s) {online}, which collect data in the "
                          f"environment; the driver does not run online phases yet. Fix: train "
                          f"its offline phases only (set their step fields to 0).")
    points = parse_sweep(config, fixed_fields(algo))
    all_runs = run_table(config, points)
    local = process_share(len(all_runs))  # this process's runs (all of them on one process)
    runs, num_runs = [all_runs[i] for i in local], len(local)
    # Everything that can fail on bad input happens before the workdir is touched.
    data, info = load_dataset(config, algo.actions, algo.samplers)
    if config.torso == "cnn" and len(info.spec.observation_shape) != 3:
        raise StitchError(f"config.torso='cnn' convolves (height, width, channels) observations, but "
                          f"dataset '{config.dataset}' has observations of shape "
                          f"{info.spec.observation_shape}. Fix: use --config.torso=mlp.")
    if config.torso == "mlp" and len(info.spec.observation_shape) == 3:
        raise StitchError(f"config.torso='mlp' reads flat vector observations, but dataset '{config.dataset}' "
                          f"has (height, width, channels) observations of shape {info.spec.observation_shape} "
                          f"(MinAtar's grids, pixels). Fix: use --config.torso=cnn (MinAtar's torso), or "
                          f"--config.torso=flatten to give the MLP the flattened grid on purpose.")
    aux = algo.prepare(config, data, info) if algo.prepare is not None else None
    evaluator = None
    if config.eval_episodes > 0 and info.env_spec is None:
        warnings.warn(f"Dataset '{config.dataset}' records no environment spec: training "
                      f"without evaluation (final_return will be null).", stacklevel=2)
    elif config.eval_episodes > 0 and any(p.evaluate for p in algo.phases):
        try:
            evaluator = Evaluator(algo, config, info, num_runs, config.eval_episodes, bind,
                                  first_run=local[0], total_runs=len(all_runs))
        except StitchError:
            raise
        except Exception as err:  # e.g. the env's package is not installed here
            fix = (" Fix: install the env's package (AntMaze, PointMaze, Adroit, Kitchen: "
                   "pip install -e '.[robotics]')." if isinstance(err, ImportError) else "")
            if info.env_spec.id.startswith("FrankaKitchen") and _mujoco_major() >= 4:
                fix = (" Fix: gymnasium-robotics' FrankaKitchen does not build under mujoco 4 "
                       "(gymnasium-robotics 1.4.2); pip install 'mujoco<4' (3.3.7 builds it).")
            warnings.warn(f"Could not build the evaluation env {info.env_spec.id!r} "
                          f"({type(err).__name__}: {err}): training without evaluation.{fix}",
                          stacklevel=2)

    phases = list(algo.phases)
    lengths = [int(config[p.steps]) for p in phases]
    hparams = hparam_arrays(config, points, local)
    try:
        with _swept_values_traced(config):  # traces init and every update: before the workdir
            carry = init_runs(config, algo, info.spec, points, aux, local)
            columns = _metric_names(config, phases, lengths, carry, hparams, data)
        cleanup.callback(wd.WorkdirLock(workdir).release)  # one run per workdir at a time
        last_phase = [p for p, n in zip(phases, lengths) if n > 0][-1]
        wd.prepare_workdir(config, workdir, extendable=(last_phase.steps,))
    except StitchError:
        if evaluator is not None:
            evaluator.close()
        raise
    ckpt_dir = wd.checkpoint_dir(workdir)
    manager = wd.checkpoint_manager(workdir, config.keep_checkpoints)

    hparams = shard_runs(hparams, num_runs)
    carry, data = shard_runs(carry, num_runs), replicate(data)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(int)  # global update of each phase's start
    position, history, train_time = (0, 0), [], 0.0
    compile_before, trace_before, wall_before, saved_metrics = 0.0, 0.0, 0.0, None  # from the checkpoint
    start = time.perf_counter()
    restored = wd.restore_latest(manager, carry, ckpt_dir)
    if restored is not None:
        step, restored = restored
        wd.check_same_data(restored.meta["policy_io"], info, ckpt_dir)
        carry, history, train_time = restored.carry, restored.meta["eval"], restored.meta["train_time"]
        compile_before = restored.meta.get("compile_time", 0.0)
        trace_before = restored.meta.get("trace_time", 0.0)
        wall_before = restored.meta.get("wall_time", 0.0)
        saved_metrics = restored.meta.get("metrics")
        position = (int(restored.meta.get("phase", 0)), int(restored.meta.get("phase_step", step)))
        carry = shard_runs(carry, num_runs)
        where = "" if len(phases) == 1 else f" (phase '{phases[position[0]].name}', step {position[1]})"
        print(f"Resuming from the checkpoint at update {step}{where} in {ckpt_dir}.")

    chunk_fns, compile_time, trace_time = {}, 0.0, 0.0

    def compiled_chunk(index, n, carry):
        """Ahead-of-time compiled chunk of n updates of phase `index` (timed apart from training:
        tracing and lowering to XLA, then XLA's compilation, which the compile cache can skip)."""
        nonlocal compile_time, trace_time
        if (index, n) not in chunk_fns:
            t0 = time.perf_counter()
            fn = jax.jit(jax.vmap(make_train_chunk(config, phases[index], n), in_axes=(0, 0, None, None)),
                         donate_argnums=0)
            with _swept_values_traced(config):
                lowered = fn.lower(carry, hparams, data, jnp.int32(0))
                t1 = time.perf_counter()
                chunk_fns[index, n] = lowered.compile()
            trace_time += t1 - t0
            compile_time += time.perf_counter() - t1
        return chunk_fns[index, n]

    def save(index, phase_step, carry):
        wd.save_checkpoint(manager, int(offsets[index] + phase_step), carry, {
            "eval": history, "train_time": train_time, "policy_io": wd.policy_io(info),
            "phase": index, "phase_step": phase_step, "compile_time": compile_before + compile_time,
            "trace_time": trace_before + trace_time,
            "wall_time": wall_before + time.perf_counter() - start, "metrics": log.saved()})

    def evaluate(index, phase_step, carry):
        phase = phases[index]
        if evaluator is not None and phase.evaluate:
            # A fresh seed per evaluation (the k-th uses k), also for a final one off the interval.
            returns = evaluator(carry[0], seed=config.seed + 1_000_003 * (len(history) + 1),
                                hparams=hparams)
            entry = {"step": phase_step, "return": [float(r) for r in returns],
                     "normalized_score": score(returns, info)}
            if evaluator.success_rate is not None:  # the env reports success (AntMaze, Adroit, ...)
                entry["success_rate"] = [float(r) for r in evaluator.success_rate]
            if evaluator.by_condition is not None:  # e.g. DT's target returns; the first is "return"
                entry["by_condition"] = {label: {"return": [float(r) for r in rets],
                                                 "normalized_score": score(rets, info)}
                                         for label, rets in evaluator.by_condition.items()}
            if len(phases) > 1:
                entry["phase"] = phase.name
            history.append(entry)

    def stop(index, phase_step, carry):
        """Checkpoint where the loop is (unless that is the last checkpoint) and stop the run."""
        update = int(offsets[index] + phase_step)
        if config.checkpoint and last_ckpt != update:
            save(index, phase_step, carry)
        bar.close()
        kept = ("rerun the same command to resume" if config.checkpoint else
                "config.checkpoint=False, so a rerun starts over")
        raise RunStopped(f"stopped at update {update}; {kept} (outputs in {workdir}).", stopper.signum)

    try:
        log = wd.MetricsLog(wd.process_file(workdir, "metrics.csv"), [p.name for p in phases],
                            position, runs, columns, first_run=local[0], restored=saved_metrics)
        sinks = cleanup.enter_context(loggers.open_sinks(config, workdir, runs, local[0]))
        last_ckpt = int(offsets[position[0]] + position[1]) if restored is not None else None
        last_save = time.monotonic()
        bar = tqdm(total=int(offsets[-1]), initial=int(offsets[position[0]] + position[1]),
                   disable=not config.progress_bar, desc=f"{config.algo}", unit="upd")
        stopper = cleanup.enter_context(StopOnSignal())
        saturated_runs = set()
        for index, phase in enumerate(phases):
            if index < position[0]:
                continue
            step = position[1] if index == position[0] else 0
            while step < lengths[index]:
                if stopper.signum is not None:  # e.g. during a compile or an evaluation
                    stop(index, step, carry)
                n = min(config.log_interval, lengths[index] - step)
                fn = compiled_chunk(index, n, carry)
                t0 = time.perf_counter()
                carry, metrics = fn(carry, hparams, data, jnp.int32(step))
                metrics = jax.device_get(metrics)  # one host sync per chunk
                elapsed = time.perf_counter() - t0
                # Per-step metrics arrive as (runs, steps): transpose, check every step, log the mean.
                metrics = {k: np.asarray(v).T for k, v in metrics.items()}
                _check_finite(metrics, phase.name, step, carry, last_ckpt, workdir, runs)
                _warn_saturated(metrics, phase.name, step, runs, saturated_runs)
                train_time += elapsed
                step += n
                log.write(phase.name, step, {k: v.mean(0) for k, v in metrics.items()})
                loggers.write_all(sinks, offsets[index] + step, {f"{phase.name}/{k}": v.mean(0) for k, v in metrics.items()})
                bar.update(n)
                due = step % config.eval_interval == 0 or step == lengths[index]
                if due:
                    evaluated = len(history)
                    evaluate(index, step, carry)
                    if len(history) > evaluated:
                        loggers.write_all(sinks, offsets[index] + step, {
                            f"eval/{k}": None if history[-1].get(k) is None else np.asarray(history[-1][k], float)
                            for k in ("return", "normalized_score", "success_rate")})
                    if history:
                        last = history[-1]
                        bar.set_postfix(score=_fmt(last["normalized_score"] or last["return"]))
                if config.checkpoint and (due or time.monotonic() - last_save >= config.checkpoint_interval_s):
                    save(index, step, carry)
                    last_ckpt, last_save = int(offsets[index] + step), time.monotonic()
                if stopper.signum is not None:
                    stop(index, step, carry)
        bar.close()
        stopper.__exit__()  # the run is complete: a signal from here on acts as usual
    finally:  # on errors too: no leaked env processes, no half-finished checkpoint writes
        if evaluator is not None:
            evaluator.close()
        manager.wait_until_finished()
        manager.close()

    final_metrics = log.last() if jax.process_count() == 1 else None  # (per process under distributed)
    history, train_time = _gather_processes(history, train_time)
    final = history[-1] if history else None
    results = {
        "algo": config.algo,
        "dataset": config.dataset,
        "env_id": getattr(info.env_spec, "id", None),
        "num_updates": int(offsets[-1]),
        "phases": {p.name: lengths[i] for i, p in enumerate(phases)},
        "num_seeds": config.num_seeds,
        "num_runs": len(all_runs),
        "num_processes": jax.process_count(),
        "seed": config.seed,
        "sweep": list(points[0]),
        "runs": [{"run": r, "seed": s, **grid} for r, (s, grid) in enumerate(all_runs)],
        "eval_episodes": config.eval_episodes if evaluator is not None else 0,
        "final_return": final["return"] if final else None,
        "final_normalized_score": final["normalized_score"] if final else None,
        "final_success_rate": final.get("success_rate") if final else None,  # per run; None: no success signal
        "final_by_condition": final.get("by_condition") if final else None,  # eval_conditions' scores, or None
        "observation_keys": None if info.observation_keys is None else list(info.observation_keys),
        "eval": history,
        "final_metrics": final_metrics,  # the last logged chunk's training metrics, per run (FQE's fqe_value)
        "behaviour_return": info.behaviour_return,
        "behaviour_normalized_score": None if info.behaviour_score is None else float(info.behaviour_score),
        "updates_per_second": offsets[-1] / train_time if train_time > 0 else None,
        "train_time_s": train_time,  # compiled training chunks only (over resumes too)
        "compile_time_s": compile_before + compile_time,  # XLA compilation of the chunks, over resumes too
        "trace_time_s": trace_before + trace_time,  # tracing and lowering them (no cache keeps it)
        "xla_flags": os.environ.get("XLA_FLAGS", ""),  # as this process ran (the driver adds some)
        "tuning": tuning,  # what tuning="auto" applied (configs/base.resolve_tuning); None otherwise
        "num_transitions": info.num_transitions,
        "num_episodes": info.num_episodes,
        "ref_min_score": info.ref_min_score,
        "ref_max_score": info.ref_max_score,
    }
    results["extensions"] = wd.extensions_of(workdir)
    # Wall time from dataset load to the end, over the invocations whose work was kept; a
    # re-run of a finished workdir trains nothing and keeps the recorded figure.
    results["wall_time_s"] = wall_before + time.perf_counter() - start
    if restored is not None and offsets[position[0]] + position[1] == offsets[-1]:
        results["wall_time_s"] = _previous_wall_time(workdir, wall_before)
    if jax.process_index() == 0:
        wd.write_json(os.path.join(workdir, "results.json"), results)
        print(summary(results))
        print(f"Outputs in {os.path.abspath(workdir)}: results.json, metrics.csv, config.json"
              + (", checkpoints/" if config.checkpoint else ""))
    return results


def _previous_wall_time(workdir, fallback):
    try:
        with open(os.path.join(workdir, "results.json")) as f:
            return float(json.load(f)["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):  # missing or damaged: the checkpoint's figure
        return fallback


def _gather_processes(history, train_time):
    """Under jax.distributed: every process's evaluations joined on the run axis (each process
    evaluated its own runs at the same steps), and the slowest process's training time."""
    if jax.process_count() == 1:
        return history, train_time
    nan = lambda xs: [np.nan if x is None else x for x in (xs or [])]
    returns = np.asarray([e["return"] for e in history], np.float64)
    scores = np.asarray([nan(e["normalized_score"]) for e in history], np.float64)
    returns, scores, times = (np.asarray(multihost_utils.process_allgather(x))
                              for x in (returns, scores, np.float64(train_time)))
    gather = lambda rows: np.asarray(multihost_utils.process_allgather(np.asarray(rows, np.float64)))
    labels = list(history[0].get("by_condition") or {}) if history else []  # eval_conditions
    by = {label: (gather([e["by_condition"][label]["return"] for e in history]),
                  gather([nan(e["by_condition"][label]["normalized_score"]) for e in history]))
          for label in labels}
    joined = []
    for k, entry in enumerate(history):  # (processes, evals, runs) -> each eval's runs in order
        joined.append({**entry, "return": [float(v) for v in returns[:, k].ravel()],
                       "normalized_score": None if entry["normalized_score"] is None else
                       [float(v) for v in scores[:, k].ravel()]})
        if labels:
            joined[-1]["by_condition"] = {
                label: {"return": [float(v) for v in r[:, k].ravel()],
                        "normalized_score": None if entry["normalized_score"] is None else
                        [float(v) for v in sc[:, k].ravel()]} for label, (r, sc) in by.items()}
    return joined, float(times.max())


def restore(workdir, step=None, aux=None):
    """(config, carry, meta) of a workdir's checkpoint: see algos.workdir.restore."""
    return wd.restore(workdir, step, aux)


def _fmt(values):
    return f"{np.mean(values):.1f}" if values is not None else "n/a"


def summary(results) -> str:
    """The readable closing lines of a run: per grid point (best first), its seeds."""
    ups = results["updates_per_second"]
    lines = [f"\n{results['algo']} on {results['dataset']} ({results['env_id'] or 'no env'}): "
             f"{results['num_runs']} run(s) x {results['num_updates']} updates, "
             f"{'n/a' if ups is None else f'{ups:.0f}'} updates/s per run (training steps only; "
             f"all runs in one program)"]
    if results["final_return"] is None:
        lines.append("  no evaluation (no environment spec, eval_episodes=0, or an algorithm that does not act)")
        last = {k: [x for x in v if x is not None] for k, v in (results.get("final_metrics") or {}).items()}
        if last:
            lines.append("  last logged metrics (mean over runs): " +
                         ", ".join(f"{k}={np.mean(v):.4g}" for k, v in sorted(last.items()) if v))
    else:
        returns = results["final_return"]
        scores = results["final_normalized_score"] or [None] * len(returns)
        groups = {}
        for run in results["runs"]:
            key = tuple((f, run[f]) for f in results["sweep"])
            groups.setdefault(key, []).append(run["run"])
        rank = lambda item: -np.mean([scores[r] if scores[r] is not None else returns[r] for r in item[1]])
        for key, members in sorted(groups.items(), key=rank):
            if key:
                lines.append("  " + " ".join(f"{f}={v}" for f, v in key) + ":")
            lines.append("    seed   return   normalised score")
            for r in members:
                n = scores[r]
                lines.append(f"    {results['runs'][r]['seed']:>4} {returns[r]:>8.1f}   "
                             f"{'n/a' if n is None else f'{n:.1f}'}")
            group_scores = [scores[r] for r in members]
            mean_n = "n/a" if group_scores[0] is None else \
                f"{np.mean(group_scores):.1f} ± {np.std(group_scores):.1f}"
            lines.append(f"    mean {np.mean([returns[r] for r in members]):>8.1f}   {mean_n}")
    b = results["behaviour_normalized_score"]
    lines.append(f"  behaviour data: return {results['behaviour_return']:.1f}, normalised score "
                 f"{'n/a' if b is None else f'{b:.1f}'}")
    return "\n".join(lines)


def _mujoco_major() -> int:
    """mujoco's major version here (0 when it is not installed)."""
    try:
        import mujoco
    except ImportError:
        return 0
    return int(mujoco.__version__.split(".")[0])
