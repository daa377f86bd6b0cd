"""Benchmarks: learning scores on a Minari suite, and training throughput on this machine.

  # (a) scores: algorithms x datasets, vmapped seeds, normalised score mean ± std
  MINARI_DATASETS_PATH=../shared/datasets python scripts/benchmark.py scores \
      --algos=bc,td3_bc,iql --num_updates=20000 --num_seeds=3 --out=runs/bench_scores.json
  # (b) throughput: compiled scan chunk vs per-step loop, vmapped vs sequential seeds, FLOP/s
  python scripts/benchmark.py throughput
  # (c) ensembles: SAC-N updates/s for N critics, and the vmapped ensemble vs a Python loop
  python scripts/benchmark.py ensemble --ensemble_sizes=2,10,50 --steps=100
  # (d) every algorithm at its paper sizes, float32 vs bfloat16: FLOPs per update, updates/s,
  #     achieved GFLOP/s and % of the same-run matmul peak of each dtype
  python scripts/benchmark.py precision --cases=bc,td3_bc,iql,cql,sac_n,sac_n:num_critics=50
  #     the sequence and planning models (and discrete-action ones) need real episodes:
  MINARI_DATASETS_PATH=../shared/datasets python scripts/benchmark.py precision --cases=dt,tt,diffuser \
      --dataset=bench/hopper/medium-v0
  #     and the matmul shapes behind it: float32 vs bfloat16-in/float32-out, plain and batched
  python scripts/benchmark.py matmuls
  #     and the temporal U-Net's convolutions as matmuls vs XLA's convolution (Diffuser's networks)
  python scripts/benchmark.py convs
  # (e) the persistent compile cache: the same short IQL job run twice (cold, then warm cache)
  python scripts/benchmark.py compile_cache
  # (f) evaluation cost of a trained run (a workdir): ms per env step and per episode, 1 vs 30
  #     parallel episodes, and evaluation's share of a 1M-update run at the references' protocol
  MINARI_DATASETS_PATH=../shared/datasets python scripts/benchmark.py evaluation --eval_workdir=runs/x
  #     every run of a trained workdir evaluated again, acting otherwise (--set), normalised per run
  MINARI_DATASETS_PATH=../shared/datasets python scripts/benchmark.py rescore --eval_workdir=runs/x \
      "--set=idql_select='weighted'" --eval_episodes=10 --out=runs/rescore.jsonl
  #     the cost of one act call at paper sizes, untrained, as configured and with planner --set's
  python scripts/benchmark.py act_cost --cases=diffuser --eval_parallel=10 --set=plan_samples=8 \
      --set=diffusion_sample_steps=5
  #     one program of --num_seeds vmapped seeds against one seed, per seed (how to sweep here)
  python scripts/benchmark.py seeds --cases=iql,cql,edac,rebrac --num_seeds=3 --steps=100 --seconds=8
  # (g) stitch against d3rlpy on the same data and budget: `scores` here (--num_seeds=5), then
  #     scripts/peer_d3rlpy.py scores in d3rlpy's venv (3 seeds), then the table of both:
  python scripts/benchmark.py side_by_side --out=runs/stitch.json --peer_out=runs/peer_scores.json \
      --algos=bc,td3_bc --datasets=bench/hopper/medium-replay-v0

Every ratio is measured against a baseline taken in the same run.
"""
import contextlib
import functools
import json
import math
import types
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from algos import ALGOS
from algos.common import Spec, contract, takes_step
from algos.runs import init_runs
from algos.trainer import make_train_chunk, train_and_evaluate
from data import samplers

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_list("algos", ["bc", "td3_bc", "iql"], "algorithms to score")
    flags.DEFINE_list("datasets", [f"bench/{env}/{kind}-v0" for env in ("hopper", "halfcheetah")
                                   for kind in ("medium", "medium-replay", "medium-expert")],
                      "Minari dataset ids to score on")
    flags.DEFINE_integer("num_updates", 20_000, "updates per seed (scores)")
    flags.DEFINE_integer("num_seeds", 3, "vmapped seeds (scores; seeds: the vmapped program measured against one seed)")
    flags.DEFINE_integer("eval_episodes", 10, "evaluation episodes per seed (scores, act_cost, rescore)")
    flags.DEFINE_integer("eval_interval", 0, "updates between evaluations, kept as a learning curve "
                         "in --out (scores; 0: evaluate only at the end)")
    flags.DEFINE_bool("tuned", True, "use the algorithm's per-dataset tuning (configs/<algo>.py "
                      "DATASET_PRESETS, e.g. ReBRAC's betas, SAC-N's N) where it has one for the task")
    flags.DEFINE_string("preset", "", "scores: a named preset of every algorithm's config, applied before "
                        "the per-dataset tuning (e.g. classic, minatar for the discrete suites)")
    flags.DEFINE_multi_string("set", [], "scores, evaluation: a config field set on every run (evaluation: how it acts), e.g. --set=bc_steps=0 "
                              "(repeatable; part of the table key and the workdir name)")
    flags.DEFINE_string("compute_dtype", "float32", "scores: the networks' compute dtype (float32 | bfloat16)")
    flags.DEFINE_string("out", "runs/bench_scores.json", "where scores are collected (resumable); "
                        "side_by_side reads several, comma-separated; rescore appends a JSON line to a .jsonl")
    flags.DEFINE_string("workdir", "runs/bench", "parent folder of the per-run workdirs (scores)")
    flags.DEFINE_integer("steps", 2_000, "updates per throughput measurement")
    flags.DEFINE_list("parts", ["chunk", "runs"], "throughput parts: chunk (compiled-step figures), "
                      "runs (whole train_and_evaluate runs: 8 vmapped seeds vs 8 single-seed runs)")
    flags.DEFINE_list("ensemble_sizes", ["2", "10", "50"], "SAC-N critic counts (ensemble)")
    flags.DEFINE_integer("loop_size", 10, "critic count of the vmapped-vs-Python-loop comparison (ensemble)")
    flags.DEFINE_list("cases", None, "precision, act_cost, ...: algorithms at their paper sizes, each 'algo' or "
                      "'algo:field=value', several fields joined by ';' ('diffuser:unet_dim=8;guide_steps=0') "
                      "(precision's default: every registered algorithm, plus SAC-N with N=50)")
    flags.DEFINE_list("dtypes", ["float32", "bfloat16"], "precision: compute dtypes to measure")
    flags.DEFINE_float("seconds", 3.0, "precision: timed seconds per measurement (after a warm-up chunk)")
    flags.DEFINE_string("dataset", "", "precision: a Minari id every case trains on, loaded as the driver loads it "
                        "(needed by the sequence and planning models, whose samplers cut episodes, and the "
                        "discrete-action ones); empty: hopper-shaped random transitions")
    flags.DEFINE_list("obs_shape", ["11"], "less_work: observation shape (e.g. 10,10,4 with --cases=cql:torso=cnn)")
    flags.DEFINE_integer("reps", 4, "less_work: alternating old/new measurements per algorithm")
    flags.DEFINE_string("plot", "", "side_by_side: also draw both sides' learning curves to this PNG")
    flags.DEFINE_string("peer_out", "runs/peer_scores.json", "side_by_side: peer_d3rlpy.py scores' --out (several: comma-separated)")
    flags.DEFINE_string("peer_python", "../peers/d3rlpy-venv/bin/python", "peer: the python of d3rlpy's own venv")
    flags.DEFINE_string("eval_workdir", None, "evaluation, rescore: a trained run's workdir (its dataset's env)")
    flags.DEFINE_list("eval_parallel", ["1", "10", "30"], "evaluation, act_cost: parallel episodes per measurement")


