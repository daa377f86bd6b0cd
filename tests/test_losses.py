"""The math with numbers: loss values against hand-computed ones."""
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState
from ml_collections import ConfigDict

from algos import iql, td3_bc
from algos.common import polyak_update
from data.dataset import normalized_score, reward_affine, top_fraction_episodes


def test_expectile_loss_values():
    diff = jnp.array([2.0, -2.0, 0.5, -1.0])
    # tau=0.7: positive residuals weigh 0.7, negative 0.3.
    expected = [0.7 * 4.0, 0.3 * 4.0, 0.7 * 0.25, 0.3 * 1.0]
    np.testing.assert_allclose(iql.expectile_loss(diff, 0.7), expected, rtol=1e-6)
    # tau=0.5 is half the squared error.
    np.testing.assert_allclose(iql.expectile_loss(diff, 0.5), 0.5 * diff ** 2, rtol=1e-6)


def _linear_state():
    """TD3+BC state whose networks are hand-readable: pi(s) = w*s, Q_i(s, a) = c_i*s*a."""
    actor = TrainState.create(apply_fn=lambda v, s: v["params"]["w"] * s,
                              params={"w": jnp.array(0.5)}, tx=optax.sgd(0.0))
    critic = TrainState.create(
        apply_fn=lambda v, s, a: jnp.stack([v["params"]["c"][i] * (s * a).sum(-1) for i in range(2)]),
        params={"c": jnp.array([2.0, 3.0])}, tx=optax.sgd(0.0))
    return td3_bc.TD3BCState(actor=actor, critic=critic, target_actor_params={"w": jnp.array(1.0)},
                             target_critic_params={"c": jnp.array([1.0, 4.0])},
                             step=jnp.zeros((), jnp.int32))


