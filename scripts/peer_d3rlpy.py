"""d3rlpy's training throughput at stitch's paper network sizes (the peer side of
`scripts/benchmark.py peer`). Runs in d3rlpy's own virtual environment, never stitch's:

    python3 -m venv ../peers/d3rlpy-venv && ../peers/d3rlpy-venv/bin/pip install torch==2.13.0 d3rlpy
    ../peers/d3rlpy-venv/bin/pip install minari 'gymnasium[mujoco]'   # for `scores` (data, eval envs)
    ../peers/d3rlpy-venv/bin/python scripts/peer_d3rlpy.py --algos=iql,cql --seconds=10

Each algorithm is built with the same hidden layers, batch size and critic count as
`configs/<algo>.py` (listed in SIZES below), on hopper-shaped random data (11-d observations,
3-d actions, 100k transitions), and `fit` is timed for at least `--seconds` after a warm-up: what a
d3rlpy user gets per update, replay-buffer sampling included. Prints one JSON line per algorithm.
Imports neither jax nor stitch.

`scores` trains d3rlpy on a Minari dataset and evaluates it in the dataset's own env (the peer side
of issue 13's side-by-side, run next to `scripts/benchmark.py scores`):

    MINARI_DATASETS_PATH=../shared/datasets ../peers/d3rlpy-venv/bin/python scripts/peer_d3rlpy.py \
        scores --algos=bc,td3_bc --datasets=bench/hopper/medium-replay-v0 --num_updates=30000 \
        --seeds=0,1,2 --out=runs/peer_scores.json --workdir=runs/peer

Each algorithm runs d3rlpy's own reproduction settings (`reproductions/offline/<algo>.py` of
d3rlpy, commit 38c34b6) at stitch's network sizes (SIZES) and the given budget; every departure
is listed in `scores_config`. Per seed: an evaluation of `--eval_episodes` deterministic episodes
every `--eval_interval` updates, normalised with the dataset's `ref_min_score`/`ref_max_score`,
as stitch does. Resumable: the model (with optimiser and LR-schedule state) is saved at each
evaluation under --workdir, and a finished seed is stored in --out and skipped.
"""
import argparse
import json
import os
import time

import numpy as np

# stitch's paper sizes (configs/<algo>.py): hidden layers of actor and critics, batch, critics.
SIZES = {
    "bc": dict(hidden=[256, 256], batch=256),
    "td3_bc": dict(hidden=[256, 256], batch=256),
    "iql": dict(hidden=[256, 256], batch=256),
    "awac": dict(hidden=[256, 256, 256], batch=256),
    "cql": dict(hidden=[256, 256, 256], batch=256),
    "sac_n": dict(hidden=[256, 256, 256], batch=256, critics=10),
    "rebrac": dict(hidden=[256, 256, 256], batch=1024),
    "bcq": dict(hidden=[400, 300], batch=100, vae=[750, 750]),
    "bear": dict(hidden=[400, 300], batch=100, vae=[750, 750]),
    "crr": dict(hidden=[256, 256], batch=100, critics=1),
}


# Decision Transformer's sizes (configs/dt.py): the paper's, and stitch's `:pendulum` preset for
# the built-in Pendulum data (picked by the dataset id).
DT_SIZES = {"paper": dict(embed=128, layers=3, context=20, warmup=10_000, batch=64),
            "pendulum": dict(embed=64, layers=2, context=10, warmup=1_000, batch=64)}


def dt_config(dataset_id):
    """d3rlpy's DecisionTransformer as its reproduction script (reproductions/offline/
    decision_transformer.py: AdamW 1e-4, weight decay 1e-4, gradient norm clipped at 0.25, a linear
    warm-up, returns-to-go x 0.001, z-scored observations, one head, dropout 0.1) at stitch's
    sizes for the data (DT_SIZES): the state embedding a single linear layer, as stitch's."""
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory
    from d3rlpy.preprocessing import MultiplyRewardScaler, StandardObservationScaler
    size = DT_SIZES["pendulum" if "pendulum" in dataset_id else "paper"]
    optim = d3rlpy.optimizers.AdamWFactory(
        weight_decay=1e-4, clip_grad_norm=0.25,
        lr_scheduler_factory=d3rlpy.optimizers.WarmupSchedulerFactory(warmup_steps=size["warmup"]))
    return d3rlpy.algos.DecisionTransformerConfig(
        batch_size=size["batch"], learning_rate=1e-4, optim_factory=optim,
        encoder_factory=VectorEncoderFactory([size["embed"]], exclude_last_activation=True),
        observation_scaler=StandardObservationScaler(), reward_scaler=MultiplyRewardScaler(0.001),
        context_size=size["context"], num_heads=1, num_layers=size["layers"], max_timestep=1000,
        attn_dropout=0.1, resid_dropout=0.1, embed_dropout=0.1, activation_type="relu")