def scores():
    import importlib
    from configs.base import dataset_preset_name

    table = json.load(open(FLAGS.out)) if os.path.exists(FLAGS.out) else {}
    for dataset in FLAGS.datasets:
        for algo in FLAGS.algos:
            key = _score_key(algo, dataset)
            if key in table:
                continue
            module = importlib.import_module(f"configs.{algo}")
            preset = dataset_preset_name(dataset)
            if not (FLAGS.tuned and preset in getattr(module, "DATASET_PRESETS", {})):
                preset = None
            config = module.get_config(",".join(p for p in (FLAGS.preset, preset) if p) or None)
            config.update(dict(dataset=dataset, num_updates=FLAGS.num_updates,
                               num_seeds=FLAGS.num_seeds, eval_episodes=FLAGS.eval_episodes,
                               eval_interval=FLAGS.eval_interval or FLAGS.num_updates,
                               # logs every 1000 updates, or as often as the evaluations need
                               log_interval=math.gcd(1000, FLAGS.eval_interval or FLAGS.num_updates),
                               progress_bar=False, compute_dtype=FLAGS.compute_dtype))
            config.update(_overrides())
            workdir = os.path.join(FLAGS.workdir, f"{algo}_{dataset.replace('/', '-')}_{FLAGS.compute_dtype}"
                                   + (f"_{FLAGS.preset}" if FLAGS.preset else "")
                                   + "".join(f"_{k}={v}" for k, v in _overrides().items()))
            r = train_and_evaluate(config, workdir)
            table[key] = {"preset": preset, "scores": r["final_normalized_score"],
                          "behaviour": r["behaviour_normalized_score"],
                          "updates_per_second": r["updates_per_second"], "wall_time_s": r["wall_time_s"],
                          "curve": [(e["step"], e["normalized_score"] and float(np.mean(e["normalized_score"])))
                                    for e in r["eval"]],
                          "curve_seeds": [(e["step"], e["normalized_score"]) for e in r["eval"]]}
            if r.get("final_by_condition"):  # DT's target returns, Decision Diffuser's: each one's final scores
                table[key]["by_condition"] = {c: v["normalized_score"] for c, v in r["final_by_condition"].items()}
            os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
            json.dump(table, open(FLAGS.out, "w"), indent=2)
    print(f"\n| dataset | data | " + " | ".join(FLAGS.algos) + " |")
    print("|---|---|" + "---|" * len(FLAGS.algos))
    for dataset in FLAGS.datasets:
        cells = []
        for algo in FLAGS.algos:
            s = table[_score_key(algo, dataset)]["scores"]
            cells.append(f"{np.mean(s):.1f} ± {np.std(s):.1f}")
        behaviour = table[next(k for k in table if k.startswith(f"{FLAGS.algos[0]}|{dataset}"))]["behaviour"]
        print(f"| {dataset} | {behaviour:.1f} | " + " | ".join(cells) + " |")


