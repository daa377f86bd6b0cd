"""The extended contract end to end: phases, per-phase samplers, prepare, memory, schedules."""
import csv
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algos import ALGOS, trainer
from algos.common import contract, make_optimizer
from algos.rollout import Evaluator
from tests import toy_algo


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(ALGOS, "toy", toy_algo)
    return toy_algo


def toy_config(**overrides):
    c = toy_algo.get_config()
    c.update(dict(num_seeds=2, num_updates=20, pretrain_updates=20, batch_size=32, log_interval=10,
                  eval_interval=10, eval_episodes=1, hidden_dims=(16, 16), progress_bar=False))
    c.update(overrides)
    return c


def test_defaults_fill_the_contract_for_todays_algorithms():
    iql = contract(ALGOS["iql"])
    assert iql.actions == "continuous" and iql.sampler.name == "transitions"
    assert [(p.name, p.steps, p.evaluate, p.sampler.name) for p in iql.phases] == [
        ("train", "num_updates", True, "transitions")]
    assert iql.prepare is None and iql.init_memory is None


def test_phases_run_in_order_with_their_own_samplers_steps_and_evaluation(pendulum, toy, tmp_path,
                                                                           monkeypatch):
    seen = []
    real_init = Evaluator.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        real_act = self._act
        self._act = lambda s, o, r, h, m: (seen.append(np.asarray(m["t"])), real_act(s, o, r, h, m))[1]

    monkeypatch.setattr(Evaluator, "__init__", recording_init)
    results = trainer.train_and_evaluate(toy_config(), str(tmp_path))
    assert results["phases"] == {"pretrain": 20, "train": 20} and results["num_updates"] == 40
    # Only the evaluating phase is evaluated, at its own steps.
    assert [(e["phase"], e["step"]) for e in results["eval"]] == [("train", 10), ("train", 20)]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [(r["phase"], r["step"]) for r in rows[::2]] == [
        ("pretrain", "10"), ("pretrain", "20"), ("train", "10"), ("train", "20")]
    assert rows[0]["pretrain_loss"] and not rows[0]["actor_loss"]   # each phase logs its own metrics
    assert rows[-1]["actor_loss"] and not rows[-1]["pretrain_loss"]
    assert float(rows[0]["mc_return"]) != 0.0  # the pretrain phase's batches came from mc_returns
    _, carry, meta = trainer.restore(str(tmp_path), aux=toy_algo.prepare(None, {"rewards": np.ones(3)}, None))
    state = carry[0]
    np.testing.assert_array_equal(state.pretrain_steps, [20, 20])
    np.testing.assert_array_equal(state.step, [20, 20])
    assert meta["phase"] == 1 and meta["phase_step"] == 20
    # prepare's host-side value reached init.
    from data.dataset import load_dataset
    data, _ = load_dataset(toy_config())
    np.testing.assert_allclose(state.mean_reward, float(np.mean(np.asarray(data["rewards"]))), rtol=1e-6)
    # The pretrain phase's learning rate decayed to 0 over that phase (its schedule spans it).
    lr_state = state.pretrain_policy.opt_state[1]
    np.testing.assert_array_equal(lr_state.count, [20, 20])
    # Evaluation carried the policy's memory: its step counter grows by one per env step.
    first_eval = seen[: len(seen) // 2]
    assert [int(m[0, 0]) for m in first_eval[:4]] == [0, 1, 2, 3]


def test_a_zero_step_phase_is_skipped(pendulum, toy, tmp_path):
    results = trainer.train_and_evaluate(toy_config(pretrain_updates=0), str(tmp_path))
    assert results["phases"] == {"pretrain": 0, "train": 20}
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert {r["phase"] for r in rows} == {"train"}


def test_a_kill_in_phase_two_resumes_bit_identically(pendulum, toy, tmp_path, monkeypatch):
    config = toy_config(num_updates=30)
    trainer.train_and_evaluate(config, str(tmp_path / "straight"))

    original_write = trainer.wd.MetricsLog.write

    def killed_in_train_at_20(self, phase, step, metrics):
        original_write(self, phase, step, metrics)
        if phase == "train" and step == 20:  # after the checkpoint at train step 10
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer.wd.MetricsLog, "write", killed_in_train_at_20)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config, str(tmp_path / "resumed"))
    monkeypatch.setattr(trainer.wd.MetricsLog, "write", original_write)
    trainer.train_and_evaluate(config, str(tmp_path / "resumed"))

    aux = toy_algo.prepare(None, {"rewards": np.ones(3)}, None)
    leaves = lambda p: jax.tree_util.tree_leaves(trainer.restore(str(p), aux=aux)[1])
    for a, b in zip(leaves(tmp_path / "straight"), leaves(tmp_path / "resumed")):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    read = lambda p: list(csv.reader(open(p / "metrics.csv")))
    assert read(tmp_path / "straight") == read(tmp_path / "resumed")
    straight = json.loads((tmp_path / "straight" / "results.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())
    assert straight["eval"] == resumed["eval"]


def test_restoring_an_algorithm_with_prepare_asks_for_its_aux(pendulum, toy, tmp_path):
    from algos.common import StitchError
    trainer.train_and_evaluate(toy_config(num_updates=10, pretrain_updates=0), str(tmp_path))
    with pytest.raises(StitchError, match="needs the output of its prepare step"):
        trainer.restore(str(tmp_path))


def test_learning_rate_in_state_matches_optax_bit_for_bit():
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)}
    for ours, reference in [(make_optimizer(3e-4), optax.adam(3e-4)),
                            (make_optimizer(3e-4, decay_steps=7),
                             optax.adam(optax.cosine_decay_schedule(3e-4, 7)))]:
        a, b = ours.init(params), reference.init(params)
        pa = pb = params
        for i in range(10):  # past the end of the decay, too
            g = {"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)}
            ua, a = jax.jit(ours.update)(g, a, pa)
            ub, b = jax.jit(reference.update)(g, b, pb)
            pa, pb = optax.apply_updates(pa, ua), optax.apply_updates(pb, ub)
        np.testing.assert_array_equal(pa["w"], pb["w"])


def test_cosine_schedule_by_hand():
    # With a constant gradient Adam's direction is 1 (to float32 round-off), so each update is -lr(t):
    # lr(t) = 0.5 (1 + cos(pi t / 4)) for t = 0..4, then 0.
    tx = make_optimizer(1.0, decay_steps=4)
    params = {"w": jnp.zeros(())}
    state = tx.init(params)
    steps = []
    for _ in range(6):
        updates, state = tx.update({"w": jnp.ones(())}, state, params)
        steps.append(float(updates["w"]))
    np.testing.assert_allclose(steps, [-1.0, -0.8535534, -0.5, -0.1464466, 0.0, 0.0], atol=2e-5)  # Adam: 1 - O(1e-5)


def test_contract_mistakes_are_refused_before_the_workdir(pendulum, toy, tmp_path, monkeypatch):
    from algos.common import Phase, StitchError
    from data import samplers
    config = toy_config()
    del config.pretrain_updates
    with pytest.raises(StitchError, match=r"count their updates in config field\(s\) \['pretrain_updates'\]"):
        trainer.train_and_evaluate(config, str(tmp_path / "w"))
    monkeypatch.setattr(toy_algo, "PHASES", (Phase("train", toy_algo.update, sampler=samplers.nstep),))
    with pytest.raises(StitchError, match=r"'nstep' sampler, which reads config field\(s\) \['n_step'\]"):
        trainer.train_and_evaluate(toy_config(), str(tmp_path / "w"))
    monkeypatch.setattr(toy_algo, "PHASES", (Phase("finetune", toy_algo.update, online=True),))
    with pytest.raises(StitchError, match=r"online phase\(s\) \['finetune'\].*not run online phases yet"):
        trainer.train_and_evaluate(toy_config(), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_collecting_from_a_policy_with_memory_is_refused(pendulum, toy, tmp_path):
    from algos.common import StitchError
    from algos.workdir import load_policy
    trainer.train_and_evaluate(toy_config(num_updates=10, pretrain_updates=0), str(tmp_path))
    with pytest.raises(StitchError, match="needs a policy with memory"):
        load_policy(str(tmp_path))


def test_runs_that_do_not_split_over_the_processes_are_refused(monkeypatch):
    from algos import runs
    from algos.common import StitchError
    monkeypatch.setattr(runs.jax, "process_count", lambda: 3)
    with pytest.raises(StitchError, match="4 run\\(s\\) cannot be split evenly over 3 processes"):
        runs.process_share(4)
    monkeypatch.setattr(runs.jax, "process_count", lambda: 2)
    monkeypatch.setattr(runs.jax, "process_index", lambda: 1)
    assert runs.process_share(4) == [2, 3]
