"""Build a discrete-action dataset suite: an online DQN run, and five Minari datasets logged from it.

  python scripts/discrete_suite.py --task=cartpole           # stitch/cartpole/<kind>-v0
  python scripts/discrete_suite.py --task=acrobot
  python scripts/discrete_suite.py --task=breakout            # MinAtar (pip install -e ".[minatar]")
  python scripts/discrete_suite.py --task=cartpole --online_steps=20000 --dataset_steps=5000   # a quick one

The kinds (the field's recipes; each dataset's metadata records how it was made):
  replay   every transition of the online run's finished episodes, exploration included
           (Agarwal et al. 2020's DQN-Replay, "logged replay"; the episodes still running when
           the run stops, at most one per env, are left out)
  noisy    one partially trained snapshot of the run, epsilon-greedy with epsilon 0.2 in 80 % of
           the episodes and 0.001 in the rest (Fujimoto et al. 2019's "imperfect" data); the
           snapshot is the one whose greedy return is nearest halfway between random and expert
  random   a uniform random policy
  expert   the expert: the run's best snapshot by greedy return (epsilon 0.001)
  mixed    80 % random transitions and 20 % expert ones (Schweighofer et al. 2022)
Reference scores (normalisation): ref_min the random policy's mean return, ref_max the expert's
(evaluated with batch_rl's epsilon 0.001). A summary (online curve, snapshot returns, minutes) is
written to --summary.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gymnasium as gym
import numpy as np
from absl import app, flags

from algos.common import StitchError, quiet_logs
from algos.online import OnlineSettings, host_policy, train_online
from data.collect import average_return, random_policy, roll_episodes
from data.tools import write_episodes


EVAL_EPSILON = 0.001  # batch_rl's evaluation epsilon; also the expert's when collecting
# MinAtar's gymnasium envs have no time limit, and a greedy policy can keep Breakout's ball in play
# forever: a safety cap (Dopamine caps Atari at 27k agent steps) that the datasets' env spec keeps,
# so offline evaluation stops there too. It does not bind at the returns these runs reach.
MINATAR_MAX_STEPS = 10_000

# task -> (env id, online learner's config overrides, online settings, transitions per dataset)
TASKS = {
    "cartpole": ("CartPole-v1", {"algo": "ddqn", "hidden_dims": (64, 64), "critic_lr": 5e-4, "batch_size": 64,
                                 "target_update_interval": 100},
                 dict(total_steps=100_000, num_envs=4, buffer_size=100_000, learning_starts=5_000,
                      epsilon_fraction=0.2, epsilon_final=0.01, num_snapshots=20), 100_000),
    "acrobot": ("Acrobot-v1", {"algo": "ddqn", "hidden_dims": (256, 256), "critic_lr": 1e-4, "batch_size": 128,
                               "target_update_interval": 500},
                dict(total_steps=200_000, num_envs=4, buffer_size=100_000, learning_starts=10_000,
                     epsilon_fraction=0.2, epsilon_final=0.01, num_snapshots=20), 100_000),
    "breakout": ("MinAtar/Breakout-v1", {"algo": "ddqn", "torso": "cnn", "hidden_dims": (128,), "critic_lr": 2.5e-4,
                                         "batch_size": 32, "target_update_interval": 1_000},
                 dict(total_steps=500_000, num_envs=4, buffer_size=100_000, learning_starts=5_000,
                      epsilon_fraction=0.2, epsilon_final=0.01, num_snapshots=20,
                      max_episode_steps=MINATAR_MAX_STEPS), 100_000),
    "spaceinvaders": ("MinAtar/SpaceInvaders-v1", {"algo": "ddqn", "torso": "cnn", "hidden_dims": (128,),
                                                   "critic_lr": 2.5e-4, "batch_size": 32, "target_update_interval": 1_000},
                      dict(total_steps=500_000, num_envs=4, buffer_size=100_000, learning_starts=5_000,
                           epsilon_fraction=0.2, epsilon_final=0.01, num_snapshots=20,
                           max_episode_steps=MINATAR_MAX_STEPS), 100_000),
}
KINDS = ("replay", "noisy", "random", "expert", "mixed")


def make_env(env_id, max_episode_steps=None):
    if env_id.startswith("MinAtar/"):
        try:
            import minatar.gym
        except ImportError:
            raise StitchError(f"{env_id} needs the minatar package. Fix: pip install -e \".[minatar]\".") from None
        if env_id not in gym.registry:
            minatar.gym.register_envs()  # MinAtar/<Game>-v0 (full action set) and -v1 (minimal)
    return gym.make(env_id, max_episode_steps=max_episode_steps)


def online_config(overrides):
    import importlib
    overrides = dict(overrides)
    config = importlib.import_module(f"configs.{overrides.pop('algo')}").get_config()
    config.update({"observation_transform": "none", "adam_eps": 1e-8, **overrides})
    return config


def noisy_epsilon(seed):
    """Fujimoto et al. 2019: per episode, epsilon 0.2 with probability 0.8, else 0.001."""
    return lambda episode: 0.2 if np.random.default_rng([seed, episode]).random() < 0.8 else 0.001


def progress_log(total_steps, began, log, every=0.1):
    """A train_online progress callback: a line at each tenth of the run (steps, the mean return of
    the last 20 episodes, minutes so far)."""
    marks = [int(total_steps * every * k) for k in range(1, int(round(1 / every)) + 1)]

    def progress(step, curve):
        if marks and step >= marks[0]:
            while marks and step >= marks[0]:
                marks.pop(0)
            recent = [r for _, r in curve[-20:]]
            log(f"  step {step}/{total_steps}: last {len(recent)} episodes' mean return {np.mean(recent):.1f}, "
                f"{(time.perf_counter() - began) / 60:.1f} min")
    return progress


def build(task, prefix="stitch", seed=0, online_steps=None, dataset_steps=None, eval_episodes=10,
          kinds=KINDS, log=print):
    """Run the online learner and write the datasets; returns the summary dict."""
    if task not in TASKS:
        raise StitchError(f"Unknown task '{task}'. Fix: use one of {', '.join(TASKS)}.")
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise StitchError(f"Unknown dataset kind(s) {unknown}. Fix: use some of {', '.join(KINDS)}.")
    env_id, overrides, settings, default_steps = TASKS[task]
    env = make_env(env_id, settings.get("max_episode_steps"))
    ids = {kind: f"{prefix}/{task}/{kind}-v0" for kind in kinds}
    import minari
    existing = [i for i in ids.values() if os.path.exists(os.path.join(minari.storage.get_dataset_path(i), "data"))]
    if existing:
        raise StitchError(f"Dataset(s) {existing} already exist; nothing was run. Fix: delete them "
                          f"(minari delete <id>) or pick another --prefix.")
    dataset_steps = dataset_steps or default_steps
    config = online_config(overrides)
    settings = OnlineSettings(env_id, **{**settings, "seed": seed, "log_episodes": "replay" in kinds,
                                         **({"total_steps": online_steps} if online_steps else {})})
    began = time.perf_counter()
    log(f"online {config.algo} in {env_id} for {settings.total_steps} steps ...")
    result = train_online(config, settings, progress=progress_log(settings.total_steps, began, log))
    n_actions, start = int(env.action_space.n), int(env.action_space.start)
    policy = lambda state, eps=EVAL_EPSILON, **kw: host_policy(config, state, n_actions, eps, start, **kw)
    evals = [(step, average_return(env, policy(state), eval_episodes, seed + 30_000)) for step, state in result.snapshots]
    random_return = average_return(env, random_policy(env.action_space), max(eval_episodes, 20), seed + 10_000)
    best = int(np.argmax([r for _, r in evals]))
    expert_return = evals[best][1]
    halfway = random_return + 0.5 * (expert_return - random_return)
    noisy_index = int(np.argmin([abs(r - halfway) for _, r in evals]))
    log(f"  {result.seconds / 60:.1f} min, {result.updates} updates; snapshot greedy returns "
        + ", ".join(f"{s}: {r:.1f}" for s, r in evals) + f"; random {random_return:.1f}")
    if not expert_return > random_return:
        raise StitchError(f"The online agent's best snapshot ({expert_return:.1f}) is no better than a random "
                          f"policy ({random_return:.1f}); no datasets were written. Fix: more --online_steps.")
    refs = (random_return, expert_return)
    recipe = {"task": task, "env": env_id, "seed": seed, "online_algo": config.algo,
              "online_steps": settings.total_steps, "expert_snapshot_step": evals[best][0],
              "noisy_snapshot_step": evals[noisy_index][0], "noisy_snapshot_return": evals[noisy_index][1],
              "ref_min_score": random_return, "ref_max_score": expert_return, "eval_epsilon": EVAL_EPSILON}
    expert = policy(result.snapshots[best][1])
    sources = {
        "replay": lambda: result.episodes,
        "noisy": lambda: roll_episodes(env, policy(result.snapshots[noisy_index][1], 0.0,
                                                   per_episode_epsilon=noisy_epsilon(seed)), dataset_steps, seed + 1),
        "random": lambda: roll_episodes(env, random_policy(env.action_space), dataset_steps, seed + 2),
        "expert": lambda: roll_episodes(env, expert, dataset_steps, seed + 3),
        "mixed": lambda: (roll_episodes(env, random_policy(env.action_space), int(0.8 * dataset_steps), seed + 4)
                          + roll_episodes(env, expert, int(0.2 * dataset_steps), seed + 5, first_episode=10 ** 6)),
    }
    written = {}
    for kind in kinds:
        episodes = sources[kind]()
        ds = write_episodes(ids[kind], episodes, env.spec, env.action_space, env.observation_space, refs,
                            {"tool": "discrete_suite", "kind": kind, **recipe}, f"stitch discrete suite: {kind}")
        returns = [float(np.sum(e["rewards"])) for e in episodes]
        written[kind] = {"id": ids[kind], "episodes": ds.total_episodes, "transitions": ds.total_steps,
                         "mean_return": float(np.mean(returns))}
        log(f"  wrote {ids[kind]}: {ds.total_episodes} episodes, {ds.total_steps} transitions, "
            f"mean return {np.mean(returns):.1f}")
    return {**recipe, "minutes": (time.perf_counter() - began) / 60, "online_minutes": result.seconds / 60,
            "online_updates": result.updates, "snapshots": evals, "online_curve": result.curve, "datasets": written}


def plot_online(summary_paths, out):
    """One panel per suite summary: the online run's episode returns (a running mean of 50
    episodes), its snapshots' greedy returns, and the random and expert reference lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    summaries = [json.load(open(p)) for p in summary_paths]
    cols = min(2, len(summaries))
    rows = -(-len(summaries) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(summaries):]:
        ax.set_visible(False)
    for ax, s in zip(axes.flat, summaries):
        steps, returns = np.asarray(s["online_curve"], dtype=float).T
        window = min(50, len(returns))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:] / 1e3, smooth, lw=1, color="tab:blue",
                label=f"training episodes (mean of {window})")
        snaps = np.asarray(s["snapshots"], dtype=float)
        ax.plot(snaps[:, 0] / 1e3, snaps[:, 1], "o-", ms=3, color="tab:orange", label="snapshot, greedy")
        ax.axhline(s["ref_min_score"], color="grey", ls=":", label="random policy")
        ax.axhline(s["ref_max_score"], color="tab:green", ls="--", label="expert (best snapshot)")
        ax.axvline(s["noisy_snapshot_step"] / 1e3, color="tab:red", ls=":", lw=1, label="noisy snapshot")
        ax.set_title(f"{s['env']} ({s['minutes']:.1f} min)", fontsize=10)
        ax.set_xlabel("environment steps (thousands)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("episode return")
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def define_flags():
    """The command line's flags, defined only when run as a script: importing this module (the
    tests do, beside scripts/collect.py, whose flags share names) defines none."""
    flags.DEFINE_string("task", "cartpole", "one of the TASKS below")
    flags.DEFINE_string("prefix", "stitch", "dataset ids are <prefix>/<task>/<kind>-v0")
    flags.DEFINE_integer("seed", 0, "seed of the online run and of the collection")
    flags.DEFINE_integer("online_steps", None, "environment steps of the online run (default: the task's)")
    flags.DEFINE_integer("dataset_steps", None, "transitions of each collected dataset (default: the task's)")
    flags.DEFINE_integer("eval_episodes", 10, "greedy episodes per snapshot evaluation and reference score")
    flags.DEFINE_string("kinds", "replay,noisy,random,expert,mixed", "which datasets to write")
    flags.DEFINE_list("plot", None, "instead of building: draw the online runs of these summary JSONs "
                      "(comma-separated) to --plot_out")
    flags.DEFINE_string("plot_out", "online_runs.png", "the PNG of --plot")
    flags.DEFINE_string("summary", None, "JSON summary path (default: docs/results/issue17/<prefix>_<task>_suite.json)")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    quiet_logs()
    if FLAGS.plot:
        plot_online(FLAGS.plot, FLAGS.plot_out)
        print(f"Wrote {FLAGS.plot_out}.")
        return
    try:
        summary = build(FLAGS.task, FLAGS.prefix, FLAGS.seed, FLAGS.online_steps, FLAGS.dataset_steps,
                        FLAGS.eval_episodes, tuple(k for k in FLAGS.kinds.split(",") if k))
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    path = FLAGS.summary or os.path.join("docs", "results", "issue17", f"{FLAGS.prefix}_{FLAGS.task}_suite.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(summary, f)
    print(f"Summary in {path} ({summary['minutes']:.1f} min in all).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