def _overrides():
    """--set's config fields, {field: value} (values as Python literals)."""
    import ast
    out = {}
    for item in FLAGS.set or []:
        field, _, raw = item.partition("=")
        try:
            out[field.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            out[field.strip()] = raw.strip()
    return out


def _score_key(algo, dataset):
    """A `scores` table key: algorithm, dataset, and the dtype and --set fields when not defaults."""
    return (f"{algo}|{dataset}" + ("" if FLAGS.compute_dtype == "float32" else f"|{FLAGS.compute_dtype}")
            + (f"|preset={FLAGS.preset}" if FLAGS.preset else "") + "".join(f"|{k}={v}" for k, v in _overrides().items()))


def _fake_dataset(n=100_000, obs_dim=11, act_dim=3):
    rng = np.random.default_rng(0)
    shape = (n, *obs_dim) if isinstance(obs_dim, tuple) else (n, obs_dim)
    return {"observations": rng.normal(size=shape), "actions": rng.uniform(-1, 1, (n, act_dim)),
            "rewards": rng.normal(size=n), "next_observations": rng.normal(size=shape),
            "next_actions": rng.uniform(-1, 1, (n, act_dim)),
            "terminals": (rng.random(n) < 0.01) * 1.0, "episode_ends": np.zeros(n)}


def init_carry(config, algo, spec, aux=None):
    """Every run's (state, rng) of an unswept config: the driver's own initialisation (`aux`:
    the output of the algorithm's prepare step, where it has one)."""
    return init_runs(config, contract(algo), spec, [{}], aux)


def chunk_fn(config, algo, steps):
    """One run's compiled-chunk body, (carry, data) -> (carry, metrics): the driver's own."""
    chunk = make_train_chunk(config, contract(algo).phases[0], steps)
    return lambda carry, data: chunk(carry, {}, data)


def _time(fn, repeats=3):
    """Best-of-`repeats` wall time of fn() (which must block)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def throughput():
    out = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
           "cpu_count": os.cpu_count(), "steps": FLAGS.steps}
    if "chunk" in FLAGS.parts:
        out.update(chunk_throughput())
    if "runs" in FLAGS.parts:
        out.update(whole_runs())
    print(json.dumps(out, indent=2))


def whole_runs(num_seeds=8):
    """End to end (dataset load, compile, train, evaluate, checkpoint): one run of 8 vmapped
    seeds vs 8 single-seed runs, IQL with paper-size networks on the built-in dataset."""
    import tempfile
    from configs.iql import get_config

    def run(seeds, seed, workdir):
        config = get_config("pendulum")
        config.update(dict(hidden_dims=(256, 256), num_seeds=seeds, seed=seed,
                           num_updates=FLAGS.steps, eval_interval=FLAGS.steps,
                           log_interval=FLAGS.steps, eval_episodes=5, progress_bar=False))
        t0 = time.perf_counter()
        train_and_evaluate(config, workdir)
        return time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        run(1, 99, os.path.join(tmp, "warm"))  # builds the dataset once, outside the timings
        together = run(num_seeds, 0, os.path.join(tmp, "together"))
        apart = sum(run(1, i, os.path.join(tmp, f"apart{i}")) for i in range(num_seeds))
    return {"run8_vmapped_s": together, "run8_sequential_s": apart,
            "run8_vmapped_over_sequential": together / apart}


def chunk_throughput():
    from configs.iql import get_config

    algo, steps = ALGOS["iql"], FLAGS.steps
    host = _fake_dataset()
    dataset = {k: jnp.asarray(v, jnp.float32) for k, v in host.items()}
    spec = Spec((11,), "float32", 3, False)
    config = get_config()  # paper sizes: batch 256, 2x256 MLPs
    config.num_seeds = 1
    out = {}

    # Practical peak: a large float32 matmul.
    a = jnp.ones((2048, 2048), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    t = _time(lambda: [matmul(a) for _ in range(10)][-1].block_until_ready())
    out["matmul_gflops"] = 10 * 2 * 2048 ** 3 / t / 1e9

    # (1) compiled chunk: lax.scan of `steps` updates, on-device sampling, state donated.
    carry = init_carry(config, algo, spec)
    chunk = jax.jit(jax.vmap(chunk_fn(config, algo, steps), in_axes=(0, None)), donate_argnums=0)
    carry, m = chunk(carry, dataset)
    jax.block_until_ready(m)

    def run_chunk():
        nonlocal carry
        carry, m = chunk(carry, dataset)
        jax.block_until_ready(m)
    out["scan_updates_per_s"] = steps / _time(run_chunk)

    # (2) jaxrl style: one jitted update per Python iteration, batches sampled on the host.
    state, _ = jax.tree_util.tree_map(lambda x: x[0], init_carry(config, algo, spec, aux))
    update = jax.jit(functools.partial(algo.update, config))
    rng, np_rng = jax.random.PRNGKey(0), np.random.default_rng(0)

    def run_loop():
        nonlocal state
        for _ in range(steps):
            idx = np_rng.integers(0, len(host["rewards"]), config.batch_size)
            batch = {k: v[idx].astype(np.float32) for k, v in host.items()}
            state, info = update(state, batch, rng)
        jax.block_until_ready(info)
    run_loop()
    out["loop_updates_per_s"] = steps / _time(run_loop)
    out["scan_over_loop"] = out["scan_updates_per_s"] / out["loop_updates_per_s"]

    # (3) FLOPs of one update from XLA's cost analysis, x updates/s, vs the matmul peak.
    batch = samplers.sample(samplers.transitions, config, dataset, rng)
    cost = update.lower(state, batch, rng).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    out["update_gflop"] = cost["flops"] / 1e9
    out["achieved_gflops"] = out["update_gflop"] * out["scan_updates_per_s"]
    out["efficiency_vs_matmul"] = out["achieved_gflops"] / out["matmul_gflops"]

    # (4) 8 vmapped seeds in one program vs 8 sequential single-seed programs (same updates).
    def seeds_wall(num_seeds, sequential):
        config.num_seeds = 1 if sequential else num_seeds
        fn = jax.jit(jax.vmap(chunk_fn(config, algo, steps), in_axes=(0, None)), donate_argnums=0)
        carries = [init_carry(config, algo, spec) for _ in range(num_seeds if sequential else 1)]
        carries = [fn(c, dataset)[0] for c in carries]  # compile + warm up
        jax.block_until_ready(carries)

        def go():
            for i, c in enumerate(carries):
                carries[i], m = fn(c, dataset)
                jax.block_until_ready(m)
        return _time(go, repeats=1)
    out["seeds8_vmapped_s"] = seeds_wall(8, sequential=False)
    out["seeds8_sequential_s"] = seeds_wall(8, sequential=True)
    out["seeds1_s"] = seeds_wall(1, sequential=False)
    out["vmapped_over_sequential"] = out["seeds8_vmapped_s"] / out["seeds8_sequential_s"]
    return out


def _looped_critic_apply(num_critics, hidden_dims):
    """QEnsemble's apply rewritten as N separate QNetwork applications in a Python loop (the
    baseline the vmapped ensemble is compared with); same parameters, same outputs."""
    from networks import QNetwork
    single = QNetwork(hidden_dims)

    def apply(variables, observations, actions):
        members = variables["params"]["VmapQNetwork_0"]
        return jnp.stack([
            single.apply({"params": jax.tree_util.tree_map(lambda x: x[i], members)}, observations, actions)
            for i in range(num_critics)])
    return apply


def ensemble():
    """SAC-N (paper sizes: 3x256 networks, batch 256, one seed) updates/s for each N, and for
    N = loop_size the vmapped ensemble vs the same critics applied one after another inside jit."""
    from configs.sac_n import get_config

    algo, steps = ALGOS["sac_n"], FLAGS.steps
    dataset = _fake_device_dataset()
    spec = Spec((11,), "float32", 3, False)
    out = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
           "cpu_count": os.cpu_count(), "steps": steps}

    def updates_per_s(config, looped=False):
        carry = init_carry(config, algo, spec)
        if looped:
            state = carry[0]
            critic = state.critic.replace(
                apply_fn=_looped_critic_apply(config.num_critics, tuple(config.hidden_dims)))
            seed0 = {"params": jax.tree_util.tree_map(lambda x: x[0], state.critic.params)}
            obs, act = dataset["observations"][:8], dataset["actions"][:8]
            np.testing.assert_allclose(critic.apply_fn(seed0, obs, act), state.critic.apply_fn(seed0, obs, act),
                                       rtol=1e-5, atol=1e-5)
            carry = (state.replace(critic=critic), carry[1])
        fn = jax.jit(jax.vmap(chunk_fn(config, algo, steps), in_axes=(0, None)), donate_argnums=0)
        carry, m = fn(carry, dataset)
        jax.block_until_ready(m)

        def go():
            nonlocal carry
            carry, m = fn(carry, dataset)
            jax.block_until_ready(m)
        return steps / _time(go)

    config = get_config()
    config.num_seeds = 1
    for n in map(int, FLAGS.ensemble_sizes):
        config.num_critics = n
        out[f"sac_n_{n}_updates_per_s"] = updates_per_s(config)
        print(f"N={n}: {out[f'sac_n_{n}_updates_per_s']:.1f} updates/s", flush=True)
    config.num_critics = FLAGS.loop_size
    out["vmapped_updates_per_s"] = updates_per_s(config)
    out["python_loop_updates_per_s"] = updates_per_s(config, looped=True)
    out["vmapped_over_loop_speed"] = out["vmapped_updates_per_s"] / out["python_loop_updates_per_s"]
    print(json.dumps(out, indent=2))


def matmul_gflops(dtype, n=2048, repeats=10):
    """The practical peak of this device: a large n x n matmul in `dtype`, GFLOP/s (bfloat16:
    bfloat16 operands, float32 result, as the networks' mixed-precision matmuls)."""
    a = jnp.ones((n, n), dtype)
    matmul = jax.jit(lambda x: jnp.matmul(x, x, preferred_element_type=jnp.float32))
    matmul(a).block_until_ready()
    return repeats * 2 * n ** 3 / _time(lambda: [matmul(a) for _ in range(repeats)][-1].block_until_ready()) / 1e9


def _case_config(case, dtype):
    """configs/<algo>.py at its paper (locomotion) sizes, one seed, plus the case's overrides."""
    import importlib
    algo, _, overrides = case.partition(":")
    config = importlib.import_module(f"configs.{algo}").get_config()
    config.num_seeds, config.compute_dtype = 1, dtype
    for item in filter(None, overrides.replace(";", ",").split(",")):  # ';' inside one --cases entry
        field, value = item.split("=")
        kind = type(config[field])
        if kind is bool and value not in ("True", "False"):
            raise app.UsageError(f"{field}={value}: write True or False")
        config[field] = value == "True" if kind is bool else kind(value)
    return algo, config


def update_gflop(config, algo, spec, dataset, aux=None):
    """XLA's FLOP count of one update of the algorithm's main (last) phase, one seed (the mean
    over a delay cycle for an update that takes the shared step)."""
    phase = contract(algo).phases[-1]
    state, _ = jax.tree_util.tree_map(lambda x: x[0], init_carry(config, algo, spec, aux))
    rng = jax.random.PRNGKey(0)
    batch = samplers.sample(phase.sampler, config, dataset, rng)
    # An update on the shared step (TD3's delayed actor) costs differently per step: average
    # one delay cycle, each step's program compiled with its step fixed.
    steps = range(config.get("policy_delay", 1)) if takes_step(phase.update) else [None]
    flops = []
    for step in steps:
        update = functools.partial(phase.update, config, **({} if step is None else {"step": step}))
        cost = jax.jit(update).lower(state, batch, rng).compile().cost_analysis()
        flops.append((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])
    return float(np.mean(flops)) / 1e9


def chunk_updates_per_s(config, algo, spec, dataset, steps, seconds, aux=None):
    """Updates/s of the driver's compiled chunk (one vmapped seed), timed for >= `seconds`."""
    phase = contract(algo).phases[-1]
    chunk = make_train_chunk(config, phase, steps)
    fn = jax.jit(jax.vmap(lambda c, d: chunk(c, {}, d), in_axes=(0, None)), donate_argnums=0)
    carry = init_carry(config, algo, spec, aux)
    carry, m = fn(carry, dataset)  # compile and warm up
    jax.block_until_ready(m)
    done, t0 = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - t0 < seconds:
        carry, m = fn(carry, dataset)
        jax.block_until_ready(m)
        done += steps
    return done / (time.perf_counter() - t0)


def _precision_data(config, algo):
    """(spec, device dataset, aux, None) for one case of `precision`, or (None, None, None, why
    it cannot run). With --dataset the data goes through the driver's own loading and the
    algorithm's prepare step; without it, hopper-shaped random transitions, which only a
    continuous-action algorithm training on one-step transitions with no prepare step can use."""
    if FLAGS.dataset:
        from data.dataset import load_dataset
        config.dataset = FLAGS.dataset
        data, info = load_dataset(config, algo.actions, algo.samplers)
        aux = algo.prepare(config, data, info) if algo.prepare is not None else None
        return info.spec, data, aux, None
    needs = [what for what, needed in (
        (f"{algo.actions} actions", algo.actions == "discrete"),
        ("episodes (its " + ", ".join(sorted({p.sampler.name for p in algo.phases})) + " sampler)",
         any(p.sampler is not samplers.transitions for p in algo.phases)),
        ("a prepare step on real data", algo.prepare is not None)) if needed]
    if needs:
        example = ("a discrete-action one, e.g. stitch/cartpole/noisy-v0 from scripts/discrete_suite.py"
                   if algo.actions == "discrete" else
                   "e.g. bench/hopper/medium-v0 with MINARI_DATASETS_PATH=../shared/datasets")
        return None, None, None, f"needs {' and '.join(needs)}; pass --dataset=<minari id> ({example})"
    return Spec((11,), "float32", 3, False), _fake_device_dataset(), None, None


@functools.lru_cache(maxsize=1)
def _fake_device_dataset():
    """`_fake_dataset` on the device, made once for every case of a run."""
    return {k: jnp.asarray(v, jnp.float32) for k, v in _fake_dataset().items()}


def precision():
    """Every algorithm at its paper network sizes (batch, widths, N), one seed: FLOPs per update,
    updates/s in each compute dtype, achieved GFLOP/s and its share of the same-run matmul peak
    of that dtype. On hopper-shaped random data (11-d observations, 3-d actions), or on
    --dataset, which the algorithms that need episodes or discrete actions require (without it
    they are listed as skipped, with the reason)."""
    cases = FLAGS.cases or [*sorted(ALGOS), "sac_n:num_critics=50"]
    out = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
           "cpu_count": os.cpu_count(), "steps_per_chunk": FLAGS.steps, "dataset": FLAGS.dataset or None,
           "rows": [], "skipped": {}}
    for dtype in FLAGS.dtypes:
        out[f"matmul_gflops_{dtype}"] = matmul_gflops(dtype)
    print(json.dumps({k: v for k, v in out.items() if k not in ("rows", "skipped")}), flush=True)
    for case in cases:
        row = {"case": case}
        # The data (and the prepare step's output) do not depend on the compute dtype: load once.
        algo_name, config = _case_config(case, FLAGS.dtypes[0])
        algo = contract(ALGOS[algo_name])
        spec, dataset, aux, why = _precision_data(config, algo)
        if why:
            out["skipped"][case] = why
            print(json.dumps({"case": case, "skipped": why}), flush=True)
            continue
        for dtype in FLAGS.dtypes:
            _, config = _case_config(case, dtype)
            if FLAGS.dataset:
                config.dataset = FLAGS.dataset
            gflop = update_gflop(config, algo.module, spec, dataset, aux)
            ups = chunk_updates_per_s(config, algo.module, spec, dataset, FLAGS.steps, FLAGS.seconds, aux)
            row[dtype] = {"update_gflop": gflop, "updates_per_s": ups, "gflops": gflop * ups,
                          "pct_of_matmul_peak": 100 * gflop * ups / out[f"matmul_gflops_{dtype}"]}
        if len(FLAGS.dtypes) == 2:
            a, b = FLAGS.dtypes
            row[f"{b}_over_{a}"] = row[b]["updates_per_s"] / row[a]["updates_per_s"]
        out["rows"].append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps(out, indent=2))


