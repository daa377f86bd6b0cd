"""train_offline.py as a user runs it: a subprocess per registered algorithm, dotted overrides."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from algos import ALGOS
from tests.conftest import REPO

TINY = ["--config.num_seeds=2", "--config.num_updates=20", "--config.batch_size=32",
        "--config.log_interval=10", "--config.eval_interval=20", "--config.eval_episodes=1",
        "--config.hidden_dims=(16,16)", "--config.progress_bar=False", "--config.tensorboard=False"]


def run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "train_offline.py"), *args],
                          capture_output=True, text=True, cwd=REPO, env=os.environ.copy(), timeout=600)


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_algorithm_runs_from_the_command_line(algo, pendulum, discrete_data, tmp_path):
    from algos.common import contract
    algo_contract = contract(ALGOS[algo])
    data = [f"--config.dataset={discrete_data}"] if algo_contract.actions == "discrete" else []
    # every phase 20 updates (a behaviour-fitting or evaluation phase has its own steps field)
    phase_steps = [f"--config.{p.steps}=20" for p in algo_contract.phases if p.steps != "num_updates"]
    args = [f"--config={REPO}/configs/{algo}.py:pendulum", *TINY, *phase_steps, *data, f"--workdir={tmp_path}"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    total = 20 * len(algo_contract.phases)
    assert results["algo"] == algo and results["num_updates"] == total and results["num_seeds"] == 2
    if any(p.evaluate for p in algo_contract.phases) and not data:
        assert np.all(np.isfinite(results["final_return"]))
        assert "behaviour data: return" in proc.stdout and "normalised score" in proc.stdout
    else:  # an evaluator such as FQE, or data without an env: its training metrics are the output
        assert results["final_return"] is None and "last logged metrics" in proc.stdout
        # (a metric of an earlier phase only, such as a behaviour fit's, is None in the last chunk)
        last = {k: v for k, v in results["final_metrics"].items() if not all(x is None for x in v)}
        assert last and all(np.all(np.isfinite(v)) for v in last.values())
    # Re-running the same command finds the finished checkpoint and does not train again.
    again = run_cli(*args)
    assert again.returncode == 0 and f"Resuming from the checkpoint at update {total}" in again.stdout


def test_bad_value_is_a_clear_error_without_traceback(pendulum, tmp_path):
    workdir = tmp_path / "w"
    proc = run_cli(*TINY, "--config.expectile=1.5", f"--workdir={workdir}")
    assert proc.returncode == 2
    assert "config.expectile=1.5 is invalid: it must be in (0, 1)" in proc.stderr
    assert "Traceback" not in proc.stderr and not workdir.exists()


@pytest.mark.parametrize("flag, needle", [
    ("--config.expectille=0.9", 'Did you mean "expectile" instead of "expectille"?'),
    ("--config=configs/iql.py:antmazee", "Unknown config preset 'antmazee'"),
    ("--config.batch_size=abc", "--config.batch_size=abc"),
    ("--config=configs/nope.py", "configs/nope.py"),
])
def test_config_flag_mistakes_fail_loudly_and_cleanly(tmp_path, flag, needle):
    proc = run_cli(flag, f"--workdir={tmp_path / 'w'}")
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "w").exists()


def test_collect_command_writes_a_minari_dataset(minari_root):
    import minari
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.collect", "--env=Pendulum-v1", "--policy=pendulum_swingup",
         "--action_noise=0.2", "--num_steps=400", "--dataset_id=cli/pendulum/swingup-v0"],
        capture_output=True, text=True, cwd=REPO, env=os.environ.copy(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Wrote cli/pendulum/swingup-v0: 2 episodes, 400 steps" in proc.stdout
    ds = minari.load_dataset("cli/pendulum/swingup-v0")
    meta = ds.storage.metadata
    # Reference scores: random policy (min) below the noise-free controller (max).
    assert meta["ref_min_score"] < meta["ref_max_score"] < 0


def test_side_by_side_pools_seeds_run_one_at_a_time(tmp_path):
    """Issue 13's side-by-side split by seed: a vmapped entry and `|seed=k` entries from two
    --out files pool into one sample, whose mean and standard error the table prints."""
    def entry(scores):
        return {"scores": scores, "behaviour": 10.0, "curve": [(5, 1.0), (10, float(np.mean(scores)))],
                "curve_seeds": [(5, [1.0] * len(scores)), (10, scores)]}
    base = "cql|bench/x/medium-replay-v0|bc_steps=0"
    (tmp_path / "a.json").write_text(json.dumps({base: entry([20.0, 22.0]), base + "|seed=7": entry([30.0])}))
    (tmp_path / "b.json").write_text(json.dumps({"cql|bench/x/medium-replay-v0|seed=8|bc_steps=0": entry([28.0]),
                                                 "cql|bench/x/medium-replay-v0": entry([0.0, 0.0])}))
    peer = {f"cql|bench/x/medium-replay-v0|{s}": {"score": v, "curve": [(5, 1.0), (10, v)]}
            for s, v in enumerate([24.0, 26.0])}
    (tmp_path / "p.json").write_text(json.dumps(peer))
    proc = subprocess.run([sys.executable, "scripts/benchmark.py", "side_by_side", "--algos=cql",
                           "--datasets=bench/x/medium-replay-v0", "--set=bc_steps=0",
                           f"--out={tmp_path}/a.json,{tmp_path}/b.json", f"--peer_out={tmp_path}/p.json",
                           f"--plot={tmp_path}/c.png"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = next(line for line in proc.stdout.splitlines() if "| cql |" in line)
    pooled = np.array([20.0, 22.0, 30.0, 28.0])  # the entry without bc_steps=0 is another run
    se_s, se_d = pooled.std(ddof=1) / 2, np.std([24.0, 26.0], ddof=1) / np.sqrt(2)
    assert f"{pooled.mean():.1f} ± {se_s:.1f} (4)" in row and "20.0 22.0 30.0 28.0" in row
    assert f"{(pooled.mean() - 25.0) / np.hypot(se_s, se_d):+.1f}" in row
    assert (tmp_path / "c.png").stat().st_size > 0


def test_side_by_side_takes_each_algorithms_own_fields(tmp_path):
    """An --algos entry 'bear|bear_warmup_steps=2000' reads the stitch entry its `scores --set`
    made and pairs it with the peer's plain 'bear' entries, beside an algorithm run without
    fields, in one table."""
    def entry(scores):
        return {"scores": scores, "behaviour": 10.0, "curve": [(10, float(np.mean(scores)))],
                "curve_seeds": [(10, scores)]}
    (tmp_path / "a.json").write_text(json.dumps({
        "bear|bench/x/medium-replay-v0|bear_warmup_steps=2000": entry([40.0, 44.0, 42.0]),
        "bear|bench/x/medium-replay-v0": entry([0.0, 1.0, 2.0]),  # another run: not this row's
        "crr|bench/x/medium-replay-v0": entry([30.0, 32.0, 34.0])}))
    peer = {f"{a}|bench/x/medium-replay-v0|{s}": {"score": v, "curve": [(10, v)]}
            for a, vals in (("bear", [20.0, 22.0]), ("crr", [31.0, 33.0])) for s, v in enumerate(vals)}
    (tmp_path / "p.json").write_text(json.dumps(peer))
    proc = subprocess.run([sys.executable, "scripts/benchmark.py", "side_by_side",
                           "--algos=bear|bear_warmup_steps=2000,crr", "--datasets=bench/x/medium-replay-v0",
                           f"--out={tmp_path}/a.json", f"--peer_out={tmp_path}/p.json"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bear = next(line for line in proc.stdout.splitlines() if "| bear (bear_warmup_steps=2000) |" in line)
    assert "42.0 ± 1.2 (3)" in bear and "21.0 ± 1.0 (2)" in bear
    crr = next(line for line in proc.stdout.splitlines() if "| crr |" in line)
    assert "32.0 ± 1.2 (3)" in crr and "32.0 ± 1.0 (2)" in crr


def test_scores_applies_a_named_preset_to_every_algorithm(minari_root, tmp_path):
    """`benchmark.py scores --preset=classic`: each run gets the preset's fields, its workdir and
    table key name the preset (a run without it is another entry)."""
    import gymnasium as gym
    from data.collect import random_policy, roll_episodes
    from data.tools import write_episodes
    from tests import discrete_env
    discrete_env.register()
    env = gym.make("StitchPickStart-v0")
    write_episodes("preset-test/pick/random-v0", roll_episodes(env, random_policy(env.action_space), 200, seed=0),
                   env.spec, env.action_space, env.observation_space, (0.0, 5.0), {"tool": "test"}, "test")
    proc = subprocess.run([sys.executable, "scripts/benchmark.py", "scores", "--algos=dqn,bc_discrete",
                           "--datasets=preset-test/pick/random-v0", "--preset=classic", "--num_updates=1000",
                           "--num_seeds=1", "--eval_episodes=1", f"--out={tmp_path}/s.json",
                           f"--workdir={tmp_path}/runs"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = json.loads((tmp_path / "s.json").read_text())
    assert sorted(table) == ["bc_discrete|preset-test/pick/random-v0|preset=classic",
                             "dqn|preset-test/pick/random-v0|preset=classic"]
    saved = json.loads((tmp_path / "runs/dqn_preset-test-pick-random-v0_float32_classic/config.json").read_text())
    assert saved["preset"] == "classic" and saved["hidden_dims"] == [256, 256]
    assert saved["target_update_interval"] == 1_000 and saved["num_updates"] == 1_000


def test_scores_keeps_each_condition_of_a_conditioned_policy(pendulum, tmp_path):
    """`benchmark.py scores` on Decision Transformer with two target returns: the table's
    `scores` are the first target's (the run's score) and `by_condition` has both, equal to the
    run's own results.json."""
    proc = subprocess.run([sys.executable, "scripts/benchmark.py", "scores", "--algos=dt",
                           "--datasets=stitch/pendulum/mixed-v0", "--num_updates=2", "--num_seeds=1",
                           "--eval_episodes=1", "--set=embed_dim=8", "--set=num_layers=1", "--set=context_len=2",
                           "--set=target_returns=(0.0,-500.0)", f"--out={tmp_path}/s.json",
                           f"--workdir={tmp_path}/runs"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (entry,) = json.loads((tmp_path / "s.json").read_text()).values()
    (workdir,) = (tmp_path / "runs").iterdir()
    final = json.loads((workdir / "results.json").read_text())["final_by_condition"]
    assert entry["by_condition"] == {c: v["normalized_score"] for c, v in final.items()}
    assert list(entry["by_condition"]) == ["target_return=0", "target_return=-500"]
    assert entry["scores"] == entry["by_condition"]["target_return=0"]


def test_rebrac_saturation_follows_an_actor_from_its_init(pendulum):
    """scripts/rebrac_saturation.py on the built-in data: a row per report step, and at update 0
    an actor of the EDAC-style init (output layer U(+-1e-3)) has no entry at the bounds."""
    proc = subprocess.run([sys.executable, "scripts/rebrac_saturation.py", "--dataset=stitch/pendulum/mixed-v0", "--inits=edac",
                           "--seeds=0", "--updates=4", "--every=2", "--hidden_bias=0"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    start = lines.index("edac init with hidden biases 0, seed 0, stitch/pendulum/mixed-v0:")
    header, rows = lines[start + 1].split(), [[float(v) for v in line.split()] for line in lines[start + 2:start + 5]]
    assert [r[0] for r in rows] == [0, 2, 4]
    at_init = dict(zip(header, rows[0]))
    assert at_init["tanh'=0"] == 0.0 and at_init["median|x|"] < 0.01 and at_init["bc_penalty"] > 0.0


def test_precision_runs_sequence_models_on_a_dataset_and_names_what_it_skips(pendulum):
    """`benchmark.py precision`: without --dataset an algorithm that needs episodes or discrete
    actions is listed as skipped with the reason and the fix (it used to crash the whole run);
    with --dataset the driver's loading and prepare step feed it, and it gets a measured row."""
    base = [sys.executable, "scripts/benchmark.py", "precision", "--dtypes=float32", "--steps=2", "--seconds=0"]
    proc = subprocess.run([*base, "--cases=dt,bc_discrete"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout[proc.stdout.index("{\n"):])
    assert out["rows"] == [] and sorted(out["skipped"]) == ["bc_discrete", "dt"]
    assert "episodes (its windows sampler)" in out["skipped"]["dt"] and "--dataset=" in out["skipped"]["dt"]
    assert out["skipped"]["bc_discrete"].startswith("needs discrete actions") and "cartpole" in out["skipped"]["bc_discrete"]
    proc = subprocess.run([*base, "--cases=dt:num_layers=1", "--dataset=stitch/pendulum/mixed-v0"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout[proc.stdout.index("{\n"):])
    assert out["skipped"] == {} and [r["case"] for r in out["rows"]] == ["dt:num_layers=1"]
    row = out["rows"][0]["float32"]
    assert row["update_gflop"] > 0 and row["updates_per_s"] > 0


def test_seeds_benchmark_measures_one_seed_and_the_vmapped_program_in_the_same_run():
    """`benchmark.py seeds`: per algorithm, one seed's and --num_seeds vmapped seeds' updates/s,
    and their per-seed ratio computed from those two figures."""
    proc = subprocess.run([sys.executable, "scripts/benchmark.py", "seeds", "--cases=bc", "--num_seeds=2", "--steps=2", "--seconds=0"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [(r["case"], r["num_seeds"]) for r in rows] == [("bc", 2)]
    r = rows[0]
    assert r["one_seed_updates_per_s"] > 0 and r["vmapped_updates_per_s"] > 0
    assert abs(r["per_seed_ratio"] - 2 * r["vmapped_updates_per_s"] / r["one_seed_updates_per_s"]) < 1e-9
    assert "seed-updates/s, vmapped / one" in proc.stdout


def test_act_cost_measures_a_planner_as_configured_and_with_set_and_refuses_what_needs_data():
    """`benchmark.py act_cost`: one row per env count with both settings timed in the same run
    (the --set planner smaller, so cheaper), and an algorithm that needs real data to act is
    refused before anything is measured, naming the mode that can measure it."""
    base = [sys.executable, "scripts/benchmark.py", "act_cost", "--eval_parallel=2", "--eval_episodes=4"]
    case = "diffuser:unet_dim=8;planning_horizon=8;guide_steps=0"  # quick to compile and run
    proc = subprocess.run([*base, f"--cases={case}", "--set=plan_samples=2", "--set=diffusion_sample_steps=2"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [(r["case"], r["envs"]) for r in rows] == [(case, 2)]
    row = rows[0]
    assert row["set"] == {"plan_samples": 2, "diffusion_sample_steps": 2}
    assert row["as_configured_over_with_set"] > 1.0  # 64 plans x 20 steps against 2 x 2
    assert row["as_configured_eval_hours"] == pytest.approx(row["as_configured_ms"] / 1e3 * 1000 * 2 / 3600)
    proc = subprocess.run([*base, "--cases=diffuser,dt"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode != 0 and "dt needs real data or memory" in proc.stderr
    assert "benchmark.py evaluation" in proc.stderr and not any(line.startswith("{") for line in proc.stdout.splitlines())


def test_every_script_can_be_imported_beside_every_other():
    """Tests import scripts' functions (report's plots, collect's policies) into one process; a
    script that defined its flags at import broke whichever test imported it second
    (DuplicateFlagError on --seed). Every script defines its flags only when run."""
    names = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "scripts"))
                   if f.endswith(".py") and f != "__init__.py")
    code = "import importlib\nfor n in %r:\n    importlib.import_module('scripts.' + n)\n" % names
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(names) > 10  # the listing found the scripts


def test_rescore_evaluates_every_run_of_a_workdir_acting_as_set_says(pendulum, tmp_path):
    """`benchmark.py rescore`: every run of a trained workdir evaluated again, one normalised score
    per run; --set changes how it acts (IDQL with its diffusion model alone) and only that, the
    same settings give the same returns, and rows are appended to a .jsonl."""
    workdir, out = tmp_path / "idql", tmp_path / "rescore.jsonl"
    proc = run_cli(f"--config={REPO}/configs/idql.py:pendulum", *TINY, "--config.eval_episodes=0",
                   f"--workdir={workdir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    base = [sys.executable, "scripts/benchmark.py", "rescore", f"--eval_workdir={workdir}", "--eval_episodes=2",
            f"--out={out}"]
    rows = []
    for extra in ([], [], ["--set=num_samples=1"]):
        proc = subprocess.run([*base, *extra], capture_output=True, text=True, cwd=REPO, timeout=300,
                              env=os.environ.copy())
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows
    for row in rows:
        assert row["checkpoint"] == 20 and row["episodes_per_run"] == 2
        assert len(row["return"]) == 2 and len(row["normalized_score"]) == 2  # the workdir's two seeds
        assert row["mean"] == pytest.approx(np.mean(row["normalized_score"]))
    assert rows[0]["set"] == {} and rows[2]["set"] == {"num_samples": 1}
    assert rows[0]["return"] == rows[1]["return"]  # the same env seeds and keys
    assert rows[2]["return"] != rows[0]["return"]  # one sample, not the critic's pick of 16
    proc = subprocess.run([*base[:3], "--eval_workdir=" + str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                          timeout=300, env=os.environ.copy())
    assert proc.returncode != 0 and "is not a stitch workdir" in proc.stderr
    proc = subprocess.run(base[:3], capture_output=True, text=True, cwd=REPO, timeout=300, env=os.environ.copy())
    assert proc.returncode != 0 and "rescore needs --eval_workdir" in proc.stderr
