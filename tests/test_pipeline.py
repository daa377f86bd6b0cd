"""The driver end to end, in process: outputs, resume, NaN stops, normalisation, collection."""
import csv
import json
import os

import jax
import numpy as np
import pytest

from algos import trainer
from algos.common import StitchError
from data.collect import collect
from data.dataset import transition_observations
from tests.conftest import make_dataset, random_episode, tiny_config

REQUIRED_RESULTS = {"algo", "dataset", "env_id", "num_updates", "num_seeds", "final_return",
                    "final_normalized_score", "eval", "updates_per_second", "wall_time_s"}


def _final_params(workdir):
    _, carry, _ = trainer.restore(workdir)
    return jax.tree_util.tree_leaves(carry)


def test_outputs_and_results_schema(pendulum, tmp_path):
    config = tiny_config("td3_bc", num_updates=20)
    results = trainer.train_and_evaluate(config, str(tmp_path))
    for name in ("config.json", "metrics.csv", "results.json", "checkpoints"):
        assert os.path.exists(tmp_path / name), name
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert REQUIRED_RESULTS <= set(on_disk)
    assert on_disk["env_id"] == "Pendulum-v1" and on_disk["num_seeds"] == 2
    assert len(on_disk["final_return"]) == 2 and len(on_disk["final_normalized_score"]) == 2
    assert [e["step"] for e in on_disk["eval"]] == [10, 20]
    np.testing.assert_allclose(results["final_return"], on_disk["final_return"])
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [10, 10, 20, 20]
    assert all(np.isfinite(float(r["critic_loss"])) for r in rows)


