"""scripts/probe_critic.py: it must see the data exactly as training did, and read a policy."""
import importlib.util
import os

import jax
import numpy as np

from algos import trainer
from algos import get_algo
from algos.common import Spec, contract
from algos.runs import init_runs
from data.collect import collect, pendulum_swingup
from data.dataset import load_dataset, transition_observations
from tests.conftest import REPO, tiny_config

_spec = importlib.util.spec_from_file_location(
    "probe_critic", os.path.join(REPO, "scripts", "probe_critic.py"))
probe_critic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe_critic)


def test_probe_transforms_the_data_as_training_did(pendulum, tmp_path):
    config = tiny_config("iql", num_updates=10, eval_interval=10, eval_episodes=0)
    trainer.train_and_evaluate(config, str(tmp_path))
    config, carry, meta = trainer.restore(str(tmp_path))
    data, _ = load_dataset(config)
    n = data["rewards"].shape[0]
    obs, actions = probe_critic.probe_arrays(config.dataset, meta["policy_io"], max_transitions=n)
    np.testing.assert_allclose(obs, transition_observations(data)[0], atol=1e-5)
    np.testing.assert_allclose(actions, data["actions"], atol=1e-6)
    state = jax.tree_util.tree_map(lambda x: x[0], carry[0])
    out = probe_critic.probe(config, state, obs[:500], actions[:500])
    assert set(out) == {"action_mse", "q_data", "q_policy", "advantage"}
    assert all(np.isfinite(v) for v in out.values())


def test_probe_sees_behaviour_cloning_fit_the_data(minari_root, tmp_path):
    # A deterministic controller's data: a fitted BC policy must score far closer to its actions.
    collect("Pendulum-v1", lambda obs, rng, ep: pendulum_swingup(obs), 2000,
            "test/pendulum/probe-swingup-v0", ref_min_score=-1200.0, ref_max_score=-150.0)
    config = tiny_config("bc", dataset="test/pendulum/probe-swingup-v0", num_updates=1000,
                         batch_size=256, log_interval=500, eval_interval=1000, eval_episodes=0,
                         hidden_dims=(64, 64))
    trainer.train_and_evaluate(config, str(tmp_path))
    config, carry, meta = trainer.restore(str(tmp_path))
    obs, actions = probe_critic.probe_arrays(config.dataset, meta["policy_io"], 5000)
    fresh = init_runs(config, contract(get_algo(config.algo)), Spec.from_json(meta["policy_io"]["spec"]), [{}])
    first = lambda c: jax.tree_util.tree_map(lambda x: x[0], c[0])
    trained = probe_critic.probe(config, first(carry), obs, actions)
    untrained = probe_critic.probe(config, first(fresh), obs, actions)
    assert set(trained) == {"action_mse"}  # BC has no critic
    assert trained["action_mse"] < 0.5 * untrained["action_mse"], (trained, untrained)
