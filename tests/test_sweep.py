"""The run axis: seeds x a hyperparameter grid in one compiled program."""
import csv
import json

import jax
import numpy as np
import pytest

from algos import ALGOS, trainer
from algos.common import Spec, StitchError, contract
from algos.runs import hparam_arrays, init_runs, parse_sweep, run_table
from tests.conftest import tiny_config
from tests.test_structure import _fake_dataset

SPEC = Spec((3,), "float32", 2, False)


def test_grid_is_the_product_in_order():
    config = tiny_config("iql", num_seeds=2, sweep="expectile=0.6,0.9 temperature=3,10 actor_lr=1e-3")
    points = parse_sweep(config)
    assert points == [{"expectile": 0.6, "temperature": 3.0, "actor_lr": 1e-3},
                      {"expectile": 0.6, "temperature": 10.0, "actor_lr": 1e-3},
                      {"expectile": 0.9, "temperature": 3.0, "actor_lr": 1e-3},
                      {"expectile": 0.9, "temperature": 10.0, "actor_lr": 1e-3}]
    runs = run_table(config, points)
    assert [s for s, _ in runs] == [0, 1] * 4 and runs[3][1]["temperature"] == 10.0
    arrays = hparam_arrays(config, points)
    np.testing.assert_allclose(arrays["expectile"], [0.6] * 4 + [0.9] * 4, rtol=1e-6)
    assert arrays["expectile"].dtype == np.float32
    assert parse_sweep(tiny_config("iql")) == [{}]


@pytest.mark.parametrize("sweep, needle", [
    ("expectile=0.6,abc", "'abc' is not a number"),
    ("expectile", "is not field=v1,v2"),
    ("expectil=0.6", "'expectil', which is not a field"),
    ("batch_size=32,64", "'batch_size' cannot be swept"),
    ("num_updates=10,20", "'num_updates' cannot be swept"),  # a phase's length
    ("reward_transform=1,2", "only numeric fields can be swept"),
    ("actor_cosine_decay=0,1", "only numeric fields can be swept"),  # a bool
    ("policy_delay=1.5,2", "integer field"),
    ("expectile=0.6 expectile=0.7", "names 'expectile' twice"),
])
def test_bad_sweeps_are_refused_with_the_field_named(sweep, needle):
    algo = "td3_bc" if "policy_delay" in sweep else "iql"
    config = tiny_config(algo, sweep=sweep)
    with pytest.raises(StitchError, match=needle):
        parse_sweep(config, trainer.fixed_fields(contract(ALGOS[algo])))


@pytest.mark.parametrize("algo, field", [("sac_n", "num_critics"),     # a shape in init
                                         ("cql", "cql_n_actions")])     # a shape in update only
def test_a_field_that_sets_a_shape_is_refused_before_the_workdir(pendulum, tmp_path, algo, field):
    config = tiny_config(algo, sweep=f"{field}=2,3")
    with pytest.raises(StitchError, match=f"varies {field}.*run one program per value"):
        trainer.train_and_evaluate(config, str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("name, sweep", [
    ("iql", "expectile=0.6,0.8 actor_lr=1e-3,3e-4"),  # a learning rate too: it is optimizer state
    ("td3_bc", "alpha=1,4"),
])
def test_each_grid_point_equals_the_same_config_alone(name, sweep):
    config = tiny_config(name, num_seeds=2, sweep=sweep)
    algo, data = contract(ALGOS[name]), _fake_dataset()
    points = parse_sweep(config)
    run = lambda cfg, carry, hparams: jax.jit(jax.vmap(
        trainer.make_train_chunk(cfg, algo.phases[0], 5), in_axes=(0, 0, None)))(carry, hparams, data)[0]
    together = run(config, init_runs(config, algo, SPEC, points), hparam_arrays(config, points))
    leaves = lambda carry, r: [np.asarray(x[r]) for x in jax.tree_util.tree_leaves(carry[0])]
    for g, grid in enumerate(points):  # the config with this point's values, its 2 seeds, no sweep
        alone_config = tiny_config(name, num_seeds=2, **grid)
        alone = run(alone_config, init_runs(alone_config, algo, SPEC, [{}]), {})
        for seed in range(2):
            for a, b in zip(leaves(alone, seed), leaves(together, g * 2 + seed)):
                np.testing.assert_allclose(b, a, rtol=2e-5, atol=1e-6)
    # ...and the grid points really differ (run 2 is seed 0 of the second point).
    assert any(not np.allclose(x[0], x[2]) for x in jax.tree_util.tree_leaves(together[0]))


def test_a_sweep_end_to_end_with_resume(pendulum, tmp_path, monkeypatch):
    config = tiny_config("iql", num_updates=30, eval_interval=10, sweep="expectile=0.6,0.9")
    straight = trainer.train_and_evaluate(config, str(tmp_path / "straight"))
    assert straight["num_runs"] == 4 and straight["sweep"] == ["expectile"]
    assert [r["expectile"] for r in straight["runs"]] == [0.6, 0.6, 0.9, 0.9]
    assert [r["seed"] for r in straight["runs"]] == [0, 1, 0, 1]
    assert len(straight["final_return"]) == 4
    rows = list(csv.DictReader(open(tmp_path / "straight" / "metrics.csv")))
    assert [(r["run"], r["seed"], r["expectile"]) for r in rows[:4]] == [
        ("0", "0", "0.6"), ("1", "1", "0.6"), ("2", "0", "0.9"), ("3", "1", "0.9")]
    text = trainer.summary(straight)
    assert "expectile=0.6:" in text and "expectile=0.9:" in text

    original_write = trainer.wd.MetricsLog.write

    def killed_at_20(self, phase, step, metrics):
        original_write(self, phase, step, metrics)
        if step == 20:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer.wd.MetricsLog, "write", killed_at_20)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config, str(tmp_path / "resumed"))
    monkeypatch.setattr(trainer.wd.MetricsLog, "write", original_write)
    resumed = trainer.train_and_evaluate(config, str(tmp_path / "resumed"))
    assert resumed["eval"] == straight["eval"]
    for a, b in zip(jax.tree_util.tree_leaves(trainer.restore(str(tmp_path / "straight"))[1]),
                    jax.tree_util.tree_leaves(trainer.restore(str(tmp_path / "resumed"))[1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_summary_puts_the_best_grid_point_first():
    results = {"algo": "iql", "dataset": "d", "env_id": "e", "num_runs": 4, "num_updates": 1,
               "updates_per_second": 1.0, "final_return": [1.0, 2.0, 5.0, 6.0],
               "final_normalized_score": [10.0, 20.0, 50.0, 60.0], "sweep": ["expectile"],
               "runs": [{"run": r, "seed": r % 2, "expectile": 0.6 if r < 2 else 0.9} for r in range(4)],
               "behaviour_return": 0.0, "behaviour_normalized_score": 0.0}
    text = trainer.summary(results)
    assert text.index("expectile=0.9:") < text.index("expectile=0.6:")
    assert "55.0 ± 5.0" in text