def constraint_config(name, bear_warmup_steps=None):
    """d3rlpy's BCQ, BEAR and CRR at stitch's sizes (issue 15's side by side), the same for the
    throughput and the scores runs. Each keeps d3rlpy's own defaults (d3rlpy 2.8.1's configs) but
    for the shared sizes: BCQ's match the authors' as stitch's do (lr 1e-3, lambda 0.75, phi 0.05,
    10 samples per next state in the target, VAE KL weight 0.5; d3rlpy takes one
    n_action_samples for the target and for acting, so it acts with 10 where the authors and
    stitch take 100: its default of 100 would put 100 samples in every target, ten times the
    authors' update, about 3 updates/s on one core); BEAR's are d3rlpy's (lr 1e-4 actor, 3e-4 critic and
    VAE, 4 MMD samples, laplacian sigma 20, a SAC entropy term, 40k warm-up); CRR's as stitch's
    (one critic, exp filter, mean advantage, 4 samples, hard target copies every 100).
    `bear_warmup_steps` replaces BEAR's 40k warm-up, which fills any budget under 40k (stitch's
    side then sets its own `bear_warmup_steps` to the same value)."""
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory

    size = SIZES[name]
    enc = VectorEncoderFactory(size["hidden"])
    if name == "bcq":
        return d3rlpy.algos.BCQConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      imitator_encoder_factory=VectorEncoderFactory(size["vae"]),
                                      batch_size=size["batch"], lam=0.75, action_flexibility=0.05,
                                      n_action_samples=10, beta=0.5)
    if name == "bear":
        return d3rlpy.algos.BEARConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                       imitator_encoder_factory=VectorEncoderFactory(size["vae"]),
                                       batch_size=size["batch"],
                                       **({} if bear_warmup_steps is None else {"warmup_steps": bear_warmup_steps}))
    if name == "crr":
        return d3rlpy.algos.CRRConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      batch_size=size["batch"], beta=1.0, n_action_samples=4,
                                      advantage_type="mean", weight_type="exp", max_weight=20.0,
                                      target_update_type="hard", target_update_interval=100)
    raise ValueError(name)


# The discrete side by side (issue 17): both sides at these settings, d3rlpy's defaults but for the
# target copy interval (its 8000 would copy a handful of times in a CPU budget) and z-scored
# observations (stitch's default); BCQ with separate networks for Q and the classifier and the
# authors' logit penalty 1e-2 (d3rlpy's defaults share the encoder and use 0.5).
DISCRETE = dict(hidden=[256, 256], batch=32, lr=6.25e-5, target_update_interval=1_000)
DISCRETE_ALGOS = ("dqn", "ddqn", "bcq_discrete", "cql_discrete", "nfq")


def discrete_config(name):
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory
    from d3rlpy.preprocessing import StandardObservationScaler
    common = dict(encoder_factory=VectorEncoderFactory(DISCRETE["hidden"]), batch_size=DISCRETE["batch"],
                  learning_rate=DISCRETE["lr"], observation_scaler=StandardObservationScaler())
    target = dict(target_update_interval=DISCRETE["target_update_interval"])
    if name == "dqn":
        return d3rlpy.algos.DQNConfig(**common, **target)
    if name == "ddqn":
        return d3rlpy.algos.DoubleDQNConfig(**common, **target)
    if name == "bcq_discrete":
        return d3rlpy.algos.DiscreteBCQConfig(action_flexibility=0.3, beta=1e-2, share_encoder=False, **common, **target)
    if name == "cql_discrete":  # d3rlpy's DiscreteCQL is Double DQN + the term, as stitch's default base
        return d3rlpy.algos.DiscreteCQLConfig(alpha=1.0, **common, **target)
    if name == "nfq":  # d3rlpy's NFQ: DQN whose target is the online network (a copy every update)
        return d3rlpy.algos.NFQConfig(**common)
    raise ValueError(name)


