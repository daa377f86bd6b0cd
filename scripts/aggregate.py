"""Reading stitch runs and aggregating their scores (the functions behind scripts/report.py).

Aggregates follow Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical Precipice")
through their library, rliable (`pip install -e ".[report]"`): interquartile mean, mean, median
and optimality gap over runs and tasks with stratified bootstrap confidence intervals,
performance profiles, and the probability of improvement of one algorithm over another.
Scores are the runs' final normalised scores (D4RL's 0 = random, 100 = expert), so the
optimality gap is measured against 100.

The CQL-workflow signals (Kumar et al. 2021, "A Workflow for Offline Model-Free Robotic RL")
are read from metrics.csv; the thresholds that make "rises then falls" and "high" concrete are
stitch's, stated in `workflow_signals`.
"""
import contextlib
import csv
import glob
import json
import os
import warnings
from typing import Dict, List, Optional

import numpy as np

OPTIMALITY_GAP_TARGET = 100.0  # a normalised score of 100 is the expert's


def _rliable():
    try:
        from absl import logging
        logging.set_verbosity(logging.WARNING)  # rliable logs a line per estimate at INFO
        from rliable import library, metrics
    except ImportError as err:
        raise SystemExit(f"rliable is not installed ({err}). Fix: pip install -e \".[report]\"") from None
    return library, metrics


@contextlib.contextmanager
def seeded(seed: int):
    """Bootstrap draws that a seed fixes. rliable's StratifiedBootstrap draws its resamples from
    numpy's global RNG (its update_indices calls np.random.choice; the random_state it takes only
    reaches arch), so the global RNG is seeded for the call and restored after it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # arch deprecates the RandomState that rliable hands it
            warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
            yield np.random.RandomState(seed)
    finally:
        np.random.set_state(state)


def find_workdirs(patterns: List[str]) -> List[str]:
    """Workdirs (folders holding results.json) named by paths or globs, or found under them."""
    found = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)) or [pattern]:
            if os.path.isfile(os.path.join(path, "results.json")):
                found.append(path)
            else:
                found += sorted(os.path.dirname(p) for p in glob.glob(os.path.join(path, "**", "results.json"),
                                                                      recursive=True))
    return list(dict.fromkeys(found))


def load_run(workdir: str) -> dict:
    """A workdir's results.json, with a per-run view: each run's grid point, final score and its
    evaluation curve (the normalised score, or the return where the data has no references)."""
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    use_score = results.get("final_normalized_score") is not None
    field = "normalized_score" if use_score else "return"
    steps = [e["step"] for e in results["eval"]]
    curves = np.asarray([e[field] for e in results["eval"]], np.float64).T if steps else None  # (runs, evals)
    runs = []
    for r, run in enumerate(results["runs"]):
        grid = {k: run[k] for k in results.get("sweep", [])}
        runs.append({"run": r, "seed": run["seed"], "grid": grid,
                     "final": None if curves is None else float(curves[r, -1]),
                     "curve": None if curves is None else curves[r]})
    config = {}
    if os.path.isfile(os.path.join(workdir, "config.json")):
        with open(os.path.join(workdir, "config.json")) as f:
            config = json.load(f)
    return {"workdir": workdir, "algo": results["algo"], "dataset": results["dataset"], "score_kind": field,
            "steps": steps, "runs": runs, "sweep": results.get("sweep", []),
            "behaviour": results.get("behaviour_normalized_score") if use_score else results.get("behaviour_return"),
            "results": results, "config": config, "variant": {}}


# Config fields that say how a run was kept, not what it learned: runs differing only in these
# are the same experiment (a seed split across workdirs pools, as `--num_seeds=1 --set=seed=k`).
# It holds algos/workdir.IGNORED_ON_RESUME (a test keeps them in step; importing it here would
# pull JAX into the report).
NOT_A_VARIANT = frozenset({"dataset", "seed", "num_seeds", "sweep", "log_interval", "checkpoint",
                           "checkpoint_interval_s", "progress_bar", "tensorboard", "wandb_project",
                           "keep_checkpoints", "preset", "tuning"})


def mark_variants(records: List[dict]) -> List[dict]:
    """Set each record's `variant`: the config fields (outside NOT_A_VARIANT and the sweep's) on
    which two workdirs of its algorithm and dataset differ, with this workdir's values. Labels
    then keep `--set=init=glorot` apart from the default instead of pooling them as one
    algorithm. Fields that differ only across datasets (per-task presets) are not variants."""
    groups: Dict[tuple, List[dict]] = {}
    for rec in records:
        groups.setdefault((rec["algo"], rec["dataset"]), []).append(rec)
    fields: Dict[str, set] = {}
    for (algo, _), recs in groups.items():
        keys = set().union(*(r["config"] for r in recs)) - NOT_A_VARIANT - set().union(*(r["sweep"] for r in recs))
        fields.setdefault(algo, set()).update(
            k for k in keys if len({json.dumps(r["config"].get(k), sort_keys=True) for r in recs}) > 1)
    for rec in records:
        rec["variant"] = {k: rec["config"].get(k) for k in sorted(fields[rec["algo"]])}
    return records


def _short(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def label(run_record: dict, grid: dict) -> str:
    """An algorithm's name in tables: its name plus what tells its runs apart: the config
    fields on which its workdirs differ (`mark_variants`) and the grid point, where it swept."""
    point = {**run_record.get("variant", {}), **grid}
    return run_record["algo"] + "".join(f" {k}={_short(v)}" for k, v in point.items())


def group_scores(records: List[dict]) -> Dict[str, Dict[str, List[float]]]:
    """{algorithm label: {dataset: [final score per run]}} over all workdirs (seeds of one label
    and dataset from several workdirs are pooled)."""
    out: Dict[str, Dict[str, List[float]]] = {}
    for rec in records:
        for run in rec["runs"]:
            if run["final"] is not None:
                out.setdefault(label(rec, run["grid"]), {}).setdefault(rec["dataset"], []).append(run["final"])
    return out


def score_matrices(groups, datasets: Optional[List[str]] = None):
    """rliable's input: {label: (runs x tasks) array} over the datasets every label has; labels
    with different seed counts per dataset are cut to their smallest count (returned as notes)."""
    datasets = datasets or sorted(set.intersection(*(set(g) for g in groups.values())))
    matrices, notes = {}, []
    if not datasets:
        return matrices, datasets, ["no dataset that every algorithm has, so no aggregate over datasets "
                                    "(pass --datasets to aggregate over some of them)"]
    for name, per_dataset in groups.items():
        if not all(d in per_dataset for d in datasets):
            notes.append(f"{name}: left out of the aggregate (it lacks {', '.join(d for d in datasets if d not in per_dataset)})")
            continue
        n = min(len(per_dataset[d]) for d in datasets)
        if any(len(per_dataset[d]) != n for d in datasets):
            notes.append(f"{name}: {n} runs per dataset used (the smallest count)")
        matrices[name] = np.stack([np.asarray(per_dataset[d][:n], np.float64) for d in datasets], 1)
    return matrices, datasets, notes


def aggregate_estimates(matrices: Dict[str, np.ndarray], reps: int = 50_000, seed: int = 0,
                        gap_target: float = OPTIMALITY_GAP_TARGET):
    """{label: {metric: (point, low, high)}} for IQM, mean, median and optimality gap, with
    rliable's stratified bootstrap 95% intervals (percentile method)."""
    library, metrics = _rliable()

    def func(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_median(x),
                         metrics.aggregate_optimality_gap(x, gamma=gap_target)])
    with seeded(seed) as rs:
        points, intervals = library.get_interval_estimates(matrices, func, reps=reps, random_state=rs)
    names = ("IQM", "mean", "median", "optimality gap")
    return {k: {n: (float(points[k][i]), float(intervals[k][0, i]), float(intervals[k][1, i]))
                for i, n in enumerate(names)} for k in matrices}


