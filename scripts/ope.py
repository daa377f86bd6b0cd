"""Off-policy evaluation and model selection over a run's checkpoints, without the environment.

  python -m scripts.ope --workdir=runs/iql_hopper --dataset=bench/hopper/medium-replay-v0
  python -m scripts.ope --pool=runs/iql_hopper/ope/ope.json,runs/td3_hopper/ope/ope.json  # rank runs together

For each kept checkpoint of --workdir (train with --config.keep_checkpoints=0 to keep every
evaluation's), the policy's deterministic actions at every row's state and next state of
--dataset (default: the run's own) go into one .npz, and FQE (algos/fqe.py) fits all of them
in one program, one run per checkpoint. The estimate is FQE's discounted value at the
dataset's initial states. Where the run was evaluated online at those steps (results.json),
the checkpoints are ranked by the estimate and by the online return: Spearman's rank
correlation and regret@1 (the online score lost by picking the estimate's best checkpoint)
say how well the estimate selects. Outputs in --out (default <workdir>/ope): targets.npz, the
FQE workdir, ope.json.

Importance sampling (algos/ope.py): where the run's algorithm has a density (the contract's
optional `log_prob`: IQL, AWAC, CQL, SAC-N, EDAC; not TD3+BC, ReBRAC or MSE BC), each checkpoint
is also scored by per-decision IS, weighted IS and doubly robust, with its effective sample size.
The behaviour policy is fitted (the data's own is unknown): BC with a Gaussian head
(`--behaviour_updates` updates, in <out>/behaviour; `--behaviour` reuses a fitted workdir).
These estimate the checkpoint's *stochastic* policy (the density's), while FQE and the online
score evaluate its deterministic mode; doubly robust uses FQE's critic of that mode as its model,
with v(s) = E_{a~pi} q(s, a) over `--dr_samples` sampled actions (unbiased for any model q).
Over long episodes the weights collapse (a warning says so, with the ESS): the estimates are
reported, not trusted.
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gymnasium as gym
import numpy as np
from absl import app, flags

from algos.common import StitchError, quiet_logs
from algos.trainer import train_and_evaluate
from algos import ope
from algos.workdir import checkpoint_manager, load_batched_log_prob, load_batched_policy, load_config
from data.dataset import normalize_actions, read_columns

def define_flags():
    """The command line's flags, defined only when run as a command: importing this module (the
    tests do, beside other scripts that define their own --workdir) defines none."""
    flags.DEFINE_string("workdir", None, "a stitch run whose checkpoints are evaluated")
    flags.DEFINE_string("dataset", None, "Minari dataset to evaluate on (default: the run's)")
    flags.DEFINE_list("steps", None, "checkpoint steps (default: every kept checkpoint)")
    flags.DEFINE_integer("run", 0, "which run of the workdir (seed x grid point)")
    flags.DEFINE_integer("fqe_updates", 100_000, "FQE updates")
    flags.DEFINE_integer("batch", 8192, "observations per policy call")
    flags.DEFINE_string("out", None, "output folder (default: <workdir>/ope)")
    flags.DEFINE_integer("behaviour_updates", 20_000, "updates of the fitted Gaussian behaviour policy (IS)")
    flags.DEFINE_string("behaviour", None, "a fitted behaviour policy's workdir to reuse (a run with a density)")
    flags.DEFINE_integer("dr_samples", 4, "policy samples per state for doubly robust's v(s)")
    flags.DEFINE_list("pool", None, "instead of evaluating: several ope.json of runs on one dataset (a sweep, "
                      "several algorithms), ranked together by each estimator they all have")


FLAGS = flags.FLAGS


def target_actions(workdir, dataset_id, steps, run=0, batch=8192, columns=None):
    """(actions, next_actions): (N, K, action_dim) in the dataset's normalised action space, or
    (N, K) integer actions, of the K checkpoints' deterministic policies. `columns`: the
    dataset's read_columns, if already read."""
    arrays, _, dataset = columns or read_columns(dataset_id, load_config(workdir).get("observation_keys", ""))
    space = dataset.action_space
    out = {"actions": [], "next_actions": []}
    for step in steps:
        policy, _, _ = load_batched_policy(workdir, run, step)
        for key, column in (("actions", "observations"), ("next_actions", "next_observations")):
            acts = _in_batches(policy, arrays[column], batch=batch)
            if isinstance(space, gym.spaces.Box):
                acts = normalize_actions(acts, space.low.astype(np.float64), space.high.astype(np.float64))
            else:
                acts = acts - space.start  # the loader's action indices
            out[key].append(acts)
    return np.stack(out["actions"], 1), np.stack(out["next_actions"], 1)


