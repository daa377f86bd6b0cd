"""Aggregate reports (scripts/aggregate.py, scripts/report.py): the rliable wrappers against
rliable's own functions, the CQL-workflow signals on constructed curves, and a report built
from real tiny runs."""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from scripts import aggregate
from tests.conftest import REPO, tiny_config

rliable = pytest.importorskip("rliable")  # the report extra; CI installs it with [test]
from rliable import library, metrics  # noqa: E402

SCORES = {"a": np.array([[10.0, 50.0], [20.0, 60.0], [30.0, 40.0], [90.0, 45.0], [15.0, 55.0]]),
          "b": np.array([[5.0, 30.0], [25.0, 35.0], [12.0, 20.0], [8.0, 70.0], [11.0, 33.0]])}


def test_aggregates_equal_rliables_own_functions():
    est = aggregate.aggregate_estimates(SCORES, reps=500, seed=3)
    for name, fn in [("IQM", metrics.aggregate_iqm), ("mean", metrics.aggregate_mean),
                     ("median", metrics.aggregate_median),
                     ("optimality gap", lambda x: metrics.aggregate_optimality_gap(x, gamma=100))]:
        np.random.seed(3)  # rliable's StratifiedBootstrap resamples with numpy's global RNG
        points, intervals = library.get_interval_estimates(SCORES, lambda x: np.array([fn(x)]), reps=500,
                                                           random_state=np.random.RandomState(3))
        for k in SCORES:
            assert est[k][name][0] == pytest.approx(points[k][0])
            assert est[k][name][1:] == pytest.approx(tuple(intervals[k][:, 0]))
    # and by hand: IQM is the 25%-trimmed mean of all runs x tasks; the gap averages 100 - min(x, 100)
    assert est["a"]["IQM"][0] == pytest.approx(stats.trim_mean(SCORES["a"].ravel(), 0.25))
    assert est["b"]["optimality gap"][0] == pytest.approx(np.mean(100 - SCORES["b"]))
    lo, point, hi = est["a"]["IQM"][1], est["a"]["IQM"][0], est["a"]["IQM"][2]
    assert lo < point < hi
    assert aggregate.aggregate_estimates(SCORES, reps=500, seed=3) == est  # a seed fixes the intervals


def test_profiles_and_probability_of_improvement_equal_rliables():
    taus = np.linspace(0, 100, 11)
    points, bands = aggregate.performance_profiles(SCORES, taus, reps=200, seed=1)
    theirs, _ = library.create_performance_profile(SCORES, taus, reps=50)
    for k in SCORES:
        np.testing.assert_allclose(points[k], theirs[k])
        assert bands[k].shape == (2, len(taus))
    # a run of 'a' above 40 on task 0: 1 of 5; the profile at tau=40 averages tasks 0 and 1 (1/5, 4/5)
    assert points["a"][4] == pytest.approx(np.mean([1 / 5, 4 / 5]))
    poi = aggregate.probability_of_improvement(SCORES, [("a", "b")], reps=200, seed=1)
    assert poi[("a", "b")][0] == pytest.approx(metrics.probability_of_improvement(SCORES["a"], SCORES["b"]))
    # by hand on one task: x = (1, 3), y = (2, 2): P(X > Y) = (0 + 0 + 1 + 1) / 4 = 0.5; ties count half
    tie = aggregate.probability_of_improvement({"x": np.array([[1.0], [3.0]]), "y": np.array([[2.0], [1.0]])},
                                               [("x", "y")], reps=50)
    assert tie[("x", "y")][0] == pytest.approx((0.5 + 0 + 1 + 1) / 4)


def test_workflow_signals():
    steps = np.arange(1, 21) * 1000.0
    rising_then_falling = np.concatenate([np.linspace(0, 10, 10), np.linspace(10, 4, 10)])
    flags = aggregate.workflow_signals({"step": steps, "q_data": rising_then_falling,
                                        "td_error": np.full(20, 0.01)})
    assert len(flags) == 1 and flags[0].startswith("over-fitting") and "early stopping" in flags[0]
    assert aggregate.workflow_signals({"step": steps, "q_data": np.linspace(0, 10, 20),
                                       "td_error": np.full(20, 0.5)}) == []  # 5% of |Q|: fine
    high = aggregate.workflow_signals({"step": steps, "q_data": np.full(20, 10.0),
                                       "td_error": np.full(20, 3.0)})  # 30% of |Q| = 10
    assert len(high) == 1 and high[0].startswith("under-fitting") and "30%" in high[0]
    # an actor at the bounds to the end: flagged; one that left them: not
    stuck = aggregate.workflow_signals({"step": steps, "actor_saturated": np.concatenate([[0.2], np.full(19, 0.999)])})
    assert len(stuck) == 1 and stuck[0].startswith("saturated actor: 99.9%") and "--config.observation_transform=zscore" in stuck[0]
    assert aggregate.workflow_signals({"step": steps, "actor_saturated": np.concatenate([np.full(10, 1.0),
                                                                                        np.full(10, 0.3)])}) == []


