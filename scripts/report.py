"""Tables and plots from a set of stitch runs: what README and BENCHMARKS report.

  python -m scripts.report --workdirs='runs/peer13/stitch/*' --out_dir=runs/report

reads every results.json (and metrics.csv) under --workdirs and writes, into --out_dir:
- report.md (also printed): per dataset and algorithm, the final score (mean ± std over runs)
  with its IQM and bootstrap 95% interval, and CORL's last and best scores (best: each run's
  highest evaluation); per algorithm over the datasets they share, rliable's IQM, mean, median
  and optimality gap with stratified bootstrap 95% intervals; the probability that each
  algorithm improves on each other one; the CQL-workflow warnings and saturated actors read
  from metrics.csv.
- curves.png: learning curves per dataset, mean over runs with a band of one standard error.
- profiles.png: performance profiles (the fraction of runs above each score) with 95% bands.
- sweep_<algo>_<dataset>.png for a run that swept a hyperparameter grid: the final score per
  grid point (a heat map over two fields, a line over one).
An algorithm that swept is reported per grid point ("iql expectile=0.9"), and workdirs of one
algorithm and dataset run with different settings by theirs ("rebrac init=glorot"); workdirs
that differ only in seeds (`--num_seeds=1 --set=seed=k`) are pooled.
Needs the report extra: pip install -e ".[report]".
"""
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from absl import app, flags

from scripts import aggregate

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script: importing this module (the
    tests do, beside scripts/collect.py, whose --seed shares the name) defines none."""
    flags.DEFINE_list("workdirs", None, "run workdirs, parent folders or globs (quote globs)")
    flags.DEFINE_string("out_dir", "runs/report", "where report.md and the PNGs go")
    flags.DEFINE_integer("reps", 20_000, "bootstrap replications")
    flags.DEFINE_integer("seed", 0, "bootstrap seed")
    flags.DEFINE_list("datasets", None, "datasets of the aggregate (default: those every algorithm has)")
    flags.DEFINE_list("compare", None, "probability of improvement for these pairs, 'X:Y' each "
                      "(default: the best algorithm by IQM against each other one)")


def _ci(point, low, high, digits=1):
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                     ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def per_dataset_rows(records, reps, seed):
    """(dataset, label) rows: runs, final mean ± std, IQM [CI], CORL's last and best."""
    cells = {}
    for rec in records:
        for run in rec["runs"]:
            if run["final"] is None:
                continue
            c = cells.setdefault((rec["dataset"], aggregate.label(rec, run["grid"])), {"final": [], "best": []})
            c["final"].append(run["final"])
            c["best"].append(float(np.nanmax(run["curve"])))
            c["kind"] = rec["score_kind"]
    rows = []
    for (dataset, name), c in sorted(cells.items()):
        final, best = np.asarray(c["final"]), np.asarray(c["best"])
        iqm = aggregate.iqm_with_ci(final, reps, seed) if len(final) > 1 else (final[0], final[0], final[0])
        rows.append([dataset, name, len(final), f"{final.mean():.1f} ± {final.std():.1f}", _ci(*iqm),
                     f"{best.mean():.1f} ± {best.std():.1f}", c["kind"].replace("normalized_score", "normalised")])
    return rows