def test_td3_bc_actor_loss_value():
    state = _linear_state()
    config = ConfigDict(dict(alpha=2.5))
    batch = {"observations": jnp.array([[1.0], [2.0]]), "actions": jnp.array([[1.0], [0.0]])}
    # pi = [0.5, 1.0]; Q1(s, pi) = 2*s*pi = [1.0, 4.0]; mean|Q| = 2.5 -> lambda = 1.0
    # bc = mean((0.5-1)^2, (1-0)^2) = 0.625; loss = -1.0 * 2.5 + 0.625 = -1.875
    loss, info = td3_bc.actor_loss(state.actor.params, config, state, batch)
    np.testing.assert_allclose(loss, -1.875, rtol=1e-6)
    np.testing.assert_allclose(info["lambda"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(info["bc_mse"], 0.625, rtol=1e-6)


def test_td3_bc_critic_loss_value():
    state = _linear_state()
    config = ConfigDict(dict(policy_noise=0.0, noise_clip=0.5, discount=0.9))
    batch = {"observations": jnp.array([[1.0]]), "actions": jnp.array([[0.5]]),
             "rewards": jnp.array([1.0]), "terminals": jnp.array([0.0]),
             "next_observations": jnp.array([[0.5]])}
    # next action = clip(target w * s') = 0.5; target Q' = [1*0.25, 4*0.25] -> min 0.25
    # target = 1 + 0.9 * 0.25 = 1.225; Q(s, a) = [2*0.5, 3*0.5] = [1.0, 1.5]
    # loss = (1.0-1.225)^2 + (1.5-1.225)^2 = 0.050625 + 0.075625 = 0.12625
    loss, _ = td3_bc.critic_loss(state.critic.params, config, state, batch, rng=jnp.zeros(2, jnp.uint32))
    np.testing.assert_allclose(loss, 0.12625, rtol=1e-5)
    batch["terminals"] = jnp.array([1.0])  # termination: no bootstrap, target = 1
    loss, _ = td3_bc.critic_loss(state.critic.params, config, state, batch, rng=jnp.zeros(2, jnp.uint32))
    np.testing.assert_allclose(loss, 0.0 + 0.25, rtol=1e-5)


def test_polyak_update():
    out = polyak_update({"a": jnp.array(1.0)}, {"a": jnp.array(3.0)}, 0.25)
    np.testing.assert_allclose(out["a"], 0.25 * 1.0 + 0.75 * 3.0)


def test_normalized_score_and_missing_refs():
    np.testing.assert_allclose(normalized_score(50.0, 0.0, 200.0), 25.0)
    assert normalized_score(50.0, None, 200.0) is None


def test_reward_transforms():
    returns = np.array([-100.0, 400.0, 150.0])
    assert reward_affine(ConfigDict(dict(reward_transform="iql_locomotion")), returns) == (2.0, 0.0)
    cfg = ConfigDict(dict(reward_transform="scale_shift", reward_scale=0.5, reward_shift=-1.0))
    assert reward_affine(cfg, returns) == (0.5, -1.0)
    assert reward_affine(ConfigDict(dict(reward_transform="none")), returns) == (1.0, 0.0)


def test_top_fraction_keeps_best_episodes():
    arrays = {"rewards": np.arange(6.0), "episode_ends": np.array([0, 1, 0, 1, 0, 1.0])}
    returns = np.array([1.0, 5.0, 9.0])  # episode 2 is best, then 1
    kept = top_fraction_episodes(arrays, returns, 2 / 3)
    np.testing.assert_array_equal(kept["rewards"], [2.0, 3.0, 4.0, 5.0])


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    import jax
    from networks.policies import GaussianDist
    mean, log_std = jnp.array([[0.3]]), jnp.array([[-0.5]])
    dist = GaussianDist(mean, log_std, squash=True)
    a = jnp.array([[0.6]])
    u, std = np.arctanh(0.6), np.exp(-0.5)
    expected = (-0.5 * ((u - 0.3) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)) - np.log(1 - 0.6 ** 2)
    np.testing.assert_allclose(dist.log_prob(a)[0], expected, rtol=1e-5)
    sample, log_prob = dist.sample_and_log_prob(jax.random.PRNGKey(0))
    np.testing.assert_allclose(log_prob, dist.log_prob(sample), rtol=1e-4)
    assert np.all(np.abs(sample) < 1)


# --- conservative and ensemble critics ------------------------------------------------------

def _tiny_state(name, num_critics=2, seed=0, **overrides):
    import jax
    from algos import ALGOS
    from algos.common import Spec
    from tests.conftest import tiny_config
    config = tiny_config(name, num_seeds=1, **({"num_critics": num_critics} if name != "rebrac" else {}))
    config.update(overrides)
    state = ALGOS[name].init(config, Spec((3,), "float32", 2, False),
                             jax.random.PRNGKey(seed))
    return config, state


def _random_batch(batch_size=16, seed=1):
    rng = np.random.default_rng(seed)
    return {"observations": jnp.asarray(rng.normal(size=(batch_size, 3)), jnp.float32),
            "actions": jnp.asarray(rng.uniform(-1, 1, (batch_size, 2)), jnp.float32),
            "next_actions": jnp.asarray(rng.uniform(-1, 1, (batch_size, 2)), jnp.float32),
            "rewards": jnp.asarray(rng.normal(size=batch_size), jnp.float32),
            "next_observations": jnp.asarray(rng.normal(size=(batch_size, 3)), jnp.float32),
            "terminals": jnp.zeros(batch_size, jnp.float32)}


def test_cql_conservative_gap_value():
    from algos import cql
    one = lambda v: jnp.full((1, 1, 1), v)  # (critics, samples, batch)
    args = dict(q_rand=one(1.0), log_density_rand=-np.log(2.0), q_pi=one(2.0),
                log_prob_pi=jnp.full((1, 1), 0.5), q_next_pi=one(0.0),
                log_prob_next_pi=jnp.full((1, 1), -1.0), q_data=jnp.full((1, 1), 1.5))
    # logsumexp([1 + log 2, 2 - 0.5, 0 + 1]) - 1.5 = log(2e + e^1.5 + e) - 1.5
    np.testing.assert_allclose(cql.conservative_gap(**args, temperature=1.0), [1.0365922], rtol=1e-5)
    # temperature T: T * logsumexp(x / T) - 1.5
    np.testing.assert_allclose(cql.conservative_gap(**args, temperature=2.0), [2.1157135], rtol=1e-5)
    # Two critics, two states: one gap per critic, averaged over the batch.
    q = jnp.stack([jnp.zeros((1, 2)), jnp.ones((1, 2))])  # critic 0 gives 0, critic 1 gives 1
    gap = cql.conservative_gap(q, 0.0, q, jnp.zeros((1, 2)), q, jnp.zeros((1, 2)),
                               jnp.array([[0.0, 0.0], [1.0, 1.0]]), temperature=1.0)
    np.testing.assert_allclose(gap, [np.log(3.0), np.log(3.0)], rtol=1e-6)


def test_cql_regulariser_gradient_reaches_the_critic():
    import jax
    from algos import cql
    batch, rng = _random_batch(), jax.random.PRNGKey(3)
    grads, gaps = {}, {}
    for weight in (0.0, 5.0, 10.0):
        config, state = _tiny_state("cql", cql_alpha=weight)
        (_, info), g = jax.value_and_grad(cql.critic_loss, has_aux=True)(
            state.critic.params, config, state, batch, rng)
        grads[weight], gaps[weight] = np.concatenate(
            [np.ravel(x) for x in jax.tree_util.tree_leaves(g)]), float(info["cql_gap"])
    penalty_grad = grads[5.0] - grads[0.0]
    assert np.linalg.norm(penalty_grad) > 1e-3 * np.linalg.norm(grads[0.0])  # not cut off
    np.testing.assert_allclose(grads[10.0] - grads[5.0], penalty_grad, rtol=1e-3, atol=1e-5)  # float32 cancellation near 0
    assert gaps[0.0] == gaps[5.0] == gaps[10.0]


def test_cql_warm_up_clones_the_data_then_switches_to_sac():
    """For step < bc_steps the actor loss is alpha log pi(a~|s) - log pi(a|s) on the data's
    actions (the paper code's policy_eval_start); from bc_steps on, SAC's alpha log pi - min Q."""
    import jax
    from algos import cql, sac_n
    batch, rng = _random_batch(), jax.random.PRNGKey(4)
    config, state = _tiny_state("cql", bc_steps=5)
    params = state.actor.params
    dist = state.actor.apply_fn({"params": params}, batch["observations"])
    _, log_prob = dist.sample_and_log_prob(rng)  # the same sample the loss draws from rng
    alpha = float(sac_n.alpha(state))
    by_hand = np.mean(alpha * np.asarray(log_prob) - np.asarray(dist.log_prob(batch["actions"])))
    sac_loss, _ = sac_n.actor_loss(params, config, state, batch, rng)
    for step, expected in [(0, by_hand), (4, by_hand), (5, float(sac_loss)), (100, float(sac_loss))]:
        loss, info = cql.actor_loss(params, config, state, batch, rng, jnp.int32(step))
        np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
        np.testing.assert_allclose(float(info["actor_bc_loss"]), by_hand, rtol=1e-5)
    assert abs(by_hand - float(sac_loss)) > 1e-3  # the two objectives differ: the switch is seen
    config.bc_steps = 0  # no warm-up: SAC's loss at every step, and no BC metric
    loss, info = cql.actor_loss(params, config, state, batch, rng, jnp.int32(0))
    assert float(loss) == float(sac_loss) and "actor_bc_loss" not in info


def test_cql_presets_are_the_references():
    """The default is the authors' command line (aviralkumar2907/CQL); "corl" is CORL's."""
    from configs import cql as cql_config
    authors, corl = cql_config.get_config(), cql_config.get_config("corl")
    assert (authors.cql_alpha, authors.actor_lr, authors.critic_lr, authors.bc_steps,
            authors.observation_transform, tuple(authors.hidden_dims), authors.num_updates) == (
        5.0, 1e-4, 3e-4, 40_000, "none", (256, 256, 256), 1_000_000)
    assert (corl.cql_alpha, corl.actor_lr, corl.critic_lr, corl.bc_steps, corl.observation_transform) == (
        10.0, 3e-5, 3e-4, 0, "zscore")
    assert cql_config.get_config("authors").to_dict() == {**authors.to_dict(), "preset": "authors"}


@pytest.mark.parametrize("target_gap, direction", [(-1e3, 1), (1e3, -1)])
def test_cql_lagrange_multiplier_moves_toward_the_target_gap(target_gap, direction):
    import jax
    from algos import cql
    config, state = _tiny_state("cql", cql_lagrange=True, cql_target_action_gap=target_gap)
    before = float(cql.alpha_prime(state))
    state, info = jax.jit(lambda s, b, r: cql.update(config, s, b, r))(
        state, _random_batch(), jax.random.PRNGKey(0))
    # gap above the target -> alpha' grows (more conservatism); below -> it shrinks.
    assert np.sign(float(info["cql_gap"]) - target_gap) == direction
    assert np.sign(float(info["alpha_prime"]) - before) == direction
    # The gradient of the multiplier's loss has the documented sign for a hand-made gap.
    grad = jax.grad(cql.lagrange_loss)({"log_alpha": jnp.zeros(())}, config, target_gap + direction)
    assert np.sign(float(grad["log_alpha"])) == -direction


def test_edac_diversity_term_value():
    from algos import edac
    # Sample 1: grads (1, 0) and (1, 1): cos = 1/sqrt(2), counted twice (i, j and j, i).
    # Sample 2: grads (0, 2) and (0, -3): cos = -1, counted twice. N - 1 = 1.
    grads = jnp.array([[[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [0.0, -3.0]]])
    np.testing.assert_allclose(edac.diversity_loss(grads), (2 / np.sqrt(2) - 2) / 2, rtol=1e-6)
    # Three identical critics: every off-diagonal cosine is 1 -> 3 * 2 / 2 = 3.
    np.testing.assert_allclose(edac.diversity_loss(jnp.ones((3, 4, 2))), 3.0, rtol=1e-6)


def test_edac_loss_is_sac_n_plus_eta_times_diversity_of_known_gradients():
    import jax
    from algos import edac, sac_n
    config, state = _tiny_state("edac", eta=2.0)
    w = jnp.array([[1.0, 0.0], [1.0, 1.0]])  # Q_i(s, a) = w_i . a: grad_a Q_i = w_i everywhere
    def apply(v, s, a, per_member_actions=False):
        return jnp.einsum("ik,ibk->ib" if per_member_actions else "ik,bk->ib", v["params"]["w"], a)
    linear = state.critic.replace(apply_fn=apply, params={"w": w})
    state = state.replace(critic=linear, target_critic_params={"w": w})
    batch, rng = _random_batch(), jax.random.PRNGKey(0)
    loss, info = edac.critic_loss(state.critic.params, config, state, batch, rng)
    base, _ = sac_n.critic_loss(state.critic.params, config, state, batch, rng)
    np.testing.assert_allclose(info["diversity"], np.sqrt(2.0), rtol=1e-5)
    np.testing.assert_allclose(loss, base + 2.0 * np.sqrt(2.0), rtol=1e-5)


def test_sac_n_target_takes_the_min_over_the_critic_axis():
    import jax
    from algos import sac_n
    config, state = _tiny_state("sac_n", num_critics=3, backup_entropy=False, discount=0.5)
    c = jnp.array([3.0, -1.0, 2.0])  # Q_i(s, a) = c_i: the min over critics is -1
    const = state.critic.replace(
        apply_fn=lambda v, s, a: jnp.broadcast_to(v["params"]["c"][:, None], (3, s.shape[0])),
        params={"c": c})
    state = state.replace(critic=const, target_critic_params={"c": c})
    batch = _random_batch()
    target = sac_n.critic_target(config, state, batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(target, batch["rewards"] + 0.5 * -1.0, rtol=1e-6)
    loss, _ = sac_n.critic_loss(state.critic.params, config, state, batch, jax.random.PRNGKey(0))
    expected = sum(np.mean((ci - np.asarray(target)) ** 2) for ci in np.asarray(c))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_sac_n_scales_to_fifty_critics_without_code_change():
    import jax
    from algos import sac_n
    config, state = _tiny_state("sac_n", num_critics=50)
    kernels = [x for x in jax.tree_util.tree_leaves(state.critic.params) if x.ndim == 3]
    assert kernels and all(k.shape[0] == 50 for k in kernels)
    assert len({float(k.sum()) for k in kernels[0]}) == 50  # 50 distinct members
    state, info = jax.jit(lambda s, b, r: sac_n.update(config, s, b, r))(
        state, _random_batch(), jax.random.PRNGKey(0))
    assert np.isfinite(float(info["critic_loss"])) and float(info["q_std"]) > 0


def test_rebrac_loss_values():
    from algos import rebrac
    state = _linear_state()
    config = ConfigDict(dict(actor_bc_coef=0.1, critic_bc_coef=0.5, normalize_q=True,
                             policy_noise=0.0, noise_clip=0.5, discount=0.9))
    batch = {"observations": jnp.array([[1.0], [2.0]]), "actions": jnp.array([[1.0], [0.0]])}
    # pi = [0.5, 1.0]; Q = [[1, 4], [1.5, 6]] -> min [1, 4]; lambda = 1 / 2.5 = 0.4
    # penalty = [0.25, 1.0]; loss = mean(0.1 * [0.25, 1] - 0.4 * [1, 4]) = mean(-0.375, -1.5)
    loss, _ = rebrac.actor_loss(state.actor.params, config, state, batch)
    np.testing.assert_allclose(loss, -0.9375, rtol=1e-6)
    batch = {"observations": jnp.array([[1.0]]), "actions": jnp.array([[0.5]]),
             "next_actions": jnp.array([[0.1]]), "rewards": jnp.array([1.0]),
             "terminals": jnp.array([0.0]), "next_observations": jnp.array([[0.5]])}
    # a' = 0.5; min target Q = 0.25; penalty (0.5 - 0.1)^2 = 0.16 -> next_q = 0.25 - 0.08 = 0.17
    # target = 1 + 0.9 * 0.17 = 1.153; loss = (1 - 1.153)^2 + (1.5 - 1.153)^2
    loss, _ = rebrac.critic_loss(state.critic.params, config, state, batch, rng=jnp.zeros(2, jnp.uint32))
    np.testing.assert_allclose(loss, 0.153 ** 2 + 0.347 ** 2, rtol=1e-5)


def test_awac_advantage_weights():
    from algos import awac
    w = awac.advantage_weights(jnp.array([1.0, 2.0, 10.0]), jnp.array([1.0, 0.0, 0.0]), 0.5)
    np.testing.assert_allclose(w, [1.0, np.exp(4.0), awac.EXP_ADV_MAX], rtol=1e-6)


def test_per_member_actions_give_each_critics_own_action_gradient():
    import jax
    config, state = _tiny_state("edac", num_critics=4)
    obs, actions = _random_batch()["observations"], _random_batch()["actions"]
    apply = lambda a, **kw: state.critic.apply_fn({"params": state.critic.params}, obs, a, **kw)
    members = jnp.broadcast_to(actions, (4, *actions.shape))
    np.testing.assert_allclose(apply(members, per_member_actions=True), apply(actions), rtol=1e-6)
    one_pass = jax.grad(lambda m: apply(m, per_member_actions=True).sum())(members)
    jacobian = jax.jacrev(lambda a: apply(a).sum(1))(actions)  # (members, batch, action_dim)
    np.testing.assert_allclose(one_pass, jacobian, rtol=1e-5, atol=1e-6)


def test_edac_diversity_gradient_is_finite_when_a_critic_has_zero_action_gradient():
    import jax
    from algos import edac
    grads = jnp.array([[[0.0, 0.0]], [[1.0, 1.0]], [[1.0, -1.0]]])  # member 0: flat in the action
    value, grad = jax.value_and_grad(edac.diversity_loss)(grads)
    np.testing.assert_allclose(value, 0.0, atol=1e-6)  # (1,1) and (1,-1) are orthogonal
    assert np.all(np.isfinite(np.asarray(grad)))


def test_cql_max_backup_takes_min_over_critics_then_max_over_samples():
    import jax
    from algos import cql
    config, state = _tiny_state("cql", cql_max_backup=True, cql_n_actions=4, discount=0.5)
    c = jnp.array([[1.0, -2.0], [-1.0, 3.0]])  # Q_i(s, a) = c_i . a, two critics
    linear = state.critic.replace(apply_fn=lambda v, s, a: jnp.einsum("ik,...k->i...", v["params"]["c"], a),
                                  params={"c": c})
    state = state.replace(critic=linear, target_critic_params={"c": c})
    batch, rng = _random_batch(batch_size=5), jax.random.PRNGKey(7)
    next_dist = state.actor.apply_fn({"params": state.actor.params}, batch["next_observations"])
    target = cql.max_backup_target(config, state, batch, rng, next_dist)
    actions, _ = cql._policy_samples(next_dist, 4, rng)  # (4, 5, 2)
    q = np.einsum("ik,jbk->ijb", np.asarray(c), np.asarray(actions))  # (critics, samples, batch)
    expected = np.asarray(batch["rewards"]) + 0.5 * q.min(axis=0).max(axis=0)
    np.testing.assert_allclose(target, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(q.max(axis=1).min(axis=0), q.min(axis=0).max(axis=0))  # order matters
    loss, info = jax.jit(lambda p: cql.critic_loss(p, config, state, batch, rng))(state.critic.params)
    assert np.isfinite(float(loss))


def test_cql_warm_up_follows_the_trainers_step_and_can_be_swept(pendulum, tmp_path):
    """The driver's shared update index reaches the actor loss, and bc_steps may be swept (its
    value is traced then): the run with bc_steps=0 optimises SAC's loss from the start, the one
    with 15 the BC loss for updates 1-15 (log rows 10 and, averaged with SAC's, 20)."""
    import csv
    from algos import trainer
    from tests.conftest import tiny_config
    config = tiny_config("cql", num_seeds=1, num_updates=30, eval_episodes=0, sweep="bc_steps=0,15")
    trainer.train_and_evaluate(config, str(tmp_path))
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    run_col = next(c for c in ("run", "seed") if c in rows[0])
    gap = {(int(r["step"]), int(r[run_col])): float(r["actor_loss"]) - float(r["actor_bc_loss"]) for r in rows}
    runs = sorted({k[1] for k in gap})
    assert len(runs) == 2
    no_warm_up, warm_up = runs
    assert all(abs(gap[s, no_warm_up]) > 1e-3 for s in (10, 20, 30))  # SAC's loss throughout
    assert gap[10, warm_up] == pytest.approx(0.0, abs=1e-5)            # updates 1-10: cloning
    assert abs(gap[30, warm_up]) > 1e-3                                # updates 21-30: SAC's


def test_saturated_actor_metric_counts_the_entries_whose_tanh_gradient_is_zero():
    """`actor_saturated` is the fraction of action entries at exactly +-1. float32 tanh rounds to
    1 from |x| of about 8, and there its gradient is exactly 0 (what froze ReBRAC's EDAC-init
    actors on halfcheetah-medium-replay): the metric is the count of those entries."""
    import jax
    x = jnp.array([[0.0, 3.0, 8.5], [-20.0, 45.0, -1.0]])
    pi = jnp.tanh(x)
    assert float(td3_bc.saturated(pi)) == pytest.approx(3 / 6)
    grads = jax.grad(lambda v: jnp.tanh(v).sum())(x)
    np.testing.assert_array_equal(np.asarray(grads == 0.0), np.asarray(jnp.abs(pi) == 1.0))
    state = _linear_state()  # pi = 0.5 s: s = 2 gives an action of exactly 1.0
    batch = {"observations": jnp.array([[2.0], [1.0]]), "actions": jnp.array([[1.0], [0.0]])}
    _, info = td3_bc.actor_loss(state.actor.params, ConfigDict(dict(alpha=2.5)), state, batch)
    assert float(info["actor_saturated"]) == pytest.approx(0.5)