def make_config(name):
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory

    if name in ("bcq", "bear", "crr"):
        return constraint_config(name)
    size = SIZES[name]
    enc = VectorEncoderFactory(size["hidden"])
    common = dict(batch_size=size["batch"])
    if name == "bc":  # stitch's BC: deterministic MSE policy
        return d3rlpy.algos.BCConfig(encoder_factory=enc, policy_type="deterministic",
                                     learning_rate=3e-4, **common)
    if name == "td3_bc":
        return d3rlpy.algos.TD3PlusBCConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                            alpha=2.5, update_actor_interval=2, **common)
    if name == "iql":
        return d3rlpy.algos.IQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      value_encoder_factory=enc, expectile=0.7, weight_temp=3.0,
                                      **common)
    if name == "awac":
        return d3rlpy.algos.AWACConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                       n_action_samples=1, **common)
    if name == "cql":  # stitch's default: fixed weight (no Lagrange), 10 samples per proposal
        return d3rlpy.algos.CQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      n_action_samples=10, alpha_learning_rate=0.0,
                                      conservative_weight=5.0, **common)
    if name == "sac_n":  # SAC-N is SAC with N critics
        return d3rlpy.algos.SACConfig(actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      n_critics=size["critics"], **common)
    if name == "rebrac":  # LayerNorm critics, as stitch's
        critic = VectorEncoderFactory(size["hidden"], use_layer_norm=True)
        return d3rlpy.algos.ReBRACConfig(actor_encoder_factory=enc, critic_encoder_factory=critic,
                                         **common)
    raise ValueError(f"d3rlpy has no counterpart of '{name}' here; use one of {sorted(SIZES)}.")


def fit_rate(algo_config, dataset_id, updates, warmup):
    """d3rlpy's updates per second on one torch thread: `fit` on the Minari dataset for `warmup`
    updates, then `updates` timed (batch sampling included). The speed scripts' d3rlpy side."""
    import torch
    from d3rlpy.logging import NoopAdapterFactory
    torch.set_num_threads(1)
    mdp, _, _ = minari_mdp(dataset_id)
    algo = algo_config.create(device="cpu:0")
    fit = lambda n: algo.fit(mdp, n_steps=n, n_steps_per_epoch=n, logger_adapter=NoopAdapterFactory(),
                             show_progress=False, save_interval=10 ** 9)
    fit(warmup)
    tick = time.perf_counter()
    fit(updates)
    return updates / (time.perf_counter() - tick)


def hopper_shaped_dataset(n=100_000, episode=1000, seed=0):
    import d3rlpy
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(n, np.float32)
    timeouts[episode - 1::episode] = 1.0
    return d3rlpy.dataset.MDPDataset(
        observations=rng.normal(size=(n, 11)).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        terminals=np.zeros(n, np.float32), timeouts=timeouts)


def updates_per_s(name, dataset, steps, seconds, warmup):
    """`fit` in calls of `steps` updates, timed until `seconds` have passed (after a warm-up)."""
    from d3rlpy.logging import NoopAdapterFactory
    algo = make_config(name).create(device="cpu:0")
    fit = dict(logger_adapter=NoopAdapterFactory(), show_progress=False, save_interval=10 ** 9)
    algo.fit(dataset, n_steps=warmup, n_steps_per_epoch=warmup, **fit)
    done, t0 = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - t0 < seconds:
        algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, **fit)
        done += steps
    return done / (time.perf_counter() - t0)


# ReBRAC's per-task betas (actor, critic) as d3rlpy's reproduction reads them (= the paper's).
REBRAC_BETAS = {"halfcheetah-medium-replay": (0.01, 0.001), "halfcheetah-medium": (0.001, 0.01),
                "hopper-medium-replay": (0.05, 0.5), "hopper-medium": (0.01, 0.001)}


