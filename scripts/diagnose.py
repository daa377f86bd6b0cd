"""Dataset diagnostics for Minari datasets: TQ, SACo, returns, episode lengths, action coverage.

  python -m scripts.diagnose --datasets=bench/hopper/medium-v0,bench/hopper/medium-expert-v0 \
      --reference=bench/hopper/medium-replay-v0 --png=runs/hopper_data.png --json=runs/hopper_data.json

TQ and SACo as Schweighofer et al. 2022 define them (data/diagnostics.py): TQ normalises the
mean return between each dataset's ref_min_score (random policy) and ref_max_score (expert);
SACo divides the unique discretised state-action pairs by those of --reference (the paper's
replay dataset: the online agent's whole replay buffer; without one, only the counts are
given). Every dataset, the reference included, is discretised between the same limits: the
minimum and maximum of each dimension over all of them, so the counts compare. --sketch counts
with a HyperLogLog of 2**sketch registers instead of exactly.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gymnasium as gym
import numpy as np
from absl import app, flags

from data import diagnostics
from data.dataset import read_columns
from data.spec import StitchError

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_list("datasets", None, "Minari dataset ids to diagnose")
    flags.DEFINE_string("reference", None, "SACo's reference dataset (the paper: the online agent's replay)")
    flags.DEFINE_integer("bins", diagnostics.BINS, "discretisation edges per dimension (the paper's 100)")
    flags.DEFINE_integer("sketch", None, "count with a HyperLogLog of 2**sketch registers (e.g. 14) instead of exactly")
    flags.DEFINE_string("png", None, "save return histograms and the TQ-SACo map to this PNG")
    flags.DEFINE_string("json", None, "save the figures to this JSON")
    flags.DEFINE_string("observation_keys", "", "Dict observations: the keys to concatenate (default: data/dataset.py's)")


def diagnose(dataset_ids, reference=None, bins=diagnostics.BINS, sketch=None, observation_keys=""):
    """{dataset id: its figures}; the reference, where given, is diagnosed too."""
    ids = list(dict.fromkeys(list(dataset_ids) + ([reference] if reference else [])))
    loaded = {i: read_columns(i, observation_keys) for i in ids}
    spaces = {type(d.action_space).__name__ for _, _, d in loaded.values()}
    if len(spaces) > 1:
        raise StitchError(f"--datasets mix action spaces ({', '.join(sorted(spaces))}): state-action "
                          f"coverage compares datasets of one task. Fix: diagnose each task separately.")
    shapes = {a["observations"].shape[1:] + a["actions"].shape[1:] for a, _, _ in loaded.values()}
    if len(shapes) > 1:
        raise StitchError(f"--datasets have different observation/action shapes {sorted(shapes)}: "
                          f"coverage compares datasets of one task. Fix: diagnose each task separately.")
    rows = [np.concatenate([a["observations"].reshape(len(a["actions"]), -1),
                            a["actions"].reshape(len(a["actions"]), -1)], 1) for a, _, _ in loaded.values()]
    low, high = diagnostics.shared_limits(*rows)
    out = {}
    for dataset_id, (arrays, returns, dataset) in loaded.items():
        meta = dataset.storage.metadata
        ref_min, ref_max = meta.get("ref_min_score"), meta.get("ref_max_score")
        lengths = diagnostics.episode_lengths(arrays["episode_ends"])
        space = dataset.action_space
        coverage = (diagnostics.action_coverage(arrays["actions"] - space.start, num_actions=int(space.n))
                    if isinstance(space, gym.spaces.Discrete)
                    else diagnostics.action_coverage(arrays["actions"], space.low, space.high))
        out[dataset_id] = {
            "episodes": len(returns), "transitions": int(len(arrays["rewards"])),
            "return": {"min": float(returns.min()), "mean": float(returns.mean()), "max": float(returns.max()),
                       "std": float(returns.std())},
            "episode_length": {"min": int(lengths.min()), "mean": float(lengths.mean()), "max": int(lengths.max())},
            "ref_min_score": ref_min, "ref_max_score": ref_max,
            "tq": (diagnostics.trajectory_quality(returns, ref_min, ref_max)
                   if ref_min is not None and ref_max is not None and ref_max > ref_min else None),
            "unique_state_actions": diagnostics.count_state_actions(
                arrays["observations"], arrays["actions"], low, high, bins, sketch),
            "action_coverage": coverage, "returns": returns.tolist(),
        }
    for figures in out.values():
        figures["saco"] = (figures["unique_state_actions"] / out[reference]["unique_state_actions"]
                           if reference else None)
    return out


def _fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def print_table(out, reference=None, counting="exact"):
    print(f"\n| dataset | episodes | transitions | return min / mean / max | length min / mean / max "
          f"| TQ | unique (s, a), {counting} | SACo{f' vs {reference}' if reference else ''} | action bins visited |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset_id, f in out.items():
        cov = f["action_coverage"]
        visited = cov.get("fraction_of_bins_visited") or [cov["fraction_of_actions_taken"]]
        print(f"| {dataset_id} | {f['episodes']} | {f['transitions']} | {f['return']['min']:.1f} / "
              f"{f['return']['mean']:.1f} / {f['return']['max']:.1f} | {f['episode_length']['min']} / "
              f"{f['episode_length']['mean']:.0f} / {f['episode_length']['max']} | {_fmt(f['tq'])} | "
              f"{f['unique_state_actions']} | {_fmt(f['saco'])} | {np.mean(visited):.2f} |")


def plot(out, path, reference=None):
    """One return histogram per dataset (random and expert returns marked) and, where SACo and TQ
    both exist, the paper's TQ-SACo map."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with_map = any(f["saco"] is not None and f["tq"] is not None for f in out.values())
    n = len(out) + with_map
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    axes = axes.reshape(-1)
    for ax, (dataset_id, f) in zip(axes, out.items()):
        ax.hist(f["returns"], bins=30, color="tab:blue", alpha=0.8)
        for ref, name, color in ((f["ref_min_score"], "random", "tab:red"), (f["ref_max_score"], "expert", "tab:green")):
            if ref is not None:
                ax.axvline(ref, color=color, ls="--", lw=1, label=f"{name} ({ref:.0f})")
        ax.set_title(f"{dataset_id}\n{f['episodes']} episodes, TQ {_fmt(f['tq'], '.2f')}", fontsize=8)
        ax.set_xlabel("episode return", fontsize=8)
        ax.set_ylabel("episodes", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    if with_map:
        ax = axes[len(out)]
        for dataset_id, f in out.items():
            if f["saco"] is not None and f["tq"] is not None:
                ax.scatter(f["saco"], f["tq"], s=30)
                ax.annotate(dataset_id.split("/")[-1], (f["saco"], f["tq"]), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel(f"SACo (unique state-actions / {reference.split('/')[-1]}'s)", fontsize=8)
        ax.set_ylabel("TQ (0 random, 1 expert)", fontsize=8)
        ax.set_title("Schweighofer et al.'s map: exploitation vs exploration", fontsize=8)
        ax.set_xlim(0, 1.15 * max(f["saco"] or 0 for f in out.values()))
        ax.set_ylim(min(-0.05, min(f["tq"] or 0 for f in out.values()) - 0.05), 1.1)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


def main(argv):
    del argv
    if not FLAGS.datasets:
        raise app.UsageError("--datasets is required: one or more Minari dataset ids, comma-separated.")
    try:
        out = diagnose(FLAGS.datasets, FLAGS.reference, FLAGS.bins, FLAGS.sketch, FLAGS.observation_keys)
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print_table(out, FLAGS.reference, "exact" if FLAGS.sketch is None else f"HyperLogLog 2^{FLAGS.sketch}")
    if FLAGS.png:
        plot(out, FLAGS.png, FLAGS.reference)
    if FLAGS.json:
        os.makedirs(os.path.dirname(FLAGS.json) or ".", exist_ok=True)
        with open(FLAGS.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