def test_kill_and_resume_is_bit_identical(pendulum, tmp_path, monkeypatch):
    config = tiny_config("iql", num_updates=40, eval_interval=20)
    trainer.train_and_evaluate(config, str(tmp_path / "straight"))

    original_write = trainer.wd.MetricsLog.write

    def killed_at_30(self, phase, step, metrics):
        original_write(self, phase, step, metrics)
        if step == 30:  # after the checkpoint at 20, before the one at 40
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer.wd.MetricsLog, "write", killed_at_30)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config, str(tmp_path / "resumed"))
    assert not os.path.exists(tmp_path / "resumed" / "results.json")
    monkeypatch.setattr(trainer.wd.MetricsLog, "write", original_write)
    trainer.train_and_evaluate(config, str(tmp_path / "resumed"))

    for a, b in zip(_final_params(str(tmp_path / "straight")), _final_params(str(tmp_path / "resumed"))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    straight = json.loads((tmp_path / "straight" / "results.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())
    assert straight["eval"] == resumed["eval"]
    rows = lambda p: [(r["step"], r["seed"], r["critic_loss"]) for r in csv.DictReader(open(p))]
    assert rows(tmp_path / "straight" / "metrics.csv") == rows(tmp_path / "resumed" / "metrics.csv")


def test_resume_with_a_different_config_is_refused(pendulum, tmp_path):
    trainer.train_and_evaluate(tiny_config("bc", num_updates=10), str(tmp_path))
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(StitchError, match="different config.*batch_size.*new --workdir"):
        trainer.train_and_evaluate(tiny_config("bc", num_updates=10, batch_size=64), str(tmp_path))
    assert (tmp_path / "results.json").read_text() == before  # nothing overwritten


@pytest.mark.parametrize("where", ["metric", "params"])
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(pendulum, tmp_path, monkeypatch, where):
    import jax.numpy as jnp
    from algos import bc
    real_update = bc.update

    def update_that_breaks_at_step_15(config, state, batch, rng):
        state, metrics = real_update(config, state, batch, rng)
        # The metric breaks mid-chunk (update 15); parameters break on the chunk's last update.
        broken = state.step >= (15 if where == "metric" else 20)
        if where == "metric":
            metrics = {**metrics, "actor_loss": jnp.where(broken, jnp.nan, metrics["actor_loss"])}
        else:
            state = state.replace(actor=state.actor.replace(params=jax.tree_util.tree_map(
                lambda p: jnp.where(broken, jnp.inf, p), state.actor.params)))
        return state, metrics

    monkeypatch.setattr(bc, "update", update_that_breaks_at_step_15)
    config = tiny_config("bc", num_updates=40, log_interval=10, eval_interval=10)
    expected = r"Non-finite actor_loss=nan at update 15 " if where == "metric" else \
        r"Non-finite parameters after update 20"
    with pytest.raises(StitchError, match=expected + r".*last good checkpoint \(update 10\)"):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert not os.path.exists(tmp_path / "results.json")
    monkeypatch.setattr(bc, "update", real_update)
    _, carry, _ = trainer.restore(str(tmp_path))
    assert int(carry[0].step[0]) == 10
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(carry[0].actor.params))


def test_eval_normalises_observations_like_training(pendulum, monkeypatch):
    from algos import ALGOS
    from algos.common import contract
    from algos.rollout import Evaluator
    from algos.runs import init_runs
    from data.dataset import load_dataset

    config = tiny_config("bc", num_seeds=1, eval_episodes=1)
    dataset, info = load_dataset(config)
    seen = []
    evaluator = Evaluator(contract(ALGOS["bc"]), config, info, 1, 1)
    real_act = evaluator._act
    evaluator._act = lambda s, o, *rest: (seen.append(np.asarray(o)), real_act(s, o, *rest))[1]
    carry = init_runs(config, contract(ALGOS["bc"]), info.spec, [{}])
    evaluator(carry[0], seed=0)
    first = evaluator.envs.reset(seed=0)[0]
    np.testing.assert_allclose(seen[0][0, 0], (first[0] - info.obs_mean) / info.obs_std, rtol=1e-5)
    # Training rows were normalised with the same statistics.
    raw = np.concatenate([ep.observations[:-1] for ep in pendulum.iterate_episodes()])
    np.testing.assert_allclose(transition_observations(dataset)[0],
                               (raw - info.obs_mean) / info.obs_std, rtol=1e-4, atol=1e-4)


def test_no_env_spec_trains_without_evaluation(tmp_path):
    import gymnasium as gym
    eps = [random_episode(20, rng=np.random.default_rng(i)) for i in range(4)]
    make_dataset("test/noenv/none-v0", eps, env=None,
                 action_space=gym.spaces.Box(-2, 2, (1,), np.float32),
                 observation_space=gym.spaces.Box(-np.inf, np.inf, (3,), np.float32))
    config = tiny_config("bc", dataset="test/noenv/none-v0", num_updates=10)
    with pytest.warns(UserWarning, match="no environment spec: training without evaluation"):
        results = trainer.train_and_evaluate(config, str(tmp_path))
    assert results["final_return"] is None and results["eval"] == []
    assert os.path.exists(tmp_path / "checkpoints")


def test_collect_from_a_trained_checkpoint(pendulum, tmp_path):
    trainer.train_and_evaluate(tiny_config("bc", num_updates=10), str(tmp_path / "run"))
    import gymnasium as gym
    env = gym.make("Pendulum-v1")
    from scripts.collect import policy_from_name
    policy = policy_from_name(f"checkpoint:{tmp_path / 'run'}", env, action_noise=0.1)
    ds = collect(env, policy, 400, "test/pendulum/from-ckpt-v0", seed=3, ref_min_score=-1200.0,
                 ref_max_score=-150.0)
    assert ds.total_steps == 400 and ds.total_episodes == 2
    assert ds.storage.metadata["ref_min_score"] == -1200.0
    actions = np.concatenate([ep.actions for ep in ds.iterate_episodes()])
    assert np.all(np.abs(actions) <= 2.0) and actions.std() > 0
    with pytest.raises(StitchError, match="already exists"):
        collect(env, policy, 10, "test/pendulum/from-ckpt-v0")


def test_seeds_sharded_over_devices_match_one_device(pendulum, tmp_path):
    """With 2 (forced) CPU devices the seed axis is split over a Mesh; results are unchanged."""
    import subprocess
    import sys
    from tests.conftest import REPO
    script = (
        "import json, sys; from algos import trainer; from tests.conftest import tiny_config;"
        "import jax; assert len(jax.devices()) == int(sys.argv[2]);"
        "r = trainer.train_and_evaluate(tiny_config('td3_bc', num_updates=20), sys.argv[1]);"
        "print(json.dumps(r['final_return']))")
    out = {}
    for devices in (1, 2):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / str(devices)), str(devices)],
                              capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[devices] = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out[1], out[2], rtol=1e-4)


