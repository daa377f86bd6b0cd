"""Shaped observations: image data loads unflattened, stays uint8 on device, trains with a CNN."""
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos import trainer
from algos.common import StitchError
from data.collect import collect, random_policy
from data.dataset import load_dataset, transition_observations
from networks import DeterministicPolicy, QEnsemble, Torso, TorsoSpec
from tests import image_env
from tests.conftest import tiny_config

DATASET = "test/pixels/dot-v0"


@pytest.fixture(scope="module")
def pixels(minari_root):
    image_env.register()
    return collect("StitchPixelDot-v0", image_env.expert, 600, DATASET, seed=0,
                   ref_min_score=-60.0, ref_max_score=-5.0)


def _pixel_config(algo, **overrides):
    return tiny_config(algo, **{"dataset": DATASET, "observation_transform": "div255",
                                "torso": "cnn", **overrides})


def test_image_observations_load_unflattened_and_stay_uint8(pixels):
    data, info = load_dataset(_pixel_config("bc"))
    # each episode's 21 frames stored once (30 episodes of 20 steps), in their dtype
    assert data["observations"].shape == (630, 6, 6, 2) and data["observations"].dtype == jnp.uint8
    assert "next_observations" not in data and data["obs_index"].shape == (600,)
    assert info.spec.observation_shape == (6, 6, 2) and info.spec.observation_dtype == "uint8"
    frames = np.concatenate([ep.observations for ep in pixels.iterate_episodes()])
    np.testing.assert_array_equal(np.asarray(data["observations"]), frames)
    obs, next_obs = transition_observations(data)
    np.testing.assert_array_equal(obs, np.concatenate([ep.observations[:-1] for ep in pixels.iterate_episodes()]))
    np.testing.assert_array_equal(next_obs, np.concatenate([ep.observations[1:] for ep in pixels.iterate_episodes()]))
    # zscore turns them into float32 (4x the memory: the reason it is not the image default)
    data, info = load_dataset(_pixel_config("bc", observation_transform="zscore"))
    assert data["observations"].dtype == jnp.float32 and info.obs_mean.shape == (6, 6, 2)


def test_div255_on_float_observations_is_refused(pendulum):
    with pytest.raises(StitchError, match="div255.*floating-point observations.*observation_transform=zscore"):
        load_dataset(tiny_config("bc", observation_transform="div255"))


def test_mlp_torso_adds_no_parameters_and_cnn_is_minatars():
    flat = DeterministicPolicy(2, (8,)).init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    assert "Torso_0" not in flat["params"]  # flat-observation networks are unchanged
    x = jnp.zeros((5, 4, 10, 10, 4))  # two batch axes, MinAtar-shaped frames
    torso = Torso(TorsoSpec("cnn", 3))
    params = torso.init(jax.random.PRNGKey(0), x)
    kernel = params["params"]["Conv_0"]["kernel"]
    assert kernel.shape == (3, 3, 4, 16)  # one 3x3 conv, 16 filters
    assert torso.apply(params, x).shape == (5, 4, 8 * 8 * 16)
    mlp = Torso(TorsoSpec("mlp", 3))
    assert mlp.apply(mlp.init(jax.random.PRNGKey(0), x), x).shape == (5, 4, 400)
    q = QEnsemble((8,), num_critics=3, torso=TorsoSpec("cnn", 3))
    q_params = q.init(jax.random.PRNGKey(0), jnp.zeros((2, 10, 10, 4)), jnp.zeros((2, 1)))
    conv = flax.traverse_util.flatten_dict(q_params["params"])
    assert any(k[-2:] == ("Conv_0", "kernel") and v.shape == (3, 3, 3, 4, 16) for k, v in conv.items())


@pytest.mark.parametrize("algo", ["bc", "td3_bc"])
def test_train_end_to_end_on_pixels(pixels, tmp_path, algo):
    config = _pixel_config(algo, num_updates=300, log_interval=100, eval_interval=300,
                           eval_episodes=5, batch_size=64, hidden_dims=(32, 32), num_seeds=2)
    results = trainer.train_and_evaluate(config, str(tmp_path))
    assert results["env_id"] == "StitchPixelDot-v0" and len(results["final_return"]) == 2
    _, carry, _ = trainer.restore(str(tmp_path))
    leaves = flax.traverse_util.flatten_dict(carry[0].actor.params)
    assert any("Conv_0" in k for k in leaves)  # the policy saw the pixels through the CNN
    # ...and learned from them: far better than the random policy's return on this task.
    env = image_env.PixelDot()
    rng, policy, random_returns = np.random.default_rng(0), random_policy(env.action_space), []
    for ep in range(20):
        obs, _ = env.reset(seed=ep)
        total = 0.0
        for _ in range(20):
            obs, r, *_ = env.step(policy(obs, rng, ep))
            total += r
        random_returns.append(total)
    # (measured: BC about -5, TD3+BC -5 and -16, random -26 over 20 steps)
    assert min(results["final_return"]) > np.mean(random_returns), results["final_return"]
    assert np.mean(results["final_return"]) > np.mean(random_returns) + 8, (
        results["final_return"], np.mean(random_returns))


def test_cnn_torso_on_flat_observations_is_refused(pendulum, tmp_path):
    with pytest.raises(StitchError, match="torso='cnn'.*shape \\(3,\\).*--config.torso=mlp"):
        trainer.train_and_evaluate(tiny_config("bc", torso="cnn"), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()
