"""Bad input: each validation error is fed and its message read."""
import os
import re

import gymnasium as gym
import numpy as np
import pytest

from algos import ALGOS, trainer
from algos.common import StitchError
from configs.base import validate
from tests.conftest import make_dataset, random_episode, tiny_config


def _run(tmp_path, **overrides):
    return trainer.train_and_evaluate(tiny_config("iql", **overrides), str(tmp_path / "w"))


@pytest.mark.parametrize("field, value, needle", [
    ("batch_size", 0, "config.batch_size=0 is invalid: it must be an integer >= 1"),
    ("expectile", 1.0, "config.expectile=1.0 is invalid: it must be in (0, 1)"),
    ("expectile", 0.0, "config.expectile=0.0 is invalid"),
    ("num_seeds", 0, "config.num_seeds=0 is invalid"),
    ("discount", 1.5, "config.discount=1.5 is invalid: it must be in [0, 1]"),
    ("reward_transform", "log", "config.reward_transform='log' is invalid: it must be one of"),
    ("eval_interval", 15, "must be a multiple of config.log_interval=10"),
    ("seed", -1, "config.seed=-1 is invalid: it must be an integer >= 0"),
    ("compute_dtype", "float16", "config.compute_dtype='float16' is invalid: it must be one of"),
    ("checkpoint_interval_s", 0.0, "config.checkpoint_interval_s=0.0 is invalid: it must be a positive"),
    ("actor_lr", float("inf"), "config.actor_lr=inf is invalid: it must be a positive float"),
    ("reward_shift", float("nan"), "config.reward_shift=nan is invalid: it must be a finite float"),
    ("reward_scale", 10.0, "only apply with reward_transform=scale_shift, but config.reward_transform="
                           "'iql_locomotion'. Fix: add --config.reward_transform=scale_shift"),
])
def test_invalid_config_values(tmp_path, field, value, needle):
    with pytest.raises(StitchError) as err:
        _run(tmp_path, **{field: value})
    assert needle in str(err.value)
    assert "--config." in str(err.value) or "multiple" in str(err.value)
    assert not os.path.exists(tmp_path / "w")  # nothing written before validation


def test_valid_configs_have_no_problems():
    for algo in ALGOS:
        assert validate(tiny_config(algo)) == []


def test_unknown_algorithm(tmp_path):
    with pytest.raises(StitchError, match="Unknown algorithm 'nope'. Fix: use one of "
                                          + re.escape(", ".join(sorted(ALGOS)))):
        config = tiny_config("iql")
        config.algo = "nope"
        trainer.train_and_evaluate(config, str(tmp_path / "w"))


def test_unknown_dataset_names_where_it_looked(tmp_path, monkeypatch, minari_root):
    import minari

    def offline(dataset_id, force_download=False):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(minari, "download_dataset", offline)
    with pytest.raises(StitchError) as err:
        _run(tmp_path, dataset="nobody/nothing/none-v0")
    msg = str(err.value)
    assert "Dataset 'nobody/nothing/none-v0' was not found locally" in msg
    assert os.path.join(minari_root, "nobody/nothing/none-v0") in msg
    assert "ConnectionError: network unreachable" in msg and "MINARI_DATASETS_PATH" in msg
    assert not os.path.exists(tmp_path / "w")


def test_remote_ids_download_through_minari(tmp_path, monkeypatch, pendulum):
    """Up to the network boundary: an id missing locally goes to minari.download_dataset."""
    import minari
    calls = []

    def fake_download(dataset_id, force_download=False):  # stands in for the network
        calls.append(dataset_id)
        make_dataset(dataset_id, [random_episode(30, rng=np.random.default_rng(i)) for i in range(3)])

    monkeypatch.setattr(minari, "download_dataset", fake_download)
    results = _run(tmp_path, dataset="remote/pendulum/thing-v0", num_updates=10)
    assert calls == ["remote/pendulum/thing-v0"]
    assert results["num_transitions"] == 90


