"""Decision Transformer and its GPT: causal masking, padding, the loss, warm-up, acting with memory."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos import dt
from algos.common import Spec, StitchError
from networks.gpt import GPT, causal_mask
from tests.conftest import tiny_config

SPEC = Spec((3,), "float32", 2, False)


def _small(**overrides):
    return tiny_config("dt", embed_dim=16, num_layers=2, num_heads=2, context_len=4, dropout=0.0,
                       warmup_steps=4, **overrides)


def test_causal_mask_by_hand():
    allowed = np.asarray(causal_mask(jnp.array([[0.0, 1.0, 1.0]])))[0, 0]
    np.testing.assert_array_equal(allowed, [[True, False, False], [False, True, False], [False, True, True]])


def test_gpt_never_attends_forward_or_to_padding():
    gpt = GPT(num_layers=2, num_heads=2, dropout=0.0)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 8))
    mask = jnp.array([[1.0] * 6, [0, 0, 1, 1, 1, 1]])
    params = gpt.init(jax.random.PRNGKey(1), x, mask)
    out = gpt.apply(params, x, mask)
    noise = jax.random.normal(jax.random.PRNGKey(2), (2, 6, 8))  # not a constant: LayerNorm removes one
    later = x.at[:, 4].add(noise[:, 4])  # a later token changes: outputs 0..3 must not
    out_later = gpt.apply(params, later, mask)
    np.testing.assert_allclose(out_later[:, :4], out[:, :4], atol=1e-6)
    assert np.abs(np.asarray(out_later[:, 4:] - out[:, 4:])).max() > 1e-3  # the check can fail
    padded = x.at[1, :2].add(noise[1, :2])  # padded tokens change: no real output of row 1 may
    np.testing.assert_allclose(gpt.apply(params, padded, mask)[1, 2:], out[1, 2:], atol=1e-6)
    assert np.all(np.isfinite(np.asarray(out)))


def _window(rng, B=2, K=4, discrete=False):
    r = np.random.default_rng(rng)
    return {"returns_to_go": jnp.asarray(r.normal(size=(B, K)), jnp.float32),
            "observations": jnp.asarray(r.normal(size=(B, K, 3)), jnp.float32),
            "actions": (jnp.asarray(r.integers(2, size=(B, K)), jnp.int32) if discrete else
                        jnp.asarray(r.uniform(-1, 1, (B, K, 2)), jnp.float32)),
            "timesteps": jnp.tile(jnp.arange(K, dtype=jnp.int32), (B, 1)), "mask": jnp.ones((B, K))}


def test_action_prediction_sees_the_state_but_not_its_own_action():
    config = _small()
    state = dt.init(config, SPEC, jax.random.PRNGKey(0))
    b = _window(0)

    def predict(batch):
        return np.asarray(state.model.apply_fn({"params": state.model.params}, *dt._inputs(config, batch)))

    base = predict(b)
    moved = predict({**b, "actions": b["actions"].at[:, 2].add(0.5)})  # a_2: only steps 3.. may move
    np.testing.assert_allclose(moved[:, :3], base[:, :3], atol=1e-6)
    assert np.abs(moved[:, 3] - base[:, 3]).max() > 1e-5
    moved = predict({**b, "observations": b["observations"].at[:, 2].add(0.5)})  # s_2: step 2 on
    np.testing.assert_allclose(moved[:, :2], base[:, :2], atol=1e-6)
    assert np.abs(moved[:, 2] - base[:, 2]).max() > 1e-5


def test_sequence_loss_counts_only_real_steps():
    pred = jnp.array([[[0.0], [1.0], [3.0]]])
    actions = jnp.zeros((1, 3, 1))
    mask = jnp.array([[0.0, 1.0, 1.0]])
    np.testing.assert_allclose(dt.sequence_loss(pred, actions, mask, False), (1 + 9) / 2)
    logits = jnp.log(jnp.array([[[0.5, 0.5], [0.25, 0.75]]]))
    np.testing.assert_allclose(dt.sequence_loss(logits, jnp.array([[0, 1]]), jnp.array([[1.0, 1.0]]), True),
                               -(np.log(0.5) + np.log(0.75)) / 2, rtol=1e-6)


def test_warmup_ramps_the_rate_linearly_then_holds():
    tx = dt.scale_by_warmup(4)
    state = tx.init({"w": jnp.zeros(())})
    factors = []
    for _ in range(6):
        out, state = tx.update({"w": jnp.ones(())}, state)
        factors.append(float(out["w"]))
    np.testing.assert_allclose(factors, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
def test_update_lowers_the_loss(discrete):
    config = _small(actor_lr=1e-2)
    spec = Spec((3,), "float32", 2, discrete)
    state = dt.init(config, spec, jax.random.PRNGKey(0))
    b = _window(1, B=8, discrete=discrete)
    update = jax.jit(lambda s, r: dt.update(config, s, b, r))
    losses = []
    for i in range(30):
        state, m = update(state, jax.random.PRNGKey(i))
        losses.append(float(m["actor_loss"]))
    assert losses[-1] < 0.5 * losses[0], losses


def test_acting_decrements_the_return_to_go_and_keeps_the_context():
    config = _small(target_returns=(10.0, 4.0))
    state = dt.init(config, SPEC, jax.random.PRNGKey(0), {"targets": np.float32([10.0, 4.0])})
    memory = dt.init_memory(config, SPEC, 4)  # 2 envs per condition, condition-major
    np.testing.assert_array_equal(memory["condition"], [0, 0, 1, 1])
    obs = jnp.ones((4, 3))
    act = jax.jit(lambda o, m: dt.act(config, state, o, None, memory=m))
    a0, memory = act(obs, memory)
    np.testing.assert_allclose(memory["rtg"], [10, 10, 4, 4])
    memory = {**memory, "reward": jnp.array([1.0, 2.0, 0.5, 0.0])}  # what the evaluator writes
    a1, memory = act(2 * obs, memory)
    np.testing.assert_allclose(memory["rtg"], [9, 8, 3.5, 4])
    np.testing.assert_array_equal(memory["t"], [2] * 4)
    np.testing.assert_array_equal(memory["mask"][0], [0, 0, 1, 1])
    np.testing.assert_array_equal(memory["timesteps"][0, -2:], [0, 1])
    np.testing.assert_allclose(memory["returns_to_go"][1, -2:], [10, 8])
    np.testing.assert_allclose(memory["observations"][0, -2:, 0], [1, 2])
    np.testing.assert_allclose(memory["actions"][:, -2], a0)  # the actions taken are in the context
    np.testing.assert_allclose(memory["actions"][:, -1], a1)
    assert a0.shape == (4, 2) and np.all(np.abs(np.asarray(a0)) <= 1)
    with pytest.raises(StitchError, match="acts from its context"):
        dt.act(config, state, obs, None)


def test_reward_transform_is_refused():
    with pytest.raises(StitchError, match="reward_transform=none"):
        dt.prepare(_small(reward_transform="iql_locomotion"), {}, None)


def test_target_defaults_to_the_datas_best_episode_return():
    data = {"rewards": np.float32([1, 2, 3, 4, 5]), "episode_ends": np.float32([0, 1, 0, 0, 1])}
    np.testing.assert_allclose(dt.prepare(_small(), data, None)["targets"], [12.0])


def test_training_evaluates_every_target_return(pendulum, tmp_path):
    from algos.trainer import train_and_evaluate
    config = _small(target_returns=(-100.0, -600.0), num_updates=10, eval_interval=10, num_seeds=1)
    train_and_evaluate(config, str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    by = results["final_by_condition"]
    assert list(by) == ["target_return=-100", "target_return=-600"]
    assert by["target_return=-100"]["return"] == results["final_return"]  # the first is the score
    assert all(np.isfinite(by[k]["return"][0]) for k in by)


def test_discrete_actions_train_from_the_driver(discrete_data, tmp_path):
    from algos.trainer import train_and_evaluate
    config = _small(dataset=discrete_data, num_updates=10, eval_interval=10, eval_episodes=0)
    train_and_evaluate(config, str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    assert np.isfinite(results["final_metrics"]["actor_loss"]).all()