def test_report_from_real_runs(pendulum, tmp_path):
    from algos.trainer import train_and_evaluate
    train_and_evaluate(tiny_config("iql", num_seeds=3), str(tmp_path / "runs" / "iql"))
    train_and_evaluate(tiny_config("td3_bc", num_seeds=2, sweep="alpha=1,2.5"), str(tmp_path / "runs" / "td3"))
    proc = subprocess.run([sys.executable, "-m", "scripts.report", f"--workdirs={tmp_path}/runs",
                           f"--out_dir={tmp_path}/report", "--reps=100"],
                          capture_output=True, text=True, cwd=REPO, env=os.environ.copy(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [aggregate.load_run(p) for p in aggregate.find_workdirs([str(tmp_path / "runs")])]
    iql = next(r for r in records if r["algo"] == "iql")
    finals = [run["final"] for run in iql["runs"]]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| stitch/pendulum/mixed-v0 | iql |"))
    assert f"| 3 | {np.mean(finals):.1f} ± {np.std(finals):.1f} |" in row
    best = [np.max(run["curve"]) for run in iql["runs"]]
    assert f"| {np.mean(best):.1f} ± {np.std(best):.1f} |" in row
    assert "| td3_bc alpha=1.0 |" in proc.stdout and "| td3_bc alpha=2.5 |" in proc.stdout
    logged = aggregate.read_metrics(str(tmp_path / "runs" / "td3"))  # the saturation signal's input is logged
    assert all(0.0 <= v <= 1.0 for cols in logged.values() for v in cols["actor_saturated"])
    assert "## Probability of improvement" in proc.stdout
    for png in ("curves.png", "profiles.png", "sweep_td3_bc_stitch-pendulum-mixed-v0.png"):
        assert (tmp_path / "report" / png).stat().st_size > 10_000
    (tmp_path / "empty").mkdir()  # no finished run under the folder: the message says so and what to give
    empty = subprocess.run([sys.executable, "-m", "scripts.report", f"--workdirs={tmp_path}/empty",
                            f"--out_dir={tmp_path}/report2"], capture_output=True, text=True, cwd=REPO,
                           env=os.environ.copy(), timeout=300)
    assert empty.returncode != 0 and f"No results.json under {tmp_path}/empty. Fix: point --workdirs" in empty.stderr
    assert not (tmp_path / "report2").exists()


def test_algorithms_without_a_shared_dataset_get_no_aggregate_and_a_note():
    """A report over runs where no dataset has every algorithm (issue 17's Breakout: BCQ on noisy,
    REM on replay) used to fail in min() of an empty sequence."""
    from scripts import aggregate
    groups = {"bcq": {"noisy": [40.0, 42.0]}, "rem": {"replay": [5.0, 4.0]}}
    matrices, datasets, notes = aggregate.score_matrices(groups)
    assert matrices == {} and datasets == [] and "--datasets" in notes[0]


def test_workdirs_that_differ_in_a_setting_get_their_own_label_and_split_seeds_pool():
    """Two workdirs of one algorithm and dataset run with different settings (REM at two Adam
    epsilons) used to merge into one row; single-seed workdirs (`--set=seed=k`) must still pool."""
    def rec(algo, dataset, seeds, finals, **config):
        base = {"algo": algo, "dataset": dataset, "seed": seeds[0], "num_seeds": len(seeds), "adam_eps": 3.125e-4,
                "hidden_dims": [256, 256], "checkpoint": True, "actor_bc_coef": 0.1}
        return {"algo": algo, "dataset": dataset, "sweep": [], "config": {**base, **config}, "variant": {},
                "runs": [{"run": i, "seed": s, "grid": {}, "final": f} for i, (s, f) in enumerate(zip(seeds, finals))]}
    records = aggregate.mark_variants([
        rec("rem", "replay", [0, 1], [4.0, 5.0]),
        rec("rem", "replay", [0, 1], [20.0, 21.0], adam_eps=1e-8, checkpoint=False),
        rec("cql", "replay", [0], [30.0]), rec("cql", "replay", [1], [34.0], checkpoint=False),
        # a per-task preset differs across datasets only: not a variant
        rec("rebrac", "replay", [0], [17.0]), rec("rebrac", "noisy", [0], [40.0], actor_bc_coef=0.01),
        rec("rebrac", "noisy", [0], [30.0], actor_bc_coef=0.01, hidden_dims=[64, 64]),
    ])
    groups = aggregate.group_scores(records)
    assert groups["rem adam_eps=0.0003125"] == {"replay": [4.0, 5.0]}
    assert groups["rem adam_eps=1e-08"] == {"replay": [20.0, 21.0]}
    assert groups["cql"] == {"replay": [30.0, 34.0]}  # seeds pooled; checkpointing is not a setting
    assert groups["rebrac hidden_dims=256,256"] == {"replay": [17.0], "noisy": [40.0]}
    assert groups["rebrac hidden_dims=64,64"] == {"noisy": [30.0]}
    assert set(groups) == {"rem adam_eps=0.0003125", "rem adam_eps=1e-08", "cql", "rebrac hidden_dims=256,256",
                           "rebrac hidden_dims=64,64"}
    from algos.workdir import IGNORED_ON_RESUME  # what a resume ignores never tells runs apart
    assert set(IGNORED_ON_RESUME) <= aggregate.NOT_A_VARIANT


def test_curves_give_a_method_one_colour_in_every_panel(tmp_path, monkeypatch):
    """plot_curves: a label keeps its colour and marker across datasets even where the other
    labels differ (here 'b' is the only line of the second panel, the second of the first)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scripts import report
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)

    def rec(algo, dataset):
        return {"algo": algo, "dataset": dataset, "steps": [1000, 2000], "behaviour": 1.0,
                "score_kind": "normalized_score", "runs": [{"grid": {}, "curve": [1.0, 2.0]}, {"grid": {}, "curve": [2.0, 3.0]}]}
    report.plot_curves([rec("a", "d1"), rec("b", "d1"), rec("b", "d2")], str(tmp_path / "c.png"))
    (fig,) = figures
    style = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label().startswith(("a ", "b ")):
                style.setdefault(line.get_label()[0], set()).add((line.get_color(), line.get_marker()))
    assert sorted(style) == ["a", "b"] and all(len(v) == 1 for v in style.values())
    assert style["a"] != style["b"]
