"""Less work for the same math (issue 12): each saving leaves the result unchanged.

- TD3+BC / ReBRAC: the delayed actor is a real `lax.cond` on the trainer's shared step, so the
  skipped steps do no actor backward pass; the result equals the per-run-counter (select) form.
- Q networks: several actions per state share the torso and the state's share of the first
  layer (CQL's proposals); equal to scoring explicitly broadcast states.
- CQL: the data's actions ride with the proposals through one critic call, and pi(.|s') is one
  actor pass for the target and the proposals; equal to separate passes.
- EDAC: the action-gradient pass also gives the TD loss's Q values; equal to two passes.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos import ALGOS, cql, edac
from algos.common import contract
from algos.trainer import make_train_chunk
from networks import QEnsemble
from networks.torsos import TorsoSpec
from tests import separate_passes
from tests.conftest import tiny_config
from tests.test_structure import (SPEC, _assert_trees_close, _fake_dataset, _seed, chunk_fn,
                                  init_carry, sample_batch)


@pytest.mark.parametrize("name", ["td3_bc", pytest.param("rebrac", marks=pytest.mark.slow)])
def test_delayed_actor_on_the_shared_step_equals_the_per_run_select(name):
    config = tiny_config(name, num_seeds=2)
    algo, dataset, n = ALGOS[name], _fake_dataset(), 5
    carries = init_carry(config, algo, SPEC)
    # The driver's form: a vmapped chunk, the step shared by the runs (a real branch).
    chunked, metrics = jax.jit(jax.vmap(chunk_fn(config, algo, n), in_axes=(0, None)))(carries, dataset)

    # The old form: each run's own step counter under vmap (JAX runs both branches and selects).
    def looped(carry):
        state, rng = carry
        out = []
        for _ in range(n):
            rng, sample_rng, update_rng = jax.random.split(rng, 3)
            state, m = algo.update(config, state, sample_batch(dataset, sample_rng, config.batch_size),
                                   update_rng)
            out.append(m)
        return (state, rng), jax.tree_util.tree_map(lambda *x: jnp.stack(x), *out)

    selected, selected_metrics = jax.jit(jax.vmap(looped))(carries)
    # Equal up to float rounding (the two programs fuse differently).
    _assert_trees_close(chunked, selected)
    for key in metrics:  # the actor's metrics on skipped steps too (from its loss, no gradient)
        np.testing.assert_allclose(metrics[key], selected_metrics[key], rtol=1e-5, atol=1e-6)
    assert "actor_loss" in metrics or "bc_mse" in metrics


def test_delayed_actor_cond_survives_the_run_vmap_and_resumes_mid_delay():
    config = tiny_config("td3_bc", num_seeds=2, policy_delay=2)
    algo, dataset = ALGOS["td3_bc"], _fake_dataset()
    chunk = make_train_chunk(config, contract(algo).phases[0], 3)
    run_vmapped = jax.vmap(chunk, in_axes=(0, 0, None, None))
    carries = init_carry(config, algo, SPEC)
    jaxpr = str(jax.make_jaxpr(run_vmapped)(carries, {}, dataset, jnp.int32(0)))
    assert "cond[" in jaxpr  # not turned into a select of both branches

    # 3 + 3 steps, the second chunk starting at step 3 (odd: mid-delay, as after a resume)...
    fn = jax.jit(run_vmapped)
    first, _ = fn(carries, {}, dataset, jnp.int32(0))
    split, _ = fn(first, {}, dataset, jnp.int32(3))
    # ...equal 6 steps in one chunk.
    whole, _ = jax.jit(jax.vmap(make_train_chunk(config, contract(algo).phases[0], 6),
                                in_axes=(0, 0, None, None)))(carries, {}, dataset, jnp.int32(0))
    _assert_trees_close(split, whole, rtol=0, atol=0)
    assert int(split[0].step[0]) == 6


def _states_and_actions(torso, proposals=7, batch=5, action_dim=2, width=4):
    rng = np.random.default_rng(0)
    shape = (batch, 6, 6, 2) if torso.kind == "cnn" else (batch, width)
    obs = jnp.asarray(rng.normal(size=shape), jnp.float32)
    actions = jnp.asarray(rng.uniform(-1, 1, size=(proposals, batch, action_dim)), jnp.float32)
    return obs, actions


@pytest.mark.parametrize("torso, width", [  # CI runs the wide cases; `pytest --slow` all four
    pytest.param(TorsoSpec("mlp", 1), 4, marks=pytest.mark.slow), (TorsoSpec("mlp", 1), 40),
    pytest.param(TorsoSpec("cnn", 3), None, marks=pytest.mark.slow),
    (TorsoSpec("mlp", 1, "bfloat16"), 40)], ids=["mlp-narrow", "mlp-wide", "cnn", "mlp-wide-bf16"])
def test_several_actions_per_state_share_the_state_pass(torso, width):
    # Features narrower than the first layer (4 < 32) take the broadcast; wider ones (40, the
    # cnn's 256) the split first layer.
    q = QEnsemble((32, 32), num_critics=3, torso=torso)
    obs, actions = _states_and_actions(torso, width=width)
    params = q.init(jax.random.PRNGKey(0), obs, actions[0])

    def shared(p):
        return q.apply(p, obs, actions)

    def broadcast(p):
        return q.apply(p, jnp.broadcast_to(obs, (actions.shape[0], *obs.shape)), actions)

    g_shared = jax.grad(lambda p: jnp.sum(jnp.sin(shared(p))))(params)
    g_broadcast = jax.grad(lambda p: jnp.sum(jnp.sin(broadcast(p))))(params)
    assert shared(params).shape == (3, 7, 5)
    if torso.compute_dtype == "bfloat16":  # each as close to the float32 result as bfloat16
        # allows (both paths round differently: measured within 1-4 % of each array's scale)
        exact = QEnsemble((32, 32), num_critics=3, torso=torso._replace(compute_dtype="float32"))
        g_exact = jax.grad(lambda p: jnp.sum(jnp.sin(exact.apply(p, obs, actions))))(params)
        for result in ((shared(params), g_shared), (broadcast(params), g_broadcast)):
            for x, y in zip(jax.tree_util.tree_leaves(result),
                            jax.tree_util.tree_leaves((exact.apply(params, obs, actions), g_exact))):
                assert np.abs(np.asarray(x) - np.asarray(y)).max() <= 0.06 * np.abs(np.asarray(y)).max()
    else:
        np.testing.assert_allclose(shared(params), broadcast(params), rtol=1e-5, atol=1e-5)
        _assert_trees_close(g_shared, g_broadcast, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="batch axes"):
        q.apply(params, obs, actions[:, :3])


@pytest.mark.parametrize("max_backup", [False, True])
def test_cql_shared_passes_equal_separate_passes(max_backup):
    config = tiny_config("cql", num_seeds=1, cql_lagrange=False, cql_max_backup=max_backup)
    state, rng = _seed(init_carry(config, ALGOS["cql"], SPEC), 0)
    batch = sample_batch(_fake_dataset(), rng, config.batch_size)
    new = jax.value_and_grad(lambda p: cql.critic_loss(p, config, state, batch, rng)[0])
    old = jax.value_and_grad(lambda p: separate_passes.cql_critic_loss(p, config, state, batch, rng)[0])
    (loss, grads), (loss_ref, grads_ref) = new(state.critic.params), old(state.critic.params)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
    _assert_trees_close(grads, grads_ref, rtol=1e-4, atol=1e-6)


def test_edac_one_pass_equals_td_loss_plus_diversity_of_two_passes():
    config = tiny_config("edac", num_seeds=1, eta=3.0)
    state, rng = _seed(init_carry(config, ALGOS["edac"], SPEC), 0)
    batch = sample_batch(_fake_dataset(), rng, config.batch_size)

    (loss, grads) = jax.value_and_grad(lambda p: edac.critic_loss(p, config, state, batch, rng)[0])(
        state.critic.params)
    loss_ref, grads_ref = jax.value_and_grad(
        lambda p: separate_passes.edac_critic_loss(p, config, state, batch, rng)[0])(state.critic.params)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-6)
    _assert_trees_close(grads, grads_ref, rtol=1e-5, atol=1e-7)


def test_xla_flags_only_for_layer_norm_configs_and_never_over_the_users(monkeypatch):
    import jaxlib
    from algos import common
    from configs import rebrac, td3_bc
    assert common.xla_flags_for(td3_bc.get_config()) == {}
    assert common.xla_flags_for(rebrac.get_config()) == {"xla_cpu_experimental_ynn_fusion_type": "-reduce"}
    monkeypatch.setattr(common, "XLA_FLAGS_JAXLIB", (jaxlib.__version__,))
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    assert common.set_xla_flags(rebrac.get_config()) == ["--xla_cpu_experimental_ynn_fusion_type=-reduce"]
    assert common.set_xla_flags(rebrac.get_config()) == []  # already there: added once
    assert os.environ["XLA_FLAGS"] == ("--xla_force_host_platform_device_count=1 "
                                       "--xla_cpu_experimental_ynn_fusion_type=-reduce")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=+reduce")  # the user's
    assert common.set_xla_flags(rebrac.get_config()) == []
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("STITCH_XLA_FLAGS", "off")
    assert common.set_xla_flags(rebrac.get_config()) == []
    monkeypatch.delenv("STITCH_XLA_FLAGS")
    monkeypatch.setattr(common, "XLA_FLAGS_JAXLIB", ("0.0.unverified",))  # an unmeasured jaxlib
    assert common.set_xla_flags(rebrac.get_config()) == [] and os.environ["XLA_FLAGS"] == ""


def test_fqe_rotating_value_batch_leaves_the_critic_update_unchanged():
    """FQE's per-update V on a rotating batch of initial states: the critic, its target and the
    TD metrics equal the all-states form's, and V equals it when the initial states fit in a batch."""
    from algos import fqe
    from algos.common import Spec
    from configs import fqe as fqe_config
    config = fqe_config.get_config()
    config.update(dict(hidden_dims=(16, 16), batch_size=8))
    spec = Spec((3,), "float32", 2, False)
    rng = np.random.default_rng(0)
    n = 40
    data = {"observations": rng.normal(size=(n, 3)), "next_observations": rng.normal(size=(n, 3)),
            "actions": rng.uniform(-1, 1, (n, 2)), "next_actions": rng.uniform(-1, 1, (n, 2)),
            "rewards": rng.normal(size=n), "terminals": np.zeros(n), "episode_ends": np.zeros(n)}
    batch = {k: jnp.asarray(v[:8], jnp.float32) for k, v in data.items()}
    for episodes in (5, 20):  # fewer initial states than a batch, and more
        data["episode_ends"][:] = 0
        data["episode_ends"][np.linspace(0, n, episodes + 1).astype(int)[1:] - 1] = 1
        aux = fqe.prepare(config, {k: jnp.asarray(v, jnp.float32) for k, v in data.items()}, None)
        state = fqe.init(config, spec, jax.random.PRNGKey(0), aux)
        new, new_m = fqe.update(config, state, batch, jax.random.PRNGKey(1), step=3)
        old, old_m = separate_passes.fqe_update_all_initial_states(config, state, batch, jax.random.PRNGKey(1))
        _assert_trees_close((new.critic.params, new.target_params), (old.critic.params, old.target_params))
        for key in ("fqe_loss", "q_data", "td_error"):
            np.testing.assert_allclose(new_m[key], old_m[key], rtol=1e-6)
        if episodes <= config.batch_size:
            np.testing.assert_allclose(new_m["fqe_value"], old_m["fqe_value"], rtol=1e-6)