@pytest.mark.parametrize("field", ["observations", "actions", "rewards"])
def test_nan_or_inf_in_data(tmp_path, field):
    eps = [random_episode(10, rng=np.random.default_rng(i)) for i in range(3)]
    np.put(eps[1][field], 3, np.inf if field == "rewards" else np.nan)  # one bad number
    make_dataset(f"test/bad/nan-{field}-v0", eps)
    with pytest.raises(StitchError, match=f"episode 1 has 1 NaN/inf value\\(s\\) in '{field}'. Fix:"):
        _run(tmp_path, dataset=f"test/bad/nan-{field}-v0")


@pytest.mark.parametrize("length", [1])
def test_one_step_episode(tmp_path, length):
    eps = [random_episode(10), random_episode(length)]
    make_dataset("test/bad/short-v0", eps)
    with pytest.raises(StitchError, match="episode 1 has 1 step\\(s\\); episodes need at least 2"):
        _run(tmp_path, dataset="test/bad/short-v0")


def test_empty_dataset(tmp_path):
    make_dataset("test/bad/empty-v0", [])
    with pytest.raises(StitchError, match="has no episodes"):
        _run(tmp_path, dataset="test/bad/empty-v0")


def test_actions_outside_the_action_space(tmp_path):
    eps = [random_episode(10, rng=np.random.default_rng(i)) for i in range(3)]
    eps[2]["actions"][4] = 3.5  # Pendulum's bounds are [-2, 2]
    make_dataset("test/bad/actions-v0", eps)
    with pytest.raises(StitchError, match=r"1 of 30 actions lie outside the action space \[-2.0, 2.0\]"):
        _run(tmp_path, dataset="test/bad/actions-v0")


def test_discrete_dataset_given_to_a_continuous_algorithm(tmp_path):
    rng = np.random.default_rng(0)
    eps = []
    for _ in range(3):
        ep = random_episode(10, obs_dim=4, rng=rng)
        ep["actions"] = rng.integers(0, 2, size=10)
        eps.append(ep)
    make_dataset("test/bad/discrete-v0", eps, env="CartPole-v1")
    with pytest.raises(StitchError, match="has discrete actions .* but algorithm 'iql' needs continuous"):
        _run(tmp_path, dataset="test/bad/discrete-v0")


def test_missing_reference_scores_give_null_scores(tmp_path):
    eps = [random_episode(20, rng=np.random.default_rng(i)) for i in range(3)]
    make_dataset("test/norefs/pendulum-v0", eps, ref_scores=False)
    with pytest.warns(UserWarning, match="no ref_min_score/ref_max_score: the normalised score is reported as null"):
        results = _run(tmp_path, dataset="test/norefs/pendulum-v0", num_updates=10)
    assert results["final_normalized_score"] is None
    assert results["final_return"] is not None and results["behaviour_normalized_score"] is None


def test_unbounded_action_space(tmp_path):
    eps = [random_episode(10, rng=np.random.default_rng(i)) for i in range(3)]
    make_dataset("test/bad/unbounded-v0", eps, env=None,
                 action_space=gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
                 observation_space=gym.spaces.Box(-np.inf, np.inf, (3,), np.float32))
    with pytest.raises(StitchError, match="unbounded action space.*Fix: declare the bounds"):
        _run(tmp_path, dataset="test/bad/unbounded-v0")


def test_iql_reward_scaling_needs_different_returns(tmp_path):
    eps = [random_episode(10, rng=np.random.default_rng(i)) for i in range(2)]
    for ep in eps:
        ep["rewards"] = np.ones(10)
    make_dataset("test/bad/flat-returns-v0", eps)
    with pytest.raises(StitchError, match="needs episodes with different returns.*reward_transform=none"):
        _run(tmp_path, dataset="test/bad/flat-returns-v0")


def test_restoring_from_something_that_is_not_a_run(tmp_path):
    with pytest.raises(StitchError, match="is not a stitch workdir \\(no config.json\\)"):
        trainer.restore(str(tmp_path))
    (tmp_path / "config.json").write_text(tiny_config("bc").to_json())
    with pytest.raises(StitchError, match="No checkpoint in"):
        trainer.restore(str(tmp_path))