def task_name(dataset_id):
    """'bench/hopper/medium-replay-v0' -> 'hopper-medium-replay' (D4RL's naming)."""
    parts = dataset_id.split("/")
    return f"{parts[-2]}-{parts[-1].rsplit('-v', 1)[0]}"


def scores_config(name, dataset_id, num_updates, bear_warmup_steps=None):
    """d3rlpy's reproduction settings for `name`, at stitch's network sizes (SIZES). Departures
    from d3rlpy's scripts: hidden layers and batch are stitch's (AWAC: 3x256 and batch 256, where
    d3rlpy's script has 4x256 and 1024), IQL's cosine schedule spans this budget (T_max = the
    run's updates, as d3rlpy's T_max = its 500k), and BC, which has no reproduction script, is
    d3rlpy's deterministic BC with stitch's lr 3e-4, batch 256 and z-scored observations."""
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory
    from d3rlpy.preprocessing import ReturnBasedRewardScaler, StandardObservationScaler

    if name in ("bcq", "bear", "crr"):
        return constraint_config(name, bear_warmup_steps)
    if name in DISCRETE_ALGOS:
        return discrete_config(name)
    if name == "dt":
        return dt_config(dataset_id)
    size = SIZES[name]
    enc = VectorEncoderFactory(size["hidden"])
    common = dict(batch_size=size["batch"])
    if name == "bc":
        return d3rlpy.algos.BCConfig(encoder_factory=enc, policy_type="deterministic", learning_rate=3e-4,
                                     observation_scaler=StandardObservationScaler(), **common)
    if name == "td3_bc":
        return d3rlpy.algos.TD3PlusBCConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, actor_learning_rate=3e-4,
            critic_learning_rate=3e-4, target_smoothing_sigma=0.2, target_smoothing_clip=0.5, alpha=2.5,
            update_actor_interval=2, observation_scaler=StandardObservationScaler(), **common)
    if name == "iql":
        cosine = d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=num_updates)
        return d3rlpy.algos.IQLConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, value_encoder_factory=enc,
            actor_learning_rate=3e-4, critic_learning_rate=3e-4,
            actor_optim_factory=d3rlpy.optimizers.AdamFactory(lr_scheduler_factory=cosine),
            weight_temp=3.0, max_weight=100.0, expectile=0.7,
            reward_scaler=ReturnBasedRewardScaler(multiplier=1000.0), **common)
    if name == "awac":
        return d3rlpy.algos.AWACConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, actor_learning_rate=3e-4,
            critic_learning_rate=3e-4, actor_optim_factory=d3rlpy.optimizers.AdamFactory(weight_decay=1e-4),
            lam=1.0, **common)
    if name == "cql":  # "medium-v0" datasets get weight 10 in d3rlpy's script, the rest 5
        weight = 10.0 if task_name(dataset_id).endswith("-medium") else 5.0
        return d3rlpy.algos.CQLConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, actor_learning_rate=1e-4,
            critic_learning_rate=3e-4, temp_learning_rate=1e-4, n_action_samples=10,
            alpha_learning_rate=0.0, conservative_weight=weight, **common)
    if name == "rebrac":
        actor_beta, critic_beta = REBRAC_BETAS.get(task_name(dataset_id), (0.01, 0.01))
        return d3rlpy.algos.ReBRACConfig(
            actor_encoder_factory=enc,
            critic_encoder_factory=VectorEncoderFactory(size["hidden"], use_layer_norm=True),
            actor_learning_rate=1e-3, critic_learning_rate=1e-3, gamma=0.99, target_smoothing_sigma=0.2,
            target_smoothing_clip=0.5, update_actor_interval=2, actor_beta=actor_beta,
            critic_beta=critic_beta, observation_scaler=StandardObservationScaler(), **common)
    raise ValueError(f"no d3rlpy scores config for '{name}'; use one of {', '.join(SIZES)}.")