def test_terminals_come_from_terminations_only_and_rewards_are_transformed():
    from data.dataset import load_dataset
    rng = np.random.default_rng(0)
    eps = [random_episode(5, rng=rng, terminated=True), random_episode(4, rng=rng, terminated=False)]
    make_dataset("test/ends/mixed-v0", eps)
    config = tiny_config("iql", dataset="test/ends/mixed-v0")  # iql_locomotion reward scaling
    data, info = load_dataset(config)
    np.testing.assert_array_equal(np.asarray(data["terminals"]), [0, 0, 0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(np.asarray(data["episode_ends"]), [0, 0, 0, 0, 1, 0, 0, 0, 1])
    returns = np.array([eps[0]["rewards"].sum(), eps[1]["rewards"].sum()])
    scale = 1000.0 / (returns.max() - returns.min())
    raw = np.concatenate([eps[0]["rewards"], eps[1]["rewards"]])
    np.testing.assert_allclose(np.asarray(data["rewards"]), raw * scale, rtol=1e-5)
    # Actions are rescaled from Pendulum's [-2, 2] to [-1, 1]; next_observations line up.
    np.testing.assert_allclose(np.asarray(data["actions"])[:5, 0], eps[0]["actions"][:, 0] / 2, rtol=1e-5)
    obs, next_obs = (x * info.obs_std + info.obs_mean for x in transition_observations(data))
    np.testing.assert_allclose(obs[:5], eps[0]["observations"][:-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(next_obs[:5], eps[0]["observations"][1:], rtol=1e-4, atol=1e-5)
    # next_actions: the next step's action within an episode; at an episode's end its own action.
    acts, next_acts = np.asarray(data["actions"]), np.asarray(data["next_actions"])
    np.testing.assert_array_equal(next_acts[[0, 1, 2, 3, 5, 6, 7]], acts[[1, 2, 3, 4, 6, 7, 8]])
    np.testing.assert_array_equal(next_acts[[4, 8]], acts[[4, 8]])


def test_unbuildable_eval_env_trains_without_evaluation(pendulum, tmp_path, monkeypatch):
    import gymnasium as gym

    def missing(*args, **kwargs):
        raise gym.error.DependencyNotInstalled("mujoco is not installed")

    monkeypatch.setattr(gym, "make", missing)
    with pytest.warns(UserWarning, match="Could not build the evaluation env 'Pendulum-v1' "
                                         r"\(DependencyNotInstalled: mujoco is not installed\)"):
        results = trainer.train_and_evaluate(tiny_config("bc", num_updates=10), str(tmp_path))
    assert results["final_return"] is None


def test_evaluation_steps_only_running_episodes_and_returns_what_the_vector_env_did(tmp_path):
    """InvertedPendulum episodes end at different steps: the finished ones are not stepped
    again, and every return equals the old way (step all envs, mask the finished)."""
    import gymnasium as gym
    from algos import ALGOS
    from algos.common import contract
    from algos.rollout import Evaluator
    from algos.runs import init_runs
    from data.dataset import denormalize_actions, load_dataset, observations_for_policy

    rng = np.random.default_rng(0)
    eps = [random_episode(30, obs_dim=4, act_dim=1, rng=rng, low=-3.0, high=3.0) for _ in range(4)]
    make_dataset("test/invpend/random-v0", eps, env="InvertedPendulum-v5")
    config = tiny_config("bc", dataset="test/invpend/random-v0", num_seeds=1)
    algo = contract(ALGOS["bc"])
    _, info = load_dataset(config, algo.actions, algo.samplers)
    state = init_runs(config, algo, info.spec, [{}])[0]
    evaluator = Evaluator(algo, config, info, 1, 6)
    steps = [0] * 6
    for i, env in enumerate(evaluator.envs.envs):
        real_step = env.step
        env.step = lambda a, i=i, real_step=real_step: (steps.__setitem__(i, steps[i] + 1), real_step(a))[1]
    returns = evaluator(state, seed=3)

    # The old way: the vector env steps every env until all are done, finished ones masked.
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(info.env_spec) for _ in range(6)])
    obs, _ = envs.reset(seed=3)
    done, total, lengths = np.zeros(6, bool), np.zeros(6), np.zeros(6, int)
    rngs = jax.random.split(jax.random.PRNGKey(3), 1)
    while not done.all():
        actions, _ = evaluator._act(state, observations_for_policy(obs, info).reshape(1, 6, 4), rngs, {}, None)
        obs, reward, terminated, truncated, _ = envs.step(
            denormalize_actions(np.asarray(actions).reshape(6, 1), info.action_low, info.action_high))
        total += np.where(done, 0.0, reward)
        lengths += ~done
        done |= terminated | truncated
    np.testing.assert_allclose(returns, total.mean(keepdims=True), rtol=1e-12)
    assert steps == list(lengths) and len(set(steps)) > 1, steps  # each env stepped its own length
    evaluator.close()
