"""Off-policy evaluation and model selection over a run's checkpoints, without the environment.

  python -m scripts.ope --workdir=runs/iql_hopper --dataset=bench/hopper/medium-replay-v0

For each kept checkpoint of --workdir (train with --config.keep_checkpoints=0 to keep every
evaluation's), the policy's deterministic actions at every row's state and next state of
--dataset (default: the run's own) go into one .npz, and FQE (algos/fqe.py) fits all of them
in one program, one run per checkpoint. The estimate is FQE's discounted value at the
dataset's initial states. Where the run was evaluated online at those steps (results.json),
the checkpoints are ranked by the estimate and by the online return: Spearman's rank
correlation and regret@1 (the online score lost by picking the estimate's best checkpoint)
say how well the estimate selects. Outputs in --out (default <workdir>/ope): targets.npz, the
FQE workdir, ope.json.

Importance sampling (algos/ope.py) needs the policies' densities, which the algorithm
contract does not expose yet: this command reports FQE only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gymnasium as gym
import numpy as np
from absl import app, flags

from algos.common import StitchError, quiet_logs
from algos.trainer import train_and_evaluate
from algos.workdir import checkpoint_manager, load_batched_policy, load_config
from data.dataset import normalize_actions, read_columns

flags.DEFINE_string("workdir", None, "a stitch run whose checkpoints are evaluated")
flags.DEFINE_string("dataset", None, "Minari dataset to evaluate on (default: the run's)")
flags.DEFINE_list("steps", None, "checkpoint steps (default: every kept checkpoint)")
flags.DEFINE_integer("run", 0, "which run of the workdir (seed x grid point)")
flags.DEFINE_integer("fqe_updates", 100_000, "FQE updates")
flags.DEFINE_integer("batch", 8192, "observations per policy call")
flags.DEFINE_string("out", None, "output folder (default: <workdir>/ope)")
FLAGS = flags.FLAGS


def target_actions(workdir, dataset_id, steps, run=0, batch=8192):
    """(actions, next_actions): (N, K, action_dim) in the dataset's normalised action space, or
    (N, K) integer actions, of the K checkpoints' deterministic policies."""
    arrays, _, dataset = read_columns(dataset_id, load_config(workdir).get("observation_keys", ""))
    space = dataset.action_space
    out = {"actions": [], "next_actions": []}
    for step in steps:
        policy, _, _ = load_batched_policy(workdir, run, step)
        for key, column in (("actions", "observations"), ("next_actions", "next_observations")):
            rows = arrays[column]
            acts = np.concatenate([policy(rows[i:i + batch]) for i in range(0, len(rows), batch)])
            if isinstance(space, gym.spaces.Box):
                acts = normalize_actions(acts, space.low.astype(np.float64), space.high.astype(np.float64))
            else:
                acts = acts - space.start  # the loader's action indices
            out[key].append(acts)
    return np.stack(out["actions"], 1), np.stack(out["next_actions"], 1)


def spearman(x, y) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy import stats
    return float(stats.spearmanr(x, y).statistic)


def selection(estimates, online):
    """Spearman's rho and regret@1 of picking the checkpoint with the highest estimate."""
    estimates, online = np.asarray(estimates, float), np.asarray(online, float)
    return {"spearman": spearman(estimates, online) if len(online) > 2 else None,
            "regret_at_1": float(online.max() - online[int(np.argmax(estimates))]),
            "picked": int(np.argmax(estimates)), "best": int(np.argmax(online))}


def evaluate(workdir, dataset_id=None, steps=None, run=0, fqe_updates=100_000, out=None, batch=8192,
             fqe_overrides=None):
    config = load_config(workdir)
    dataset_id = dataset_id or config.dataset
    out = out or os.path.join(workdir, "ope")
    manager = checkpoint_manager(workdir, keep=0)
    kept = sorted(manager.all_steps())
    manager.close()
    steps = [int(s) for s in steps] if steps else kept
    missing = [s for s in steps if s not in kept]
    if missing or not steps:
        raise StitchError(f"{workdir} keeps checkpoints at {kept}, not at {missing or 'any step'}. Fix: pick "
                          f"from those, or train with --config.keep_checkpoints=0 to keep every evaluation's.")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "targets.npz")
    actions, next_actions = target_actions(workdir, dataset_id, steps, run, batch)
    np.savez(path, actions=actions, next_actions=next_actions, dataset=dataset_id, steps=np.asarray(steps))
    from configs import fqe, fqe_discrete
    fqe_config = (fqe_discrete if actions.ndim == 2 else fqe).get_config()
    fqe_config.update(dict(dataset=dataset_id, target_actions=path, num_seeds=1, num_updates=fqe_updates,
                           eval_interval=fqe_updates, log_interval=min(1000, fqe_updates),
                           discount=config.discount, progress_bar=False,
                           sweep="policy_index=" + ",".join(map(str, range(len(steps))))))
    fqe_config.update(fqe_overrides or {})
    results = train_and_evaluate(fqe_config, os.path.join(out, "fqe"))
    values = results["final_metrics"]["fqe_value"]
    with open(os.path.join(workdir, "results.json")) as f:
        history = {e["step"]: e for e in json.load(f)["eval"]}
    rows = []
    for step, value in zip(steps, values):
        e = history.get(step)
        online = None if e is None else (e["normalized_score"] or e["return"])[run]
        rows.append({"step": step, "fqe_value": value, "online": online})
    report = {"workdir": workdir, "dataset": dataset_id, "run": run, "fqe_updates": fqe_updates,
              "discount": config.discount, "checkpoints": rows}
    paired = [r for r in rows if r["online"] is not None]
    if len(paired) >= 2:
        pick = selection([r["fqe_value"] for r in paired], [r["online"] for r in paired])
        pick.update(picked_step=paired[pick["picked"]]["step"], best_step=paired[pick["best"]]["step"])
        report["selection"] = {"fqe": pick}
    with open(os.path.join(out, "ope.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


def main(argv):
    del argv
    quiet_logs()
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required: a stitch run with checkpoints.")
    try:
        report = evaluate(FLAGS.workdir, FLAGS.dataset, FLAGS.steps, FLAGS.run, FLAGS.fqe_updates, FLAGS.out,
                          FLAGS.batch)
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"\nFQE (discounted value at the initial states of {report['dataset']}, gamma {report['discount']}) "
          f"of {FLAGS.workdir}'s run {report['run']}:\n\n| step | FQE value | online score |\n|---|---|---|")
    for r in report["checkpoints"]:
        online = "-" if r["online"] is None else f"{r['online']:.1f}"
        print(f"| {r['step']} | {r['fqe_value']:.2f} | {online} |")
    if "selection" in report:
        s = report["selection"]["fqe"]
        rho = "n/a (fewer than 3 checkpoints)" if s["spearman"] is None else f"{s['spearman']:.2f}"
        print(f"\nmodel selection by FQE: Spearman {rho}, regret@1 {s['regret_at_1']:.1f} "
              f"(picked step {s['picked_step']}, best {s['best_step']})")

if __name__ == "__main__":
    app.run(main)