def iqm_with_ci(scores, reps: int = 50_000, seed: int = 0):
    """IQM of one algorithm's runs on one dataset, with its bootstrap 95% interval."""
    library, metrics = _rliable()
    m = {"x": np.asarray(scores, np.float64).reshape(-1, 1)}
    with seeded(seed) as rs:
        points, intervals = library.get_interval_estimates(
            m, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps, random_state=rs)
    return float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0])


def performance_profiles(matrices, taus, reps: int = 2_000, seed: int = 0):
    """rliable's score-distribution profiles: {label: fraction of runs scoring above each tau} and
    their bootstrap 95% bands {label: (2, len(taus))}. What `create_performance_profile` computes,
    called through `get_interval_estimates` so the bands take a seed."""
    library, _ = _rliable()
    with seeded(seed) as rs:
        return library.get_interval_estimates(matrices, lambda x: library.score_distributions(x, taus),
                                              reps=reps, random_state=rs)


def probability_of_improvement(matrices, pairs, reps: int = 2_000, seed: int = 0):
    """{(x, y): (P(X > Y), low, high)}: the probability that a run of x on a random task beats one
    of y (Mann-Whitney U statistic averaged over tasks), with its bootstrap 95% interval."""
    library, metrics = _rliable()
    joined = {f"{x}\x00{y}": (matrices[x], matrices[y]) for x, y in pairs}
    with seeded(seed) as rs:
        points, intervals = library.get_interval_estimates(
            joined, metrics.probability_of_improvement, reps=reps, random_state=rs)
    return {tuple(k.split("\x00")): (float(np.ravel(points[k])[0]), *map(float, np.ravel(intervals[k])))
            for k in joined}