def minari_mdp(dataset_id):
    """A Minari dataset as d3rlpy's MDPDataset (gymnasium's terminations and truncations as its
    terminals and timeouts), its evaluation env, and its (ref_min_score, ref_max_score)."""
    import d3rlpy
    import minari
    data = minari.load_dataset(dataset_id)
    discrete = hasattr(data.action_space, "n")  # a gymnasium Discrete space
    obs, act, rew, term, tout = [], [], [], [], []
    for ep in data.iterate_episodes():
        n = len(ep.actions)
        obs.append(np.asarray(ep.observations[:n], np.float32))
        act.append(np.asarray(ep.actions) - data.action_space.start if discrete else np.asarray(ep.actions, np.float32))
        rew.append(np.asarray(ep.rewards, np.float32))
        t = np.asarray(ep.terminations, np.float32)
        o = np.asarray(ep.truncations, np.float32)
        if not (t[-1] or o[-1]):
            o[-1] = 1.0  # an episode cut by the end of collection ends as a timeout
        term.append(t)
        tout.append(o)
    kind = dict(action_space=d3rlpy.constants.ActionSpace.DISCRETE, action_size=int(data.action_space.n)) if discrete else {}
    mdp = d3rlpy.dataset.MDPDataset(np.concatenate(obs), np.concatenate(act), np.concatenate(rew),
                                    np.concatenate(term), np.concatenate(tout), **kind)
    meta = data.storage.metadata
    return mdp, data.recover_environment(), (float(meta["ref_min_score"]), float(meta["ref_max_score"]))


def evaluate(algo, env, episodes, seed, ref, target_return=None):
    """Mean normalised return of `episodes` deterministic episodes (a Decision Transformer
    conditioned on `target_return`, the reward of each step fed back as d3rlpy's wrapper takes it)."""
    returns = []
    wrapper = algo.as_stateful_wrapper(target_return) if target_return is not None else None
    for i in range(episodes):
        obs, _ = env.reset(seed=seed * 10_000 + i)
        total, done, reward = 0.0, False, 0.0
        if wrapper is not None:
            wrapper.reset()
        while not done:
            if wrapper is not None:
                action = wrapper.predict(np.asarray(obs, np.float32), reward)
            else:
                action = algo.predict(np.asarray(obs, np.float32)[None])[0]
                if hasattr(env.action_space, "n"):  # a discrete index, in the space's own labels
                    action = int(action) + int(env.action_space.start)
            obs, reward, terminated, truncated, _ = env.step(action)
            reward = float(reward)
            total += reward
            done = terminated or truncated
        returns.append(total)
    return float(100.0 * (np.mean(returns) - ref[0]) / (ref[1] - ref[0]))


def best_episode_return(mdp):
    """The data's best episode return: stitch's DT condition when no target is given."""
    return float(max(np.sum(ep.rewards) for ep in mdp.episodes))


