"""Per-task tuning: ':auto' picks the algorithm's tuning from the dataset id, says so, records
it, keeps what the user set, and warns when an algorithm that tunes per task has none."""
import json

import numpy as np
import pytest

from configs import base, bc, rebrac, sac_n
from tests.conftest import REPO, make_dataset, random_episode
from tests.test_cli import TINY, run_cli


def test_auto_applies_the_task_tuning_of_any_copy_of_the_task():
    config = rebrac.get_config("auto")
    config.dataset = "bench/walker2d/medium-v0"  # a copy of D4RL's walker2d-medium
    resolved, note = base.resolve_tuning(config)
    assert (resolved.actor_bc_coef, resolved.critic_bc_coef) == (0.05, 0.1)
    assert resolved.tuning == "walker2d-medium" and note["tuning"] == "walker2d-medium"
    assert note["applied"] == {"actor_bc_coef": 0.05, "critic_bc_coef": 0.1} and not note["warning"]
    assert "applied 'walker2d-medium'" in base.describe_tuning(note)
    assert config.tuning == "auto" and config.actor_bc_coef == 0.01  # the caller's config is untouched
    walker = sac_n.get_config("auto")
    walker.dataset = "mujoco/walker2d/medium-replay-v0"
    assert base.resolve_tuning(walker)[0].num_critics == 20


def test_auto_keeps_what_the_user_set():
    config = rebrac.get_config("auto")
    config.dataset = "mujoco/walker2d/medium-v0"
    resolved, note = base.resolve_tuning(config, keep={"critic_bc_coef"})  # set on the command line
    assert (resolved.actor_bc_coef, resolved.critic_bc_coef) == (0.05, 0.01)
    assert note["kept"] == {"critic_bc_coef": 0.01} and "kept your critic_bc_coef=0.01" in \
        base.describe_tuning(note)
    config.actor_bc_coef = 0.2  # changed from the default in code: also the user's
    resolved, note = base.resolve_tuning(config)
    assert (resolved.actor_bc_coef, resolved.critic_bc_coef) == (0.2, 0.1)


def test_auto_warns_when_a_per_task_algorithm_has_no_tuning_for_the_task():
    config = rebrac.get_config("auto")
    config.dataset = "test/pendulum/mixed-v0"
    resolved, note = base.resolve_tuning(config)
    assert resolved.tuning == "none" and resolved.actor_bc_coef == config.actor_bc_coef
    assert "no tuning for 'pendulum-mixed'" in note["warning"] and "Fix:" in note["warning"]
    config = bc.get_config("auto")  # BC does not tune per task: a note, not a warning
    resolved, note = base.resolve_tuning(config)
    assert note["warning"] is None and "no per-task tuning" in base.describe_tuning(note)


def test_presets_combine_and_unknown_ones_are_refused():
    config = rebrac.get_config("auto,short")
    assert config.tuning == "auto" and config.num_updates == 30_000 and config.preset == "auto,short"
    from configs import iql
    short = iql.get_config("auto,short")  # AntMaze's tuning evaluates every 100k: short's 5k is kept
    short.dataset = "D4RL/antmaze/umaze-v1"
    resolved, note = base.resolve_tuning(short)
    assert (resolved.num_updates, resolved.eval_interval, resolved.expectile) == (30_000, 5_000, 0.9)
    assert note["kept"] == {"eval_interval": 5_000}
    with pytest.raises(ValueError, match="Unknown config preset 'walker2d-medum'.*'auto'"):
        rebrac.get_config("walker2d-medum")


def test_paper_budgets_are_the_defaults():
    from configs import cql, edac, iql, td3_bc
    assert [m.get_config().num_updates for m in (bc, iql, td3_bc, rebrac, cql)] == [1_000_000] * 5
    assert sac_n.get_config().num_updates == edac.get_config().num_updates == 3_000_000
    assert (iql.get_config().eval_interval, iql.get_config().eval_episodes) == (5_000, 10)
    assert iql.get_config("pendulum").num_updates == 20_000  # the built-in job sets its own size