def seeds():
    """What vmapping seeds costs per seed: for each --cases algorithm at its paper sizes (hopper
    shapes, float32), updates/s of the driver's chunk for one seed and for --num_seeds vmapped
    seeds, measured back to back in this process. A per-seed ratio under 1 means one program per
    seed is cheaper on this machine than one vmapped program (the ratio is what to sweep by)."""
    spec, dataset = Spec((11,), "float32", 3, False), _fake_device_dataset()
    rows = []
    for case in FLAGS.cases or ["iql", "cql", "edac", "rebrac"]:
        name, _ = _case_config(case, "float32")
        ups = {}
        for n in (1, FLAGS.num_seeds):
            _, config = _case_config(case, "float32")
            config.num_seeds = n
            ups[n] = chunk_updates_per_s(config, ALGOS[name], spec, dataset, FLAGS.steps, FLAGS.seconds)
        row = {"case": case, "num_seeds": FLAGS.num_seeds, "one_seed_updates_per_s": ups[1],
               "vmapped_updates_per_s": ups[FLAGS.num_seeds],
               "per_seed_ratio": ups[FLAGS.num_seeds] * FLAGS.num_seeds / ups[1]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    _print_table(["algorithm", "1 seed: updates/s", f"{FLAGS.num_seeds} vmapped: updates/s",
                  "seed-updates/s, vmapped / one"],
                 [[r["case"], f"{r['one_seed_updates_per_s']:.2f}", f"{r['vmapped_updates_per_s']:.2f}",
                   f"{r['per_seed_ratio']:.2f}x"] for r in rows])


def peer():
    """stitch vs d3rlpy (its own venv, --peer_python) at the same network sizes, per algorithm:
    stitch's compiled chunk (one seed, float32, paper config) and d3rlpy's `fit`
    (scripts/peer_d3rlpy.py), measured back to back so both see the same machine."""
    import subprocess
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peer_d3rlpy import SIZES
    if not FLAGS.peer_python or not os.path.exists(FLAGS.peer_python):
        raise app.UsageError(f"--peer_python={FLAGS.peer_python!r} is not d3rlpy's venv python; make one: "
                             "python3 -m venv ../peers/d3rlpy-venv && ../peers/d3rlpy-venv/bin/pip install "
                             "torch==2.13.0 d3rlpy")
    spec, dataset = Spec((11,), "float32", 3, False), _fake_device_dataset()
    rows = []
    for name in FLAGS.cases or list(SIZES):
        _, config = _case_config(name, "float32")
        size = SIZES[name]
        same = (tuple(config.hidden_dims) == tuple(size["hidden"]) and config.batch_size == size["batch"]
                and config.get("num_critics", 2) == size.get("critics", config.get("num_critics", 2)))
        assert same, f"{name}: stitch's config and the peer's SIZES differ"
        algo = ALGOS[name]
        ours = chunk_updates_per_s(config, algo, spec, dataset, FLAGS.steps, FLAGS.seconds)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_d3rlpy.py")
        done = subprocess.run([FLAGS.peer_python, script, f"--algos={name}", f"--seconds={2 * FLAGS.seconds}"],
                              capture_output=True, text=True, check=True)
        theirs = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
        row = {"algo": name, **size, "stitch_updates_per_s": ours,
               "d3rlpy_updates_per_s": theirs["updates_per_s"], "d3rlpy": theirs["d3rlpy"],
               "torch": theirs["torch"], "stitch_over_d3rlpy": ours / theirs["updates_per_s"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    _print_table(["algorithm", "hidden layers", "batch", "critics", "stitch updates/s", "d3rlpy updates/s",
                  "stitch / d3rlpy"],
                 [[r["algo"], "x".join(map(str, r["hidden"])), r["batch"], r.get("critics", 2),
                   f"{r['stitch_updates_per_s']:.1f}", f"{r['d3rlpy_updates_per_s']:.1f}",
                   f"{r['stitch_over_d3rlpy']:.1f}x"] for r in rows])


def side_by_side():
    """Issue 13's table from `scores` (--out, stitch's vmapped seeds) and `peer_d3rlpy.py scores`
    (--peer_out, one entry per d3rlpy seed): per algorithm and dataset, each side's final mean
    and standard error over seeds, and stitch's difference in standard errors of the difference."""
    from configs.base import dataset_preset_name
    ours, theirs = {}, {}
    for path in FLAGS.out.split(","):
        ours.update(json.load(open(path)))
    for path in FLAGS.peer_out.split(","):
        theirs.update(json.load(open(path)))
    rows = []
    for dataset in FLAGS.datasets:
        for algo in FLAGS.algos:
            s = _stitch_entry(ours, algo, dataset)
            d = [v["score"] for k, v in sorted(theirs.items()) if k.rsplit("|", 1)[0] == f"{_peer_algo(algo)}|{dataset}"]
            if s is None or len(s["scores"]) < 2 or len(d) < 2:  # a standard error needs two seeds
                continue
            s = np.asarray(s["scores"], float)
            d = np.asarray(d, float)
            se_s, se_d = s.std(ddof=1) / np.sqrt(len(s)), d.std(ddof=1) / np.sqrt(len(d))
            gap = (s.mean() - d.mean()) / max(np.hypot(se_s, se_d), 1e-9)
            rows.append([dataset_preset_name(dataset), _algo_label(algo),
                         f"{s.mean():.1f} ± {se_s:.1f} ({len(s)})", " ".join(f"{x:.1f}" for x in s),
                         f"{d.mean():.1f} ± {se_d:.1f} ({len(d)})", " ".join(f"{x:.1f}" for x in d),
                         f"{gap:+.1f}"])
    _print_table(["dataset", "algorithm", "stitch mean ± SE (seeds)", "stitch per seed",
                  "d3rlpy mean ± SE (seeds)", "d3rlpy per seed", "difference / SE"], rows)
    if FLAGS.plot:
        _plot_side_by_side(ours, theirs, FLAGS.plot)


PEER_NAMES = {"fqi": "nfq"}  # stitch's algorithm -> the peer's name for it (d3rlpy's NFQ is stitch's fqi)


def _peer_algo(spec):
    """The peer's algorithm of a side_by_side --algos entry: 'bear' or 'bear|bear_warmup_steps=2000'."""
    algo = spec.split("|", 1)[0]
    return PEER_NAMES.get(algo, algo)


def _algo_label(spec):
    """'bear (bear_warmup_steps=2000)': an --algos entry as a table cell (no '|' to split it)."""
    algo, _, fields = spec.partition("|")
    return f"{algo} ({fields.replace('|', ', ')})" if fields else algo


def _stitch_entry(ours, algo, dataset):
    """stitch's `scores` entry for (algo, dataset): the vmapped seeds of `_score_key`'s entry,
    or, for an --algos entry that names its own fields ('bear|bear_warmup_steps=2000', as its
    `scores` run's --set made the key), that entry, so one table can hold algorithms that were
    run with different --set fields; either pooled with entries run one seed at a time
    (`--num_seeds=1 --set=seed=k`, whose keys are the
    base key plus `|seed=k`), so a side-by-side too long for one session can be split by seed.
    Each `seed=k` run draws its seed as index 0 of PRNGKey(k): an independent seed, not the
    vmapped run's seed k. None when there is no entry."""
    algo, _, fields = algo.partition("|")
    base = _score_key(algo, dataset) if not fields else f"{algo}|{dataset}|{fields}"
    parts = [ours[base]] if base in ours else []
    parts += [v for k, v in sorted(ours.items()) if _is_seed_of(k, base)]
    if not parts:
        return None
    steps = [c[0] for c in parts[0]["curve"]]
    if any([c[0] for c in p["curve"]] != steps for p in parts):
        raise ValueError(f"{base}: the runs being pooled evaluated at different steps; re-run them "
                         f"with the same --num_updates and --eval_interval")
    if len(parts) == 1:
        return parts[0]
    curve_seeds = []
    for i, step in enumerate(steps):
        per = [p["curve_seeds"][i][1] if p.get("curve_seeds") else None for p in parts]
        curve_seeds.append((step, None if any(x is None for x in per) else sum(per, [])))
    return {"scores": sum((list(p["scores"]) for p in parts), []), "behaviour": parts[0]["behaviour"],
            "curve": [(step, None if cs is None else float(np.mean(cs))) for step, cs in curve_seeds],
            "curve_seeds": curve_seeds}


def _is_seed_of(key, base):
    """Whether `key` is `base` with one `seed=k` field added, wherever --set put it among the
    fields ('cql|d|seed=3|bc_steps=0' and 'cql|d|bc_steps=0|seed=3' are both seeds of 'cql|d|bc_steps=0')."""
    parts, base_parts = key.split("|"), base.split("|")
    seeds = [f for f in parts[2:] if f.startswith("seed=") and f[5:].isdigit()]
    rest = parts[:2] + [f for f in parts[2:] if f not in seeds]
    return len(seeds) == 1 and rest[:2] == base_parts[:2] and sorted(rest[2:]) == sorted(base_parts[2:])


def _plot_side_by_side(ours, theirs, path):
    """Learning curves, one panel per dataset x algorithm: each side's mean over seeds with a
    band of one standard error (stitch's curve is stored as the seeds' mean only)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from configs.base import dataset_preset_name
    pairs = [(d, a) for d in FLAGS.datasets for a in FLAGS.algos if _stitch_entry(ours, a, d)]
    if not pairs:
        return
    import textwrap
    panels = [(d, a) for d in FLAGS.datasets for a in FLAGS.algos]
    cols = min(len(FLAGS.algos), 3)  # at most three panels a row, so titles stay readable
    rows_n = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.3 * rows_n), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for k, (dataset, algo) in enumerate(panels):  # one panel per dataset x algorithm, row-major
        ax = axes.flat[k]
        s = _stitch_entry(ours, algo, dataset)
        if s is None:
            ax.axis("off")
            continue
        steps, means = zip(*[(c[0], c[1]) for c in s["curve"] if c[1] is not None])
        ax.plot(np.asarray(steps) / 1000, means, "o-", ms=3, color="tab:blue",
                label=f"stitch ({len(s['scores'])} seeds)")
        per_seed = [c[1] for c in s.get("curve_seeds", []) if c[1] is not None]
        if per_seed:  # (entries from before per-seed curves were stored have the mean only)
            y = np.asarray(per_seed, float)
            se = y.std(1, ddof=1) / np.sqrt(y.shape[1])
            ax.fill_between(np.asarray(steps) / 1000, y.mean(1) - se, y.mean(1) + se, color="tab:blue", alpha=0.2)
        peer = [v["curve"] for k, v in sorted(theirs.items()) if k.rsplit("|", 1)[0] == f"{_peer_algo(algo)}|{dataset}"]
        if peer:
            n = min(len(c) for c in peer)
            x = np.asarray([c[0] for c in peer[0][:n]]) / 1000
            y = np.asarray([[c[1] for c in curve[:n]] for curve in peer])
            se = y.std(0, ddof=1) / np.sqrt(len(y)) if len(y) > 1 else np.zeros(n)
            ax.plot(x, y.mean(0), "s--", ms=3, color="tab:orange", label=f"d3rlpy ({len(y)} seeds)")
            ax.fill_between(x, y.mean(0) - se, y.mean(0) + se, color="tab:orange", alpha=0.2)
        ax.axhline(s["behaviour"], color="gray", lw=0.8, ls=":", label="behaviour data")
        name, _, fields = algo.partition("|")  # an entry's own fields on a second line
        own = textwrap.fill(f"({fields.replace('|', ', ')})", 48) if fields else ""
        ax.set_title(f"{name} · {dataset_preset_name(dataset)}" + (f"\n{own}" if own else ""), fontsize=8)
        ax.set_xlabel("updates (thousands)", fontsize=8)
        ax.set_ylabel("normalised score", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"learning curves: {path}")


def _print_table(header, rows):
    """A markdown table, as BENCHMARKS.md holds them."""
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


def less_work():
    """Issue 12's shared passes vs the forms they replaced (tests/separate_passes.py; TD3's
    delayed actor as a per-run select), and FQE's rotating initial-state batch vs its value over
    every initial state on every update (hopper-medium-replay's 1439), one process, alternating
    old and new `--reps` times at paper sizes on hopper-shaped data, one seed, float32: updates/s
    and XLA FLOPs per update."""
    from algos import cql, edac, fqe, rebrac, sac_n, td3_bc
    from tests import separate_passes

    def hide_step(module):  # the update without the shared step: the run's own counter, a select
        return lambda config, state, batch, rng: module.update(config, state, batch, rng)

    old = {"td3_bc": hide_step(td3_bc), "rebrac": hide_step(rebrac),
           "cql": cql.make_update(separate_passes.cql_critic_loss),
           "edac": sac_n.make_update(separate_passes.edac_critic_loss),
           "fqe": separate_passes.fqe_update_all_initial_states}
    shape = tuple(int(x) for x in FLAGS.obs_shape)
    spec = Spec(shape, "float32", 3, False)
    host = _fake_dataset(n=20_000, obs_dim=shape)
    host["episode_ends"][np.linspace(0, 20_000, 1440).astype(int)[1:] - 1] = 1.0  # 1439 episodes
    dataset = {k: jnp.asarray(v, jnp.float32) for k, v in host.items()}
    rows = []
    for case in FLAGS.cases or [k for k in old if k != "fqe"]:
        name, config = _case_config(case, "float32")
        aux = fqe.prepare(config, dataset, None) if name == "fqe" else None
        module = ALGOS[name]  # the old form in every phase the contract gives it (FQE's update is a PHASE's)
        phases = tuple(p._replace(update=old[name]) for p in contract(module).phases)
        forms = {"old": types.SimpleNamespace(**{**vars(module), "update": old[name], "PHASES": phases}),
                 "new": module}
        row = {"algo": case, **{f"{k}_gflop": update_gflop(config, m, spec, dataset, aux) for k, m in forms.items()}}
        for _ in range(FLAGS.reps):
            for key, module in forms.items():
                row.setdefault(f"{key}_updates_per_s", []).append(
                    chunk_updates_per_s(config, module, spec, dataset, FLAGS.steps, FLAGS.seconds, aux))
        row["new_over_old"] = [n / o for n, o in zip(row["new_updates_per_s"], row["old_updates_per_s"])]
        rows.append(row)
        print(json.dumps(row), flush=True)
    _print_table(["algorithm", "GFLOP / update before", "after", "updates/s before (each rep)", "after (each rep)",
                  "after / before (median)"],
                 [[r["algo"], f"{r['old_gflop']:.2f}", f"{r['new_gflop']:.2f}",
                   ", ".join(f"{x:.1f}" for x in r["old_updates_per_s"]),
                   ", ".join(f"{x:.1f}" for x in r["new_updates_per_s"]),
                   f"{np.median(r['new_over_old']):.2f}x"] for r in rows])


def profile():
    """Where an update's time goes, per algorithm at paper sizes (one seed, float32, hopper
    shapes): ms per update of the driver's chunk, of the same scan doing only the sampling, and
    of only the optimizer steps (Adam on zero gradients for every TrainState, plus a Polyak
    average of every target); the rest is the networks' passes and losses. Beside it, the time
    the update's FLOPs would take at the same run's matmul peak."""
    from flax.training.train_state import TrainState
    spec = Spec((11,), "float32", 3, False)
    dataset = _fake_device_dataset()
    peak = matmul_gflops("float32")
    print(json.dumps({"matmul_gflops_float32": peak, "xla_flags": os.environ.get("XLA_FLAGS", "")}))

    def sampling_only(config, state, batch, rng):
        del config, rng
        leaves = jax.tree_util.tree_leaves(batch)
        return state, {"sum": sum(jnp.sum(x) for x in leaves)}

    def optimizer_only(config, state, batch, rng):
        del batch, rng
        is_ts = lambda x: isinstance(x, TrainState)  # noqa: E731
        state = jax.tree_util.tree_map(
            lambda x: x.apply_gradients(grads=jax.tree_util.tree_map(jnp.zeros_like, x.params)) if is_ts(x) else x,
            state, is_leaf=is_ts)
        targets = {k: v for k, v in vars(state).items() if k.startswith("target_")}
        state = state.replace(**{k: jax.tree_util.tree_map(lambda t: 0.995 * t + 0.005 * t, v)
                                 for k, v in targets.items()})
        return state, {"step": jnp.zeros(())}

    rows = []
    for case in FLAGS.cases or sorted(ALGOS):
        name, config = _case_config(case, "float32")
        algo = ALGOS[name]
        gflop = update_gflop(config, algo, spec, dataset)
        ms = {}
        for part, update in (("update", None), ("sampling", sampling_only), ("optimizer", optimizer_only)):
            module = algo if update is None else types.SimpleNamespace(**{**vars(algo), "update": update})
            ms[part] = 1e3 / chunk_updates_per_s(config, module, spec, dataset, FLAGS.steps, FLAGS.seconds)
        row = {"algo": case, "update_gflop": gflop, **{f"{k}_ms": v for k, v in ms.items()},
               "networks_ms": ms["update"] - ms["sampling"] - ms["optimizer"],
               "at_peak_ms": 1e3 * gflop / peak, "pct_of_peak": 100 * gflop / peak / (ms["update"] / 1e3)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    _print_table(["algorithm", "GFLOP / update", "ms / update", "sampling", "optimizer + targets",
                  "networks and losses", "FLOPs at matmul peak", "% of peak"],
                 [[r["algo"], *(f"{r[k]:.2f}" for k in ("update_gflop", "update_ms", "sampling_ms", "optimizer_ms",
                                                        "networks_ms", "at_peak_ms")),
                   f"{r['pct_of_peak']:.0f} %"] for r in rows])


def convs():
    """The temporal U-Net's 1-d convolutions as matmuls of their patches (networks/unet.Conv1d)
    against XLA's convolution (lax.conv_general_dilated / conv_transpose, as flax's nn.Conv and
    nn.ConvTranspose call it) with the same parameters, same run, float32: ms of a forward and
    of a gradient of Diffuser's paper networks (U-Net 32 x (1, 2, 4, 8) and its value guide;
    batch 64, horizon 32, hopper's 14 channels), outputs checked equal first."""
    import flax.linen as nn
    from networks import unet

    class Conv1d(unet.Conv1d):  # the same name: flax names parameters after the class
        @nn.compact
        def __call__(self, x):
            kernel = self.param("kernel", self.kernel_init, (self.kernel, x.shape[-1], self.features), jnp.float32)
            pad = self.padding if isinstance(self.padding, str) else tuple(map(tuple, self.padding))
            conv = jax.lax.conv_transpose if self.transpose else jax.lax.conv_general_dilated
            y = conv(x, kernel, (self.strides,), pad, dimension_numbers=("NWC", "WIO", "NWC"))
            return y + self.param("bias", self.bias_init, (self.features,), jnp.float32) if self.use_bias else y

    x, t = jnp.ones((64, 32, 14)), jnp.zeros((64,), jnp.int32)
    matmul_conv, rows = unet.Conv1d, []
    for net in (unet.TemporalUNet(32, (1, 2, 4, 8)), unet.TemporalValue(32, (1, 2, 4, 8))):
        params = net.init(jax.random.PRNGKey(0), x, t)["params"]
        row, outs = {"network": type(net).__name__}, {}
        for impl, cls in (("xla", Conv1d), ("matmul", matmul_conv)):
            unet.Conv1d = cls  # the modules look the class up when they are called
            try:  # a new function per impl: jit caches traces by the function
                loss = lambda p: jnp.sum(jnp.square(net.apply({"params": p}, x, t)))  # noqa: E731
                fwd, grad = jax.jit(loss), jax.jit(jax.grad(loss))
                outs[impl] = fwd(params)
                for part, fn in (("forward", fwd), ("gradient", grad)):
                    row[f"{impl}_{part}_ms"] = 1e3 * _time(lambda: jax.block_until_ready(fn(params)))
            finally:
                unet.Conv1d = matmul_conv
        np.testing.assert_allclose(outs["xla"], outs["matmul"], rtol=1e-4)
        for part in ("forward", "gradient"):
            row[f"{part}_xla_over_matmul"] = row[f"xla_{part}_ms"] / row[f"matmul_{part}_ms"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    _print_table(["network", "forward ms: XLA conv", "matmul", "speed-up", "gradient ms: XLA conv", "matmul",
                  "speed-up"],
                 [[r["network"], *(f"{r[f'{i}_{p}_ms']:.1f}" if i else f"{r[f'{p}_xla_over_matmul']:.1f}x"
                                   for p in ("forward", "gradient") for i in ("xla", "matmul", None))]
                  for r in rows])


def matmuls():
    """GFLOP/s of float32 and of bfloat16-operand/float32-result products at the shapes the
    networks use: (batch x in) @ (in x out), and batched over ensemble members."""
    shapes = [(None, 2048, 2048, 2048), (None, 256, 256, 256), (None, 2560, 256, 256),
              (None, 7680, 256, 256), (2, 7680, 256, 256), (10, 256, 256, 256), (50, 256, 256, 256)]
    rows = []
    for members, m, k, n in shapes:
        lead = () if members is None else (members,)
        a, b = jnp.ones((*lead, m, k)), jnp.ones((*lead, k, n))
        f32 = jax.jit(jnp.matmul)
        mixed = jax.jit(lambda x, y: jnp.matmul(x.astype(jnp.bfloat16), y.astype(jnp.bfloat16),
                                                preferred_element_type=jnp.float32))
        flops = 2 * (members or 1) * m * k * n
        bf16_result = jax.jit(lambda x, y: jnp.matmul(x.astype(jnp.bfloat16), y.astype(jnp.bfloat16)))
        row = {"members": members, "m": m, "k": k, "n": n}
        for name, fn in (("float32", f32), ("bfloat16", mixed), ("bfloat16_result", bf16_result)):
            fn(a, b).block_until_ready()
            row[f"{name}_gflops"] = 5 * flops / _time(lambda: [fn(a, b) for _ in range(5)][-1].block_until_ready()) / 1e9
        row["bfloat16_over_float32"] = row["bfloat16_gflops"] / row["float32_gflops"]
        rows.append(row)
        print(json.dumps(row), flush=True)


def compile_cache():
    """The same short IQL job (built-in data, paper-size networks, 2000 updates) run twice in
    fresh processes sharing a new, empty compile cache: the second loads what the first compiled."""
    import subprocess
    import tempfile
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, os.path.join(repo, "train_offline.py"), "--config=configs/iql.py:pendulum",
               "--config.hidden_dims=(256,256)", "--config.num_updates=2000", "--config.eval_interval=1000",
               "--config.eval_episodes=2", "--config.progress_bar=False",
               f"--compile_cache={os.path.join(tmp, 'cache')}"]
        for name in ("cold", "warm", "off"):
            run_cmd = cmd + [f"--workdir={os.path.join(tmp, name)}"]
            if name == "off":
                run_cmd[-2] = "--compile_cache=off"
            t0 = time.perf_counter()
            subprocess.run(run_cmd, cwd=repo, check=True, capture_output=True)
            results = json.load(open(os.path.join(tmp, name, "results.json")))
            out[name] = {"process_wall_s": time.perf_counter() - t0,
                         "compile_time_s": results["compile_time_s"], "trace_time_s": results["trace_time_s"]}
            print(name, out[name], flush=True)
    out["warm_over_cold_compile"] = out["warm"]["compile_time_s"] / out["cold"]["compile_time_s"]
    out["warm_over_cold_wall"] = out["warm"]["process_wall_s"] / out["cold"]["process_wall_s"]
    print(json.dumps(out, indent=2))


def act_cost():
    """One `act` call at the paper's network sizes with untrained parameters (hopper shapes, one
    seed, float32), for --eval_parallel envs: ms per call as configured and, same run, with the
    --set fields (those that change how it acts: a planner's plan_samples, diffusion_sample_steps,
    guide_steps), and the hours one evaluation of --eval_episodes 1000-step episodes would take.
    For a trained run's real cost per env step use `evaluation`; the algorithms that need a
    prepare step on real data (dt, tt, dd) or keep memory between steps can only be measured there."""
    import inspect
    spec = Spec((11,), "float32", 3, False)
    cases = FLAGS.cases or ["diffuser"]
    for name in (case.partition(":")[0] for case in cases):  # refuse before measuring anything
        module = ALGOS[name]
        if "aux" in inspect.signature(module.init).parameters or hasattr(module, "init_memory"):
            raise app.UsageError(f"{name} needs real data or memory to act: train a short run and use "
                                 f"`benchmark.py evaluation --eval_workdir=<its workdir>`")
    rows = []
    for case in cases:
        name, config = _case_config(case, "float32")
        module = ALGOS[name]
        state = jax.jit(lambda rng: module.init(config, spec, rng))(jax.random.PRNGKey(0))  # one compile, not one per op
        for n in map(int, FLAGS.eval_parallel):
            row = {"case": case, "envs": n}
            for label, fields in (("as_configured", {}), ("with_set", _overrides())):
                if label == "with_set" and not fields:
                    continue
                acting = config.copy_and_resolve_references()
                acting.update(fields)
                act = jax.jit(lambda s, o, r, c=acting: module.act(c, s, o, r))
                observations = jnp.zeros((n, 11))
                jax.block_until_ready(act(state, observations, jax.random.PRNGKey(1)))  # compile
                ms = 1e3 * _time(lambda: jax.block_until_ready(act(state, observations, jax.random.PRNGKey(2))), 2)
                row[f"{label}_ms"] = ms
                row[f"{label}_eval_hours"] = ms / 1e3 * 1000 * -(-FLAGS.eval_episodes // n) / 3600
            if "with_set_ms" in row:
                row["set"], row["as_configured_over_with_set"] = _overrides(), row["as_configured_ms"] / row["with_set_ms"]
            rows.append(row)
            print(json.dumps(row), flush=True)


def _restored_workdir():
    """(config with --set applied, contract, DataInfo, carry of every run, checkpoint step) of
    --eval_workdir's newest good checkpoint. --set changes how the trained policy acts (a
    planner's guide_steps=0, IDQL's num_samples); fields its training fixed (network sizes)
    cannot change here."""
    from algos.common import contract
    from algos.workdir import load_config, restore
    from data.dataset import load_dataset

    config = load_config(FLAGS.eval_workdir)
    algo = contract(ALGOS[config.algo])
    data, info = load_dataset(config, algo.actions, algo.samplers)
    aux = algo.prepare(config, data, info) if algo.prepare is not None else None  # DT's targets, TT's bins
    config, carry, meta = restore(FLAGS.eval_workdir, aux=aux)
    with config.unlocked() if hasattr(config, "unlocked") else contextlib.nullcontext():
        config.update(_overrides())
    return config, algo, info, carry, meta["step"]


def evaluation():
    """Evaluation cost of run 0 of a trained workdir in its dataset's env: one vector env of k
    episodes (the driver's Evaluator), timed after a warm-up; and the share evaluation takes of
    a 1M-update run evaluated every 5k updates with 10 episodes (CORL's protocol)."""
    from algos.rollout import Evaluator

    config, algo, info, carry, _ = _restored_workdir()
    state = jax.tree_util.tree_map(lambda x: x[:1], carry[0])  # run 0
    ups = json.load(open(os.path.join(FLAGS.eval_workdir, "results.json")))["updates_per_second"]
    out = {"workdir": FLAGS.eval_workdir, "env": info.env_spec.id, "updates_per_s": ups, "set": _overrides(),
           "rows": []}
    for k in map(int, FLAGS.eval_parallel):
        evaluator = Evaluator(algo, config, info, 1, k)
        evaluator(state, seed=0)  # compile act for this shape
        counts = {"vector": 0, "env": 0}
        real_act = evaluator._act

        def counting_act(*args):
            counts["vector"] += 1
            return real_act(*args)
        evaluator._act = counting_act
        for env in evaluator.envs.envs:
            def counting_step(action, real_step=env.step):
                counts["env"] += 1
                return real_step(action)
            env.step = counting_step
        t0 = time.perf_counter()
        returns = evaluator(state, seed=1)
        wall = time.perf_counter() - t0
        evaluator.close()
        row = {"parallel_episodes": k, "wall_s": wall, "vector_steps": counts["vector"],
               "env_steps": counts["env"], "ms_per_vector_step": 1e3 * wall / counts["vector"],
               "ms_per_env_step": 1e3 * wall / counts["env"], "ms_per_episode": 1e3 * wall / k,
               "mean_return": float(np.mean(returns))}
        out["rows"].append(row)
        print(json.dumps(row), flush=True)
    # The run's own seeds are evaluated together: 10 episodes each, one vector env.
    num_runs = int(jax.tree_util.tree_leaves(carry[0])[0].shape[0])
    row = next((r for r in out["rows"] if r["parallel_episodes"] == 10 * num_runs), None)
    if row and ups:
        train_s, eval_s = 1_000_000 / ups, 200 * row["wall_s"]
        out["protocol_1M_every_5k_10_episodes"] = {"runs": num_runs, "train_s": train_s, "eval_s": eval_s,
                                                   "eval_share": eval_s / (train_s + eval_s)}
    print(json.dumps(out, indent=2))


def rescore():
    """Every run of a trained workdir (--eval_workdir, its newest checkpoint) evaluated again,
    acting as --set says (IDQL's idql_select='weighted', or num_samples=1 for its diffusion model
    alone; a planner's guide_steps=0): --eval_episodes episodes per run in one vector env, on env
    seeds the training's evaluations did not use. Prints the normalised score per run and
    appends it as one JSON line to --out when --out ends in .jsonl."""
    from algos.rollout import Evaluator, score
    from algos.runs import bind, hparam_arrays, parse_sweep
    from algos.trainer import fixed_fields

    if not FLAGS.eval_workdir:
        raise app.UsageError("rescore needs --eval_workdir=<a trained run's workdir>")
    config, algo, info, carry, step = _restored_workdir()
    points = parse_sweep(config, fixed_fields(algo))
    num_runs = int(jax.tree_util.tree_leaves(carry[0])[0].shape[0])
    evaluator = Evaluator(algo, config, info, num_runs, FLAGS.eval_episodes, bind)
    # 999_983: a seed no training evaluation takes (those are config.seed + 1_000_003 k)
    returns = evaluator(carry[0], seed=config.seed + 999_983, hparams=hparam_arrays(config, points))
    evaluator.close()
    row = {"workdir": FLAGS.eval_workdir, "dataset": config.dataset, "checkpoint": step,
           "set": _overrides(), "episodes_per_run": FLAGS.eval_episodes,
           "return": [float(r) for r in returns], "normalized_score": score(returns, info)}
    if row["normalized_score"]:
        s = np.asarray(row["normalized_score"])
        row["mean"], row["std"] = float(s.mean()), float(s.std())
    print(json.dumps(row), flush=True)
    if FLAGS.out.endswith(".jsonl"):
        os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
        with open(FLAGS.out, "a") as f:
            f.write(json.dumps(row) + "\n")
    return row


def main(argv):
    logging.set_verbosity(logging.WARNING)
    modes = {"scores": scores, "throughput": throughput, "ensemble": ensemble,
             "precision": precision, "compile_cache": compile_cache, "evaluation": evaluation,
             "matmuls": matmuls, "peer": peer, "less_work": less_work, "profile": profile,
             "side_by_side": side_by_side, "convs": convs,
             "act_cost": act_cost, "seeds": seeds, "rescore": rescore}
    if len(argv) != 2 or argv[1] not in modes:
        raise app.UsageError("usage: benchmark.py scores|throughput|ensemble|precision|matmuls|compile_cache|evaluation|rescore|peer|less_work|profile|side_by_side|convs|act_cost|seeds [--flags]")
    modes[argv[1]]()


if __name__ == "__main__":
    define_flags()
    app.run(main)