def fit_behaviour(dataset_id, out, updates, observation_keys=""):
    """The workdir of a Gaussian BC fit of the dataset's behaviour policy (resumed where it is)."""
    from configs import bc
    config = bc.get_config()
    log_interval = math.gcd(updates, 1000)
    config.update(dict(dataset=dataset_id, policy_head="gaussian", num_seeds=1, num_updates=updates,
                       log_interval=log_interval, eval_interval=updates, eval_episodes=0,
                       keep_checkpoints=1, progress_bar=False, observation_keys=observation_keys))
    workdir = os.path.join(out, "behaviour")
    train_and_evaluate(config, workdir)
    return workdir


def value_bound(rewards, discount):
    """max |r| / (1 - gamma): no policy's discounted value on these rewards can exceed it, so an
    FQE critic beyond it (on the data's actions or at the initial states) has diverged."""
    return float(np.max(np.abs(rewards)) / max(1.0 - discount, 1e-12))


def _in_batches(fn, *columns, batch=8192):
    return np.concatenate([fn(*(c[i:i + batch] for c in columns)) for i in range(0, len(columns[0]), batch)])


def importance_sampling(workdir, steps, run, arrays, space, behaviour, fqe_workdir, gamma, dr_samples=4,
                        batch=8192, seed=0):
    """Per checkpoint: algos.ope.estimates (PDIS, WIS, DR, ESS) of its stochastic policy, with the
    behaviour policy fitted in `behaviour` and FQE's critics (one per checkpoint, `fqe_workdir`)
    as doubly robust's model."""
    import jax
    from algos import fqe
    from algos.common import contract
    from algos.trainer import restore
    from data import samplers
    from data.dataset import load_dataset
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    actions = normalize_actions(arrays["actions"], low, high)
    observations = arrays["observations"]
    log_mu = _in_batches(load_batched_log_prob(behaviour)[0], observations, actions, batch=batch)
    fqe_config = load_config(fqe_workdir)
    model = contract(fqe)
    data, info = load_dataset(fqe_config, model.actions, model.samplers)
    _, carry, _ = restore(fqe_workdir, aux=fqe.prepare(fqe_config, data, info))
    q_fn = jax.jit(lambda state, o, a: fqe.q_values(state.critic, state.critic.params, o, a))
    fqe_obs = np.asarray(samplers.observations_at(fqe_config, data, np.arange(len(actions))))
    rng = np.random.default_rng(seed)
    out = []
    for k, step in enumerate(steps):
        log_pi = _in_batches(load_batched_log_prob(workdir, run, step)[0], observations, actions, batch=batch)
        sampler, _, _ = load_batched_policy(workdir, run, step, deterministic=False)
        state = jax.tree_util.tree_map(lambda x: x[k], carry[0])
        q_of = lambda o, a: np.asarray(q_fn(state, o, np.asarray(a, np.float32)), np.float64)
        q = _in_batches(q_of, fqe_obs, actions.astype(np.float32), batch=batch)
        v = np.mean([_in_batches(q_of, fqe_obs,
                                 normalize_actions(_in_batches(lambda o: sampler(o, rng), observations,
                                                               batch=batch), low, high), batch=batch)
                     for _ in range(dr_samples)], axis=0)
        out.append(ope.estimates(np.asarray(data["rewards"], np.float64), log_pi - log_mu,
                                 np.asarray(data["episode_ends"]), gamma, q, v))
    return out


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
             fqe_overrides=None, behaviour_updates=20_000, behaviour=None, dr_samples=4):
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
    columns = read_columns(dataset_id, config.get("observation_keys", ""))
    actions, next_actions = target_actions(workdir, dataset_id, steps, run, batch, columns)
    np.savez(path, actions=actions, next_actions=next_actions, dataset=dataset_id, steps=np.asarray(steps))
    from configs import fqe, fqe_discrete
    fqe_config = (fqe_discrete if actions.ndim == 2 else fqe).get_config()
    log_interval = math.gcd(1000, fqe_updates)  # checkpoints every 10k: resumable, and extendable
    fqe_config.update(dict(dataset=dataset_id, target_actions=path, num_seeds=1, num_updates=fqe_updates,
                           eval_interval=min(10_000, fqe_updates), log_interval=log_interval,
                           discount=config.discount, progress_bar=False,
                           sweep="policy_index=" + ",".join(map(str, range(len(steps))))))
    fqe_config.update(fqe_overrides or {})
    results = train_and_evaluate(fqe_config, os.path.join(out, "fqe"))
    values = results["final_metrics"]["fqe_value"]
    history = {}  # a run still training has no results.json yet: estimates without online scores
    if os.path.exists(os.path.join(workdir, "results.json")):
        with open(os.path.join(workdir, "results.json")) as f:
            history = {e["step"]: e for e in json.load(f)["eval"]}
    bound = value_bound(columns[0]["rewards"], config.discount)
    rows = []
    for step, value, q_data in zip(steps, values, results["final_metrics"]["q_data"]):
        e = history.get(step)
        online = None if e is None else (e["normalized_score"] or e["return"])[run]
        rows.append({"step": step, "fqe_value": value, "online": online, "fqe_q_data": q_data,
                     "fqe_diverged": bool(abs(q_data) > bound or abs(value) > bound)})
    report = {"workdir": workdir, "dataset": dataset_id, "run": run, "fqe_updates": fqe_updates,
              "discount": config.discount, "value_bound": bound, "checkpoints": rows}
    report["importance_sampling"] = _importance_sampling(workdir, dataset_id, steps, run, rows, config, out,
                                                         behaviour_updates, behaviour, dr_samples, batch,
                                                         columns)
    paired = [r for r in rows if r["online"] is not None]
    if len(paired) >= 2:
        report["selection"] = {}
        for name in ("fqe_value", *ESTIMATORS):
            if any(r.get(name) is None for r in paired):
                continue
            pick = selection([r[name] for r in paired], [r["online"] for r in paired])
            pick.update(picked_step=paired[pick["picked"]]["step"], best_step=paired[pick["best"]]["step"])
            report["selection"]["fqe" if name == "fqe_value" else name] = pick
    with open(os.path.join(out, "ope.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


ESTIMATORS = ("per_decision_is", "weighted_is", "doubly_robust")


def _importance_sampling(workdir, dataset_id, steps, run, rows, config, out, behaviour_updates, behaviour,
                         dr_samples, batch, columns):
    """Add the IS estimates to `rows` where the policy has a density; the section's summary."""
    arrays, _, dataset = columns
    if not isinstance(dataset.action_space, gym.spaces.Box):
        return {"available": False, "why": "discrete actions: IS over discrete policies is not wired yet"}
    low, high = dataset.action_space.low.astype(np.float64), dataset.action_space.high.astype(np.float64)
    try:
        load_batched_log_prob(workdir, run, steps[0])[0](
            arrays["observations"][:1], normalize_actions(arrays["actions"][:1], low, high))
    except StitchError as err:
        return {"available": False, "why": str(err)}
    if behaviour is None:
        behaviour = fit_behaviour(dataset_id, out, behaviour_updates, config.get("observation_keys", ""))
    elif load_config(behaviour).dataset != dataset_id:
        raise StitchError(f"--behaviour={behaviour} was fitted on {load_config(behaviour).dataset}, not "
                          f"{dataset_id}. Fix: fit it on this dataset, or leave --behaviour out to fit one.")
    per_step = importance_sampling(workdir, steps, run, arrays, dataset.action_space, behaviour,
                                   os.path.join(out, "fqe"), config.discount, dr_samples, batch)
    for row, est in zip(rows, per_step):
        row.update({name: est[name] for name in ESTIMATORS}, ess=est["ess"], episodes=est["episodes"],
                   is_warning=est["warning"])
    return {"available": True, "behaviour": behaviour, "dr_samples": dr_samples,
            "policy": "the checkpoints' stochastic policies (FQE and the online score: their modes)"}


def pooled(reports):
    """Model selection over the checkpoints of several evaluated runs of one dataset: each
    estimator that every report has, ranked against the online scores."""
    datasets = sorted({r["dataset"] for r in reports})
    if len(datasets) != 1:
        raise StitchError(f"--pool ranks checkpoints of one dataset together, but these reports are on "
                          f"{datasets}. Fix: pool the ope.json of runs on the same dataset.")
    rows = [dict(c, workdir=r["workdir"]) for r in reports for c in r["checkpoints"] if c["online"] is not None]
    out = {"dataset": datasets[0], "checkpoints": len(rows), "selection": {}}
    for name in ("fqe_value", *ESTIMATORS):
        if rows and all(row.get(name) is not None for row in rows):
            pick = selection([row[name] for row in rows], [row["online"] for row in rows])
            pick.update(picked=f"{rows[pick['picked']]['workdir']}@{rows[pick['picked']]['step']}",
                        best=f"{rows[pick['best']]['workdir']}@{rows[pick['best']]['step']}")
            out["selection"]["fqe" if name == "fqe_value" else name] = pick
    return out


def summary(report) -> str:
    """The command's printout of an `evaluate` report: the estimates per checkpoint, the IS
    weights' collapse where it happened, and each estimator's model-selection figures."""
    lines = []
    is_section = report["importance_sampling"]
    cols = ["FQE value", *(["PDIS", "WIS", "DR", "ESS"] if is_section["available"] else []), "online score"]
    lines += [f"Off-policy estimates (discounted, gamma {report['discount']}, at the initial states of "
              f"{report['dataset']}) of {report['workdir']}'s run {report['run']}:", "",
              "| step | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    fmt = lambda v, spec=".2f": "-" if v is None else format(v, spec)
    for r in report["checkpoints"]:
        cells = [fmt(r["fqe_value"])]
        if is_section["available"]:
            cells += [fmt(r[n], ".3g") for n in ESTIMATORS] + [fmt(r["ess"], ".1f")]
        lines.append(f"| {r['step']} | " + " | ".join(cells + [fmt(r["online"], ".1f")]) + " |")
    lines.append("")
    diverged = [r for r in report["checkpoints"] if r.get("fqe_diverged")]
    if diverged:
        lines.append(f"warning: FQE diverged at {len(diverged)} of {len(report['checkpoints'])} checkpoints: "
                     f"its Q exceeds max|r| / (1 - gamma) = {report['value_bound']:.1f}, which no value on "
                     f"these rewards can (Q on the data's actions up to "
                     f"{max(abs(r['fqe_q_data']) for r in diverged):.1f}). Its estimates there are not values. "
                     f"Fix: fewer --fqe_updates, stopping before Q passed the bound (q_data in the FQE workdir's "
                     f"metrics.csv shows when).")
    if is_section["available"]:
        collapsed = [r for r in report["checkpoints"] if r["is_warning"]]
        lines.append(f"IS, WIS and DR estimate {is_section['policy']}; behaviour policy fitted in "
                     f"{is_section['behaviour']}.")
        if collapsed:
            lines.append(f"warning: at {len(collapsed)} of {len(report['checkpoints'])} checkpoints "
                         + collapsed[0]["is_warning"].replace(f"ESS {collapsed[0]['ess']:.1f}", "ESS " + ", ".join(
                             f"{r['ess']:.1f}" for r in collapsed)))
    else:
        lines.append(f"no importance sampling: {is_section['why']}")
    for name, sel in report.get("selection", {}).items():
        rho = "n/a (fewer than 3 checkpoints)" if sel["spearman"] is None else f"{sel['spearman']:.2f}"
        lines.append(f"model selection by {'FQE' if name == 'fqe' else name}: Spearman {rho}, regret@1 "
                     f"{sel['regret_at_1']:.1f} (picked step {sel['picked_step']}, best {sel['best_step']})")
    return "\n".join(lines)


def main(argv):
    del argv
    quiet_logs()
    if FLAGS.pool:
        try:
            reports = []
            for path in FLAGS.pool:
                with open(path) as f:
                    reports.append(json.load(f))
            result = pooled(reports)
        except (OSError, json.JSONDecodeError, StitchError) as err:
            print(f"error: {err}" + ("" if isinstance(err, StitchError) else
                                     " Fix: give the ope.json files scripts.ope wrote (<out>/ope.json)."),
                  file=sys.stderr)
            sys.exit(2)
        print(f"model selection over {result['checkpoints']} checkpoints of {len(reports)} runs on "
              f"{result['dataset']}:")
        for name, s in result["selection"].items():
            rho = "n/a" if s["spearman"] is None else f"{s['spearman']:.2f}"
            print(f"  {name}: Spearman {rho}, regret@1 {s['regret_at_1']:.1f} "
                  f"(picked {s['picked']}, best {s['best']})")
        return
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required: a stitch run with checkpoints.")
    try:
        report = evaluate(FLAGS.workdir, FLAGS.dataset, FLAGS.steps, FLAGS.run, FLAGS.fqe_updates, FLAGS.out,
                          FLAGS.batch, behaviour_updates=FLAGS.behaviour_updates, behaviour=FLAGS.behaviour,
                          dr_samples=FLAGS.dr_samples)
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(summary(report))


if __name__ == "__main__":
    define_flags()
    app.run(main)