def scores(args):
    import d3rlpy
    from d3rlpy.logging import NoopAdapterFactory

    table = json.load(open(args.out)) if os.path.exists(args.out) else {}
    for dataset_id in args.datasets.split(","):
        mdp, env, ref = minari_mdp(dataset_id)
        for name in args.algos.split(","):
            for seed in map(int, args.seeds.split(",")):
                key = f"{name}|{dataset_id}|{seed}"
                run = os.path.join(args.workdir, f"{name}_{dataset_id.replace('/', '-')}_{seed}")
                progress_path = os.path.join(run, "progress.json")
                progress = json.load(open(progress_path)) if os.path.exists(progress_path) else {"curve": []}
                budget = table.get(key, progress).get("num_updates", args.num_updates)
                if budget != args.num_updates:  # its cosine schedule and results are another budget's
                    raise SystemExit(f"{key} was trained for {budget} updates in {run} / {args.out}, not "
                                     f"--num_updates={args.num_updates}. Fix: a new --workdir and --out.")
                if key in table:
                    continue
                os.makedirs(run, exist_ok=True)
                d3rlpy.seed(seed)
                algo = scores_config(name, dataset_id, args.num_updates, args.bear_warmup_steps).create(device="cpu:0")
                done = progress["curve"][-1][0] if progress["curve"] else 0
                if done:
                    algo.build_with_dataset(mdp)
                    algo.load_model(os.path.join(run, "model.d3"))
                    algo.set_grad_step(done)
                train_s, tick = progress.get("train_s", 0.0), time.perf_counter()
                if name == "dt":  # no fitter for transformers: fit one evaluation interval at a time
                    target = best_episode_return(mdp)
                    done, progress = 0, {"curve": []}  # not resumable: a cut run starts over
                    while done < args.num_updates:
                        algo.fit(mdp, n_steps=args.eval_interval, n_steps_per_epoch=args.eval_interval,
                                 logger_adapter=NoopAdapterFactory(), show_progress=False, save_interval=10 ** 9)
                        done += args.eval_interval
                        train_s += time.perf_counter() - tick
                        score = evaluate(algo, env, args.eval_episodes, seed, ref, target_return=target)
                        progress = {"curve": progress["curve"] + [[done, score]], "train_s": train_s,
                                    "num_updates": args.num_updates, "target_return": target}
                        print(json.dumps({"key": key, "step": done, "score": score, "train_s": round(train_s, 1)}),
                              flush=True)
                        tick = time.perf_counter()
                fitter = () if name == "dt" else algo.fitter(mdp, n_steps=args.num_updates - done, n_steps_per_epoch=args.eval_interval,
                                     logger_adapter=NoopAdapterFactory(), show_progress=False,
                                     save_interval=10 ** 9) if done < args.num_updates else ()
                for _ in fitter:
                    done += args.eval_interval
                    train_s += time.perf_counter() - tick
                    score = evaluate(algo, env, args.eval_episodes, seed, ref)
                    algo.save_model(os.path.join(run, "model.d3.tmp"))
                    os.replace(os.path.join(run, "model.d3.tmp"), os.path.join(run, "model.d3"))
                    progress = {"curve": progress["curve"] + [[done, score]], "train_s": train_s,
                                "num_updates": args.num_updates}
                    json.dump(progress, open(progress_path + ".tmp", "w"))
                    os.replace(progress_path + ".tmp", progress_path)
                    print(json.dumps({"key": key, "step": done, "score": score, "train_s": round(train_s, 1)}),
                          flush=True)
                    tick = time.perf_counter()
                table[key] = {"score": progress["curve"][-1][1], "curve": progress["curve"],
                              "num_updates": args.num_updates,
                              "train_s": progress.get("train_s"), "d3rlpy": d3rlpy.__version__}
                json.dump(table, open(args.out + ".tmp", "w"), indent=1)
                os.replace(args.out + ".tmp", args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="throughput", choices=["throughput", "scores"])
    parser.add_argument("--algos", default=",".join(SIZES))
    parser.add_argument("--steps", type=int, default=25, help="updates per timed fit call")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per algorithm")
    parser.add_argument("--warmup", type=int, default=20, help="untimed updates first")
    parser.add_argument("--datasets", default="bench/hopper/medium-replay-v0", help="scores: Minari ids")
    parser.add_argument("--num_updates", type=int, default=30_000, help="scores: updates per seed")
    parser.add_argument("--eval_interval", type=int, default=5_000, help="scores: updates between evaluations")
    parser.add_argument("--eval_episodes", type=int, default=10, help="scores: episodes per evaluation")
    parser.add_argument("--seeds", default="0,1,2", help="scores: seeds, one run each")
    parser.add_argument("--bear_warmup_steps", type=int, default=None,
                        help="scores: BEAR's MMD-only warm-up (d3rlpy's default 40k when unset)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", default="runs/peer_scores.json", help="scores: results (resumable)")
    parser.add_argument("--workdir", default="runs/peer", help="scores: per-run models and curves")
    args = parser.parse_args()
    import d3rlpy
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mode == "scores":
        if args.num_updates % args.eval_interval:
            parser.error(f"--num_updates={args.num_updates} is not a multiple of --eval_interval="
                         f"{args.eval_interval}; pick an interval that divides it")
        return scores(args)
    dataset = hopper_shaped_dataset()
    for name in args.algos.split(","):
        row = {"algo": name, "d3rlpy": d3rlpy.__version__, "torch": torch.__version__,
               "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), **SIZES[name],
               "updates_per_s": updates_per_s(name, dataset, args.steps, args.seconds, args.warmup)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