def plot_curves(records, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    datasets = sorted({r["dataset"] for r in records})
    # One colour and marker per line label across every panel, so a method reads the same everywhere.
    labels = sorted({aggregate.label(r, run["grid"]) for r in records if r["steps"] for run in r["runs"]})
    style = {key: i for i, key in enumerate(labels)}
    cols = min(3, len(datasets))
    rows = -(-len(datasets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat[len(datasets):]:
        ax.set_visible(False)
    for ax, dataset in zip(axes.flat, datasets):
        lines = {}
        for rec in (r for r in records if r["dataset"] == dataset and r["steps"]):
            for run in rec["runs"]:
                key = aggregate.label(rec, run["grid"])
                lines.setdefault(key, {"steps": rec["steps"], "curves": []})
                if list(lines[key]["steps"]) == list(rec["steps"]):  # pool runs evaluated alike
                    lines[key]["curves"].append(run["curve"])
        # past ten lines matplotlib's default colours repeat: a colour of tab20 and a marker each
        palette = plt.cm.tab10 if len(labels) <= 10 else plt.cm.tab20
        for key, line in sorted(lines.items()):
            i = style[key]
            y = np.asarray(line["curves"])
            x = np.asarray(line["steps"]) / 1000
            se = y.std(0, ddof=1) / np.sqrt(len(y)) if len(y) > 1 else np.zeros(y.shape[1])
            color = palette(i % palette.N)
            ax.plot(x, y.mean(0), "-", marker="osD^v<>ph*"[i % 10], ms=3, color=color, label=f"{key} ({len(y)} runs)")
            ax.fill_between(x, y.mean(0) - se, y.mean(0) + se, alpha=0.15, color=color)
        behaviour = next((r["behaviour"] for r in records if r["dataset"] == dataset), None)
        if behaviour is not None:
            ax.axhline(behaviour, color="gray", ls=":", lw=1, label="behaviour data")
        kind = next(r["score_kind"] for r in records if r["dataset"] == dataset)
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("updates (thousands)", fontsize=8)
        ax.set_ylabel("normalised score" if kind == "normalized_score" else "return", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    fig.suptitle("Learning curves: mean over runs, band = one standard error", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_profiles(matrices, datasets, path, reps, seed):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    top = max(float(np.max(m)) for m in matrices.values())
    taus = np.linspace(min(0.0, min(float(np.min(m)) for m in matrices.values())), max(top, 1.0), 101)
    profiles, bands = aggregate.performance_profiles(matrices, taus, reps, seed)
    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    for name in sorted(profiles):
        ax.plot(taus, profiles[name], label=name)
        ax.fill_between(taus, bands[name][0], bands[name][1], alpha=0.12)
    ax.set_xlabel("normalised score τ", fontsize=8)
    ax.set_ylabel("fraction of runs with score > τ", fontsize=8)
    ax.set_title(f"Performance profiles over {len(datasets)} dataset(s), 95% bootstrap bands", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sweep(rec, path):
    """Final score per grid point of one swept workdir: a heat map over two fields, a line over one."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fields = rec["sweep"]
    points = {}
    for run in rec["runs"]:
        points.setdefault(tuple(run["grid"][f] for f in fields), []).append(run["final"])
    means = {k: float(np.mean(v)) for k, v in points.items()}
    fig, ax = plt.subplots(figsize=(5, 3.8))
    if len(fields) == 1:
        xs = sorted(means)
        ax.plot([x[0] for x in xs], [means[x] for x in xs], "o-")
        ax.set_xlabel(fields[0], fontsize=8)
        ax.set_ylabel("final score (mean over seeds)", fontsize=8)
        if all(x[0] > 0 for x in xs) and max(x[0] for x in xs) / min(x[0] for x in xs) > 20:
            ax.set_xscale("log")
    else:
        a_vals = sorted({k[0] for k in means})
        b_vals = sorted({k[1] for k in means})
        grid = np.full((len(a_vals), len(b_vals)), np.nan)
        for k, v in means.items():
            grid[a_vals.index(k[0]), b_vals.index(k[1])] = v
        im = ax.imshow(grid, cmap="viridis", aspect="auto")
        middle = (np.nanmin(grid) + np.nanmax(grid)) / 2
        for i, j in itertools.product(range(len(a_vals)), range(len(b_vals))):
            if np.isfinite(grid[i, j]):  # dark text on viridis' bright end, white on its dark end
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="black" if grid[i, j] > middle else "white")
        ax.set_yticks(range(len(a_vals)), [str(v) for v in a_vals], fontsize=7)
        ax.set_xticks(range(len(b_vals)), [str(v) for v in b_vals], fontsize=7)
        ax.set_ylabel(fields[0], fontsize=8)
        ax.set_xlabel(fields[1], fontsize=8)
        fig.colorbar(im, ax=ax, label="final score (mean over seeds)")
    ax.set_title(f"{rec['algo']} on {rec['dataset']}: sweep", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_report(workdirs, out_dir, reps=20_000, seed=0, datasets=None, compare=None):
    """Write report.md and the PNGs; return the markdown. compare: (X, Y) label pairs for the
    probability of improvement (default: the best algorithm by IQM against each other one)."""
    paths = aggregate.find_workdirs(workdirs)
    if not paths:
        raise SystemExit(f"No results.json under {', '.join(workdirs)}. Fix: point --workdirs at run "
                         f"workdirs (or folders holding them) whose runs have finished.")
    records = aggregate.mark_variants([aggregate.load_run(p) for p in paths])
    os.makedirs(out_dir, exist_ok=True)
    md = [f"# Report on {len(records)} workdir(s)\n",
          "## Per dataset\n",
          "Final score: mean ± std over runs, and its interquartile mean with a bootstrap 95% interval. "
          "Best (as CORL reports it): each run's highest evaluation, mean ± std.\n",
          _table(["dataset", "algorithm", "runs", "final", "final IQM [95% CI]", "best", "score"],
                 per_dataset_rows(records, reps, seed))]
    groups = aggregate.group_scores(records)
    matrices, used, notes = aggregate.score_matrices(groups, datasets) if groups else ({}, [], [])
    if matrices and used:
        est = aggregate.aggregate_estimates(matrices, reps, seed)
        md += [f"\n## Aggregate over {len(used)} dataset(s): {', '.join(used)}\n",
               "rliable's stratified bootstrap over runs, 95% intervals; optimality gap against a "
               f"normalised score of {aggregate.OPTIMALITY_GAP_TARGET:.0f} (lower is better).\n",
               _table(["algorithm", "runs x datasets", "IQM", "mean", "median", "optimality gap"],
                      [[k, "x".join(map(str, matrices[k].shape))] + [_ci(*est[k][m]) for m in
                       ("IQM", "mean", "median", "optimality gap")] for k in sorted(est)])]
        md += [f"- {n}" for n in notes]
        best = max(est, key=lambda k: est[k]["IQM"][0])
        pairs = compare or [(best, k) for k in sorted(matrices) if k != best]
        unknown = [k for pair in pairs for k in pair if k not in matrices]
        if unknown:
            raise SystemExit(f"--compare names {', '.join(unknown)}, which the aggregate does not hold; "
                             f"its algorithms: {', '.join(sorted(matrices))}.")
        if pairs:
            poi = aggregate.probability_of_improvement(matrices, pairs, min(reps, 1_000), seed)
            md += ["\n## Probability of improvement\n",
                   "P(X > Y): the chance that a run of X beats a run of Y on a dataset drawn at random, "
                   f"with a bootstrap 95% interval ({'the pairs of --compare' if compare else f'{best}, the best by IQM, against each other'}).\n",
                   _table(["X", "Y", "P(X > Y)"], [[x, y, _ci(*poi[(x, y)], digits=2)] for x, y in pairs])]
        plot_profiles(matrices, used, os.path.join(out_dir, "profiles.png"), min(reps, 2_000), seed)
    signals = []
    for rec in records:
        for run, cols in sorted(aggregate.read_metrics(rec["workdir"]).items()):
            signals += [[rec["workdir"], run, s] for s in aggregate.workflow_signals(cols)]
    md += ["\n## Training signals (metrics.csv): the CQL workflow's, and saturated actors\n",
           _table(["workdir", "run", "signal and advice"], signals) if signals else
           "None: no run's dataset Q rose then fell, no TD error stayed high, and no actor is stuck at the "
           "action bounds."]
    if any(r["steps"] for r in records):
        plot_curves(records, os.path.join(out_dir, "curves.png"))
    for rec in records:
        if rec["sweep"] and rec["steps"] and len(rec["sweep"]) <= 2:
            plot_sweep(rec, os.path.join(out_dir, f"sweep_{rec['algo']}_{rec['dataset'].replace('/', '-')}.png"))
    text = "\n".join(md) + "\n"
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(text)
    return text


def main(argv):
    del argv
    if not FLAGS.workdirs:
        raise app.UsageError("--workdirs is required (run workdirs, parent folders or quoted globs).")
    compare = [tuple(p.split(":", 1)) for p in FLAGS.compare or []]
    if any(len(p) != 2 for p in compare):
        raise app.UsageError("--compare takes pairs 'X:Y' (algorithm labels as the report names them).")
    print(build_report(FLAGS.workdirs, FLAGS.out_dir, FLAGS.reps, FLAGS.seed, FLAGS.datasets, compare))
    print(f"Written to {FLAGS.out_dir}: report.md and PNGs")


if __name__ == "__main__":
    define_flags()
    app.run(main)