def read_metrics(workdir: str) -> Dict[int, Dict[str, np.ndarray]]:
    """metrics.csv as {run: {column: values over its logged steps}} (empty cells dropped per
    column; the 'step' column is the update count)."""
    path = os.path.join(workdir, "metrics.csv")
    if not os.path.exists(path):
        return {}
    rows: Dict[int, Dict[str, list]] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            run = rows.setdefault(int(row["run"]), {})
            for key, value in row.items():
                if key in ("phase", "run", "seed") or value in ("", None):
                    continue
                run.setdefault(key, []).append(float(value))
    return {r: {k: np.asarray(v) for k, v in cols.items()} for r, cols in rows.items()}


# Thresholds of the workflow's two signals, as stitch makes them concrete:
OVERFIT_DROP = 0.2        # dataset Q ended this fraction of its rise below its peak ...
OVERFIT_PEAK_BEFORE = 0.8  # ... and peaked before this fraction of the logged steps
UNDERFIT_RELATIVE_TD = 0.1  # mean |TD error| / mean |Q(s, a)| over the last 10% of the logs
SATURATED_ACTOR = 0.99      # mean `actor_saturated` over the last 10% of the logs (TD3+BC, ReBRAC)


def workflow_signals(metrics: Dict[str, np.ndarray]) -> List[str]:
    """The CQL workflow's warnings for one run's logged q_data and td_error (Kumar et al. 2021),
    and stitch's for a deterministic actor stuck at the action bounds (`actor_saturated`):
    - over-fitting: the average dataset Q-value rises, then falls as training goes on. The
      workflow's advice: early-stop at the checkpoint near the Q peak, or regularise the critic
      (dropout, a variational information bottleneck) and train again.
    - under-fitting: the TD error stays high. The advice: more critic capacity (wider or deeper
      networks, layer norm) or a capacity-increasing regulariser such as DR3.
    - saturated actor: nearly every action entry is exactly +-1 at the end (SATURATED_ACTOR),
      where tanh's gradient is exactly 0 in float32: the actor has stalled at the bounds.
    Here "falls" is a drop of OVERFIT_DROP of its rise from the first log, from a peak before
    OVERFIT_PEAK_BEFORE of the run; "high" is a relative TD error above UNDERFIT_RELATIVE_TD.
    Each message says what was read."""
    out = []
    q, td = metrics.get("q_data"), metrics.get("td_error")
    if q is not None and len(q) >= 5:
        k = max(1, len(q) // 10)
        smooth = np.convolve(q, np.ones(k) / k, mode="valid")
        peak = int(np.argmax(smooth))
        rise = smooth[peak] - smooth[0]
        if rise > 0 and peak < OVERFIT_PEAK_BEFORE * (len(smooth) - 1) and \
                smooth[-1] < smooth[peak] - OVERFIT_DROP * rise:
            step = metrics["step"][peak + k - 1] if "step" in metrics else peak
            out.append(f"over-fitting: dataset Q rose from {smooth[0]:.3g} to {smooth[peak]:.3g} (update "
                       f"{step:.0f}) and fell to {smooth[-1]:.3g}. Advice (CQL workflow): pick the "
                       f"checkpoint near the Q peak (early stopping), or regularise the critic (dropout, "
                       f"information bottleneck) and train again.")
    if q is not None and td is not None and len(td) >= 2:
        k = max(1, len(td) // 10)
        relative = float(np.mean(td[-k:]) / max(np.mean(np.abs(q[-k:])), 1e-8))
        if relative > UNDERFIT_RELATIVE_TD:
            out.append(f"under-fitting: the TD error is {relative:.0%} of |Q| over the last {k} logs "
                       f"(threshold {UNDERFIT_RELATIVE_TD:.0%}). Advice (CQL workflow): give the critic "
                       f"more capacity (wider/deeper networks, layer norm) or a capacity-increasing "
                       f"regulariser (DR3).")
    sat = metrics.get("actor_saturated")
    if sat is not None and len(sat) >= 1:
        k = max(1, len(sat) // 10)
        if float(np.mean(sat[-k:])) >= SATURATED_ACTOR:
            out.append(f"saturated actor: {np.mean(sat[-k:]):.1%} of its action entries are exactly +-1 over "
                       f"the last {k} logs, where float32 tanh passes back a zero gradient, so the actor "
                       f"has stalled at the action bounds (ReBRAC's defaults, raw observations and the EDAC-style "
                       f"init, got there within 250 updates on halfcheetah-medium-replay; some such seeds came back thousands of "
                       f"updates later, others not within 10k). Advice: train again with z-scored "
                       f"observations (--config.observation_transform=zscore) or a smaller init "
                       f"(--config.init=pytorch or glorot); scripts/rebrac_saturation.py shows where an "
                       f"actor goes.")
    return out