def test_cli_auto_says_and_records_the_tuning(minari_root, tmp_path):
    rng = np.random.default_rng(0)
    make_dataset("test/walker2d/medium-v0", [random_episode(40, rng=rng) for _ in range(3)])
    args = [f"--config={REPO}/configs/rebrac.py:auto", "--config.dataset=test/walker2d/medium-v0",
            *TINY, "--config.eval_episodes=0"]
    proc = run_cli(*args, f"--workdir={tmp_path / 'a'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tuning: applied 'walker2d-medium' (from the dataset id): actor_bc_coef=0.05, " \
           "critic_bc_coef=0.1" in proc.stdout
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    assert results["tuning"]["tuning"] == "walker2d-medium"
    assert json.loads((tmp_path / "a" / "config.json").read_text())["critic_bc_coef"] == 0.1
    proc = run_cli(*args, "--config.critic_bc_coef=0.3", f"--workdir={tmp_path / 'b'}")
    assert proc.returncode == 0 and "kept your critic_bc_coef=0.3" in proc.stdout
    assert json.loads((tmp_path / "b" / "config.json").read_text())["critic_bc_coef"] == 0.3


# The sources' values, typed from the reference files (not from configs/): per algorithm, the
# fields every task of a group resolves to under ':auto', then each task's own.
L = ("halfcheetah", "hopper", "walker2d")
KINDS = ("random", "medium", "medium-replay", "medium-expert", "expert")
LOCO = [f"{e}-{k}" for e in L for k in KINDS]
ANT = ["antmaze-umaze", "antmaze-umaze-diverse", "antmaze-medium-play", "antmaze-medium-diverse",
       "antmaze-large-play", "antmaze-large-diverse"]
R1 = {"reward_transform": "scale_shift", "reward_scale": 1.0, "reward_shift": -1.0}
# tinkoff-ai/ReBRAC configs/rebrac/<env>/<env>_<dataset>.yaml: (actor_bc_coef, critic_bc_coef)
REBRAC_BETAS = dict(zip(LOCO + ANT, [
    (0.001, 0.1), (0.001, 0.01), (0.01, 0.001), (0.01, 0.1), (0.01, 0.01),      # halfcheetah
    (0.001, 0.01), (0.01, 0.01), (0.05, 0.5), (0.1, 0.01), (0.1, 0.1),          # hopper
    (0.01, 0.0), (0.05, 0.1), (0.05, 0.01), (0.01, 0.01), (0.01, 0.5),          # walker2d
    (0.003, 0.002), (0.003, 0.001), (0.001, 0.0005), (0.001, 0.0), (0.002, 0.001), (0.002, 0.002)]))
HC_DIFFUSER = ("halfcheetah-medium", "halfcheetah-medium-replay", "halfcheetah-medium-expert")
SOURCES = {  # (algo, variant preset): {task: expected fields}
    ("rebrac", ""): {t: {"actor_bc_coef": a, "critic_bc_coef": c, **({
        "actor_lr": 3e-4, "critic_lr": 5e-5, "batch_size": 256, "discount": 0.999, "reward_scale": 100.0,
        "reward_shift": 0.0, "eval_episodes": 100, "eval_interval": 50_000} if t in ANT else {
        "actor_lr": 1e-3, "critic_lr": 1e-3, "batch_size": 1024, "discount": 0.99, "eval_episodes": 10})}
        for t, (a, c) in REBRAC_BETAS.items()},
    # CORL configs/offline/sac_n, edac: medium, medium-replay, medium-expert and AntMaze only.
    ("sac_n", ""): {**{f"halfcheetah-{k}": {"num_critics": 10} for k in KINDS[1:4]},
                    "hopper-medium": {"num_critics": 500}, "hopper-medium-replay": {"num_critics": 200},
                    "hopper-medium-expert": {"num_critics": 200},
                    **{f"walker2d-{k}": {"num_critics": 20} for k in KINDS[1:4]},
                    **{t: {"num_critics": 25} for t in ANT}},
    ("edac", ""): {**{f"{e}-{k}": {"num_critics": 10, "eta": 1.0} for e in ("halfcheetah", "walker2d")
                      for k in KINDS[1:3]},
                   "halfcheetah-medium-expert": {"num_critics": 10, "eta": 5.0},
                   "walker2d-medium-expert": {"num_critics": 10, "eta": 5.0},
                   **{f"hopper-{k}": {"num_critics": 50, "eta": 1.0} for k in KINDS[1:4]},
                   **{t: {"num_critics": 10, "eta": 1.0} for t in ANT}},
    # ikostrikov/implicit_q_learning configs/{mujoco,antmaze}_config.py, train_offline.py, README
    ("iql", ""): {**{t: {"expectile": 0.7, "temperature": 3.0, "reward_transform": "iql_locomotion"} for t in LOCO},
                  **{t: {"expectile": 0.9, "temperature": 10.0, **R1, "eval_episodes": 100,
                         "eval_interval": 100_000} for t in ANT}},
    # CORL configs/offline/iql
    ("iql", "corl"): {**{t: {"expectile": 0.7, "temperature": 3.0, "reward_transform": "none", "tau": 0.005}
                         for t in LOCO},
                      "hopper-medium": {"reward_transform": "iql_locomotion", "tau": 0.001},
                      "hopper-medium-replay": {"reward_transform": "iql_locomotion", "tau": 0.001},
                      "hopper-medium-expert": {"temperature": 6.0, "expectile": 0.5},
                      **{t: {"expectile": 0.9, "temperature": 10.0, **R1, "eval_episodes": 100,
                             "eval_interval": 5_000} for t in ANT}},
    # aviralkumar2907/CQL README commands and examples/cql_{mujoco,antmaze}_new.py
    ("cql", ""): {**{t: {"cql_alpha": 5.0, "cql_lagrange": False, "actor_lr": 1e-4, "bc_steps": 40_000,
                         "observation_transform": "none", "reward_transform": "none"} for t in LOCO},
                  **{t: {"cql_alpha": 5.0, "cql_lagrange": True, "cql_target_action_gap": 1.0,
                         "reward_transform": "scale_shift", "reward_scale": 4.0, "reward_shift": -2.0,
                         "bc_steps": 40_000} for t in ANT}},
    # CORL configs/offline/cql
    ("cql", "corl"): {**{t: {"cql_alpha": 10.0, "actor_lr": 3e-5, "alpha_lr": 3e-5, "bc_steps": 0,
                             "observation_transform": "zscore", "reward_transform": "none",
                             "init": "orthogonal"} for t in LOCO},
                      "hopper-medium": {"reward_transform": "iql_locomotion"},
                      **{t: {"cql_alpha": 5.0, "cql_lagrange": True, "cql_target_action_gap": 0.8,
                             "cql_max_backup": True, "actor_lr": 1e-4, "alpha_lr": 1e-4,
                             "observation_transform": "none", "reward_scale": 10.0, "reward_shift": -5.0, "eval_episodes": 100,
                             "eval_interval": 50_000} for t in ANT}},
    # sfujim/TD3_BC run_experiments.sh (alpha 2.5 everywhere); CORL configs/offline/td3_bc/antmaze
    ("td3_bc", ""): {**{t: {"alpha": 2.5, "reward_transform": "none", "eval_episodes": 10} for t in LOCO},
                     **{t: {"alpha": 2.5, **R1, "eval_episodes": 100} for t in ANT}},
    # jannerm/diffuser config/locomotion.py: the base (every locomotion task) and its overrides
    ("diffuser", ""): {t: {"planning_horizon": 32, "unet_dim_mults": (1, 2, 4, 8), "guide_scale": 0.1,
                           "guide_t_stop": 2, "discount": 0.997, **({"planning_horizon": 4, "unet_dim_mults": (1, 4, 8),
                           "guide_scale": 1e-3, "guide_t_stop": 4} if t in HC_DIFFUSER else {}),
                           **({"guide_scale": 1e-4, "guide_t_stop": 4} if t == "hopper-medium-expert" else {})}
                       for t in LOCO},
    # CORL configs/offline/awac
    ("awac", ""): {**{t: {"awac_lambda": 1 / 3, "reward_transform": "none"} for t in LOCO},
                   **{t: {"awac_lambda": 0.1, **R1, "eval_episodes": 100} for t in ANT}},
}


@pytest.mark.parametrize("algo, variant", sorted(SOURCES))
def test_every_tuning_is_its_source(algo, variant):
    import importlib
    module = importlib.import_module(f"configs.{algo}")
    expected = SOURCES[algo, variant]
    for task in LOCO + ANT:
        env, kind = task.split("-", 1)
        config = module.get_config(",".join(filter(None, [variant, "auto"])))
        config.dataset = f"D4RL/{env}/{kind}-v1" if env == "antmaze" else f"mujoco/{env}/{kind}-v0"
        resolved, note = base.resolve_tuning(config)
        if task not in expected:  # no source gives a value: the run says so
            assert resolved.tuning == "none" and "no tuning for" in note["warning"], (algo, task)
            continue
        assert resolved.tuning == task and note["warning"] is None
        got = {k: resolved[k] for k in expected[task]}
        assert got == expected[task], (algo, task)
        assert base.validate(resolved) == [], (algo, task)


def test_budgets_that_defeat_themselves_warn():
    from configs import cql
    config = cql.get_config("short")  # the authors' 40k-update warm-up under a 30k budget
    assert any("whole run is the behaviour-cloning warm-up" in w for w in base.budget_warnings(config))
    config.bc_steps = 0
    assert base.budget_warnings(config) == []
    config.eval_interval = 50_000
    assert "evaluated only at its end" in base.budget_warnings(config)[0]