@pytest.mark.parametrize("algo, field, value, needle", [
    ("sac_n", "num_critics", 1, "config.num_critics=1 is invalid: it must be an integer >= 2"),
    ("edac", "eta", -1.0, "config.eta=-1.0 is invalid: it must be a float >= 0"),
    ("cql", "cql_n_actions", 0, "config.cql_n_actions=0 is invalid: it must be an integer >= 1"),
    ("cql", "cql_temperature", 0.0, "config.cql_temperature=0.0 is invalid"),
    ("rebrac", "critic_bc_coef", -0.1, "config.critic_bc_coef=-0.1 is invalid"),
    ("awac", "awac_lambda", 0.0, "config.awac_lambda=0.0 is invalid: it must be a positive float"),
])
def test_invalid_values_of_the_critic_methods(algo, field, value, needle):
    config = tiny_config(algo)
    config[field] = value
    problems = validate(config)
    assert len(problems) == 1 and needle in problems[0] and f"--config.{field}=" in problems[0]


def test_dict_observations_train_flattened_and_non_flat_parts_are_refused_with_the_fix(tmp_path):
    ep = random_episode(10)
    ep["observations"] = {"pos": ep["observations"][:, :2], "vel": ep["observations"][:, 2:]}
    space = gym.spaces.Dict({"pos": gym.spaces.Box(-np.inf, np.inf, (2,)),
                             "vel": gym.spaces.Box(-np.inf, np.inf, (1,))})
    make_dataset("test/ok/dict-v0", [ep, ep], observation_space=space,
                 action_space=gym.spaces.Box(-2, 2, (1,)), env=None)
    results = _run(tmp_path, dataset="test/ok/dict-v0", num_updates=10, reward_transform="none")
    assert results["observation_keys"] == ["pos", "vel"]  # no 'observation' key: the space's order
    ep["observations"] = {"pos": ep["observations"]["pos"].reshape(-1, 1, 2)}
    space = gym.spaces.Dict({"pos": gym.spaces.Box(-np.inf, np.inf, (1, 2))})
    make_dataset("test/bad/dict-v0", [ep, ep], observation_space=space,
                 action_space=gym.spaces.Box(-2, 2, (1,)), env=None)
    with pytest.raises(StitchError, match=r"Dict observation part\(s\) \['pos'\] are not flat Box .*"
                                          "Fix: leave them out"):
        _run(tmp_path / "bad", dataset="test/bad/dict-v0")
    assert not (tmp_path / "bad" / "w").exists()


def test_dataset_presets_apply_the_papers_tuning_and_are_valid():
    import importlib

    from configs.base import dataset_preset_name
    assert dataset_preset_name("bench/hopper/medium-replay-v0") == "hopper-medium-replay"
    assert dataset_preset_name("mujoco/halfcheetah/medium-expert-v2") == "halfcheetah-medium-expert"
    rebrac = importlib.import_module("configs.rebrac").get_config("hopper-medium-replay")
    assert (rebrac.actor_bc_coef, rebrac.critic_bc_coef) == (0.05, 0.5)
    assert rebrac.dataset == importlib.import_module("configs.rebrac").get_config().dataset
    assert importlib.import_module("configs.sac_n").get_config("hopper-medium").num_critics == 500
    edac = importlib.import_module("configs.edac").get_config("halfcheetah-medium-expert")
    assert (edac.num_critics, edac.eta) == (10, 5.0)
    for algo in ALGOS:
        module = importlib.import_module(f"configs.{algo}")
        for name in getattr(module, "DATASET_PRESETS", {}):
            assert validate(module.get_config(name)) == [], (algo, name)
    with pytest.raises(ValueError, match="hopper-medium-replay"):  # the error lists the tunings
        importlib.import_module("configs.rebrac").get_config("hopper-mediun-replay")


def test_a_preset_with_a_misspelt_field_is_refused():
    from configs.base import apply_preset, get_base_config
    with pytest.raises(ValueError, match=r"sets unknown field\(s\) \['num_critic'\]"):
        apply_preset(get_base_config(), "typo", {"typo": {"num_critic": 50}})
