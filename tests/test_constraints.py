"""The constraint methods' math with numbers (issue 15): divergences, the VAE's ELBO, the mixture
head's density, and BCQ's target and action choice on hand-built cases."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState
from ml_collections import ConfigDict

from algos import bcq
from networks import ActionVAE, MixtureDist, MixtureGaussianPolicy, PerturbationPolicy, gaussian_kl, mmd, sampled_kl
from networks.generative import gaussian_kl_to_standard, vae_loss
from networks.policies import GaussianDist


def _mmd_by_hand(x, y, kernel, sigma):
    def k(a, b):
        d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
        return math.exp(-(np.abs(d).sum() if kernel == "laplacian" else (d ** 2).sum()) / (2 * sigma))

    def mean_k(p, q):
        return sum(k(a, b) for a, b in itertools.product(p, q)) / (len(p) * len(q))
    return math.sqrt(mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y) + 1e-6)


@pytest.mark.parametrize("kernel,sigma", [("laplacian", 10.0), ("laplacian", 0.5), ("gaussian", 20.0),
                                          ("gaussian", 0.3)])
def test_mmd_against_a_hand_computation(kernel, sigma):
    x = np.array([[0.1, -0.4], [0.7, 0.2], [-0.9, 0.5]])           # 3 policy samples
    y = np.array([[0.0, 0.0], [0.5, -0.5], [0.3, 0.8], [-1.0, 1.0]])  # 4 behaviour samples
    got = mmd(jnp.asarray(x), jnp.asarray(y), kernel, sigma)
    # rtol 1e-4: MMD^2 is a float32 difference of kernel means near 1 (a wide kernel's ~1e-3 gap)
    np.testing.assert_allclose(got, _mmd_by_hand(x, y, kernel, sigma), rtol=1e-4)
    # per leading index: a batch of two states, the second with identical samples (MMD ~ 0)
    both = mmd(jnp.stack([jnp.asarray(x[:3]), jnp.asarray(y[:3])]), jnp.stack([jnp.asarray(y[:3])] * 2),
               kernel, sigma)
    np.testing.assert_allclose(both, [_mmd_by_hand(x[:3], y[:3], kernel, sigma), math.sqrt(1e-6)], rtol=1e-4)


def test_gaussian_kl_closed_form_and_sampled_estimate():
    # KL(N(1, 0.5^2) || N(0, 1)) = log(1/0.5) + (0.25 + 1) / 2 - 0.5; summed over two equal dims.
    one = math.log(2.0) + 1.25 / 2 - 0.5
    got = gaussian_kl(jnp.array([1.0, 1.0]), jnp.log(jnp.array([0.5, 0.5])), jnp.zeros(2), jnp.zeros(2))
    np.testing.assert_allclose(got, 2 * one, rtol=1e-6)
    # a second pair with unequal scales: KL(N(0, 2^2) || N(1, 3^2)) = log(3/2) + (4 + 1) / 18 - 0.5
    got = gaussian_kl(jnp.array([0.0]), jnp.log(jnp.array([2.0])), jnp.array([1.0]), jnp.log(jnp.array([3.0])))
    np.testing.assert_allclose(got, math.log(1.5) + 5 / 18 - 0.5, rtol=1e-6)
    # the sampled estimate E_p[log p - log q] from 200k samples of p, within 3 standard errors
    p = GaussianDist(jnp.array([1.0, 1.0]), jnp.log(jnp.array([0.5, 0.5])), squash=False)
    q = GaussianDist(jnp.zeros(2), jnp.zeros(2), squash=False)
    xs = jax.vmap(p.sample)(jax.random.split(jax.random.PRNGKey(0), 200_000))
    log_ratio = p.log_prob(xs) - q.log_prob(xs)
    se = float(jnp.std(log_ratio)) / math.sqrt(len(xs))
    assert abs(float(sampled_kl(p.log_prob(xs), q.log_prob(xs))) - 2 * one) < 3 * se


def test_vae_elbo_pieces_against_hand_values():
    mean, log_std = jnp.array([[0.5, -1.0]]), jnp.log(jnp.array([[2.0, 0.5]]))
    # KL per element: 0.5 (mu^2 + s^2 - 1) - log s
    kl = [0.5 * (0.25 + 4.0 - 1.0) - math.log(2.0), 0.5 * (1.0 + 0.25 - 1.0) - math.log(0.5)]
    np.testing.assert_allclose(gaussian_kl_to_standard(mean, log_std), [kl], rtol=1e-6)
    # ... the closed-form KL of the divergences module to N(0, 1), summed
    np.testing.assert_allclose(gaussian_kl(mean, log_std, jnp.zeros(2), jnp.zeros(2)), [sum(kl)], rtol=1e-6)
    recon, actions = jnp.array([[0.2, 0.4, -0.1]]), jnp.array([[0.0, 1.0, 0.1]])
    mse = (0.04 + 0.36 + 0.04) / 3
    loss, info = vae_loss(recon, actions, mean, log_std, kl_weight=0.5)
    np.testing.assert_allclose(info["vae_recon"], mse, rtol=1e-6)
    np.testing.assert_allclose(info["vae_kl"], sum(kl) / 2, rtol=1e-6)  # averaged over elements
    np.testing.assert_allclose(loss, mse + 0.5 * sum(kl) / 2, rtol=1e-6)


def test_vae_samples_decode_the_clipped_latent():
    vae = ActionVAE(action_dim=2, latent_dim=4, hidden_dims=(16, 16), latent_clip=0.5)
    obs = jnp.ones((3, 5))
    params = vae.init(jax.random.PRNGKey(0), obs, jnp.zeros((3, 2)), jax.random.PRNGKey(1))
    rng = jax.random.PRNGKey(7)
    samples = vae.apply(params, obs, rng, 6, method=ActionVAE.sample)
    assert samples.shape == (6, 3, 2) and bool(jnp.all(jnp.abs(samples) <= 1.0))
    z = jnp.clip(jax.random.normal(rng, (6, 3, 4)), -0.5, 0.5)
    assert float(jnp.max(jnp.abs(jax.random.normal(rng, (6, 3, 4))))) > 0.5  # the clip does bind here
    # the broadcast-state decoding equals decoding each latent with its own copy of the state
    per_copy = vae.apply(params, jnp.broadcast_to(obs, (6, 3, 5)), z, method=ActionVAE.decode)
    np.testing.assert_allclose(samples, per_copy, rtol=1e-5, atol=1e-6)


def test_mixture_log_likelihood_against_a_hand_computation():
    logits = jnp.array([0.0, math.log(3.0)])  # weights 0.25, 0.75
    means = jnp.array([[-0.5, 0.0], [0.5, 0.2]])
    stds = np.array([[0.2, 0.4], [0.3, 0.1]])
    dist = MixtureDist(logits, means, jnp.log(jnp.asarray(stds)))
    a = np.array([0.1, 0.15])

    def normal(x, m, s):
        return math.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    density = sum(w * normal(a[0], m[0], s[0]) * normal(a[1], m[1], s[1])
                  for w, m, s in zip([0.25, 0.75], np.asarray(means), stds))
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(a)), math.log(density), rtol=1e-5)
    np.testing.assert_allclose(dist.mode(), means[1])  # the heaviest component's mean
    xs, lp = dist.sample_and_log_prob(jax.random.PRNGKey(0))
    np.testing.assert_allclose(lp, dist.log_prob(xs), rtol=1e-6)
    # samples come from the components in proportion to their weights
    xs = jax.vmap(dist.sample)(jax.random.split(jax.random.PRNGKey(1), 4000))
    # P(x_0 > 0) = sum_k w_k Phi(mean_k0 / std_k0); 4000 draws: binomial SE about 0.007
    expected = sum(w * 0.5 * (1 + math.erf(m / (s * math.sqrt(2))))
                   for w, m, s in zip([0.25, 0.75], np.asarray(means)[:, 0], stds[:, 0]))
    assert abs(float(jnp.mean(xs[:, 0] > 0.0)) - expected) < 0.025


def test_mixture_head_shapes_and_batched_density():
    head = MixtureGaussianPolicy(action_dim=2, hidden_dims=(16,), num_components=3)
    obs = jnp.ones((4, 5))
    params = head.init(jax.random.PRNGKey(0), obs)
    dist = head.apply(params, obs)
    assert dist.means.shape == (4, 3, 2) and dist.logits.shape == (4, 3)
    assert dist.log_prob(jnp.zeros((4, 2))).shape == (4,) and dist.mode().shape == (4, 2)
    # the components start apart: their initial means differ across the box
    assert float(jnp.std(dist.means[0], axis=0).min()) > 0.1


def test_perturbation_is_bounded_by_phi():
    xi = PerturbationPolicy(action_dim=3, hidden_dims=(16,), phi=0.05)
    obs, actions = jnp.ones((8, 4)), jax.random.uniform(jax.random.PRNGKey(2), (5, 8, 3), minval=-1, maxval=1)
    params = xi.init(jax.random.PRNGKey(0), obs, actions[0])
    # a large kernel so the tanh saturates: the bound, not a small network, keeps it within phi
    params = jax.tree_util.tree_map(lambda p: 50.0 * p, params)
    out = xi.apply(params, obs, actions)
    assert out.shape == actions.shape
    shift = jnp.abs(out - actions)
    assert float(shift.max()) <= 0.05 + 1e-6 and float(shift.max()) > 0.04
    assert bool(jnp.all(jnp.abs(out) <= 1.0))


def _hand_bcq_state(candidates, q_values):
    """BCQ state whose VAE proposes `candidates` (n, B, d), whose perturbation adds 0 and whose
    critics score candidate j of state b as q_values[:, j, b]; the data's own action scores 0."""
    tx = optax.sgd(0.0)
    vae = TrainState.create(apply_fn=lambda v, obs, rng, num, method=None: candidates, params={}, tx=tx)
    actor = TrainState.create(apply_fn=lambda v, obs, a: a, params={}, tx=tx)

    def critic_fn(v, obs, a):
        return q_values if a.ndim == 3 else jnp.zeros((2, a.shape[0]))
    critic = TrainState.create(apply_fn=critic_fn, params={}, tx=tx)
    return bcq.BCQState(actor=actor, critic=critic, vae=vae, target_actor_params={}, target_critic_params={},
                        step=jnp.zeros((), jnp.int32))


def test_bcq_target_against_the_formula():
    # 3 candidates for each of 2 next states; Q of the two critics per candidate:
    q = jnp.array([[[1.0, 5.0], [4.0, 0.0], [2.0, 2.0]],      # critic 1: (n=3, B=2)
                   [[3.0, 1.0], [0.0, 2.0], [2.5, 6.0]]])     # critic 2
    state = _hand_bcq_state(jnp.zeros((3, 2, 1)), q)
    config = ConfigDict(dict(bcq_n_actions=3, bcq_lambda=0.75, discount=0.9))
    batch = {"next_observations": jnp.zeros((2, 1)), "rewards": jnp.array([1.0, -1.0]),
             "terminals": jnp.array([0.0, 1.0])}
    # soft clipped: 0.75 min + 0.25 max per candidate; state 0: [1.5, 1.0, 2.125] -> max 2.125
    # (state 1: [2.0, 0.5, 3.0], but it is terminal)
    soft = [[0.75 * min(a, b) + 0.25 * max(a, b) for a, b in zip(q[0, :, i], q[1, :, i])] for i in range(2)]
    assert np.isclose(max(soft[0]), 2.125) and np.isclose(max(soft[1]), 3.0)
    target = bcq.critic_target(config, state, batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(target, [1.0 + 0.9 * 2.125, -1.0], rtol=1e-6)
    # lambda = 1 is clipped double Q: the max over candidates of the minimum ([1, 0, 2] for both)
    config.bcq_lambda, batch["terminals"] = 1.0, jnp.zeros(2)
    target = bcq.critic_target(config, state, batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(target, [1.0 + 0.9 * 2.0, -1.0 + 0.9 * 2.0], rtol=1e-6)


def test_bcq_acts_with_the_candidate_of_highest_first_critic():
    candidates = jnp.array([[[0.1], [0.2]], [[0.3], [0.4]], [[0.5], [0.6]]])  # (n=3, B=2, d=1)
    q = jnp.array([[[1.0, 9.0], [4.0, 0.0], [2.0, 2.0]],
                   [[9.0, 9.0], [0.0, 0.0], [9.0, 9.0]]])  # Q_2 would pick otherwise: BCQ acts on Q_1
    state = _hand_bcq_state(candidates, q)
    actions = bcq.act(ConfigDict(dict(bcq_act_samples=3)), state, jnp.zeros((2, 1)), jax.random.PRNGKey(0))
    np.testing.assert_allclose(actions, [[0.3], [0.2]])


def test_an_algorithms_own_field_is_checked_by_its_config_file():
    from configs import bcq as bcq_config
    from configs.base import validate
    config = bcq_config.get_config()
    assert validate(config) == []
    config.bcq_lambda = 1.5
    (problem,) = validate(config)
    assert "config.bcq_lambda=1.5 is invalid" in problem and "in [0, 1]" in problem and "--config.bcq_lambda" in problem


def test_awr_weights_with_and_without_standardising_and_the_clip():
    from algos import awr
    adv = jnp.array([-1.0, 0.0, 1.0, 4.0])
    raw = awr.advantage_weights(adv, temperature=1.0, weight_clip=20.0, standardise=False)
    np.testing.assert_allclose(raw, [math.exp(-1), 1.0, math.e, 20.0], rtol=1e-6)  # e^4 = 54.6 clipped to 20
    # standardised over the batch: mean 1, std sqrt(3.5); temperature 0.5 doubles the exponent
    z = (np.array([-1.0, 0.0, 1.0, 4.0]) - 1.0) / (math.sqrt(3.5) + awr.ADV_EPS)
    got = awr.advantage_weights(adv, temperature=0.5, weight_clip=5.0, standardise=True)
    np.testing.assert_allclose(got, np.minimum(np.exp(z / 0.5), 5.0), rtol=1e-5)
    assert float(got[-1]) == 5.0  # exp(2 * 1.60) = 24.6, clipped


def test_crr_binary_and_exponential_filters():
    from algos import crr
    adv = jnp.array([-2.0, -0.0, 0.5, 3.0])
    np.testing.assert_array_equal(crr.advantage_filter(adv, "binary", 1.0, 20.0), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(crr.advantage_filter(adv, "exp", 2.0, 20.0),
                               [math.exp(-1.0), 1.0, math.exp(0.25), math.exp(1.5)], rtol=1e-6)
    np.testing.assert_allclose(crr.advantage_filter(adv, "exp", 0.5, 20.0)[-1], 20.0)  # e^6 clipped


def test_crr_advantage_uses_the_mean_or_max_of_policy_samples():
    from algos import crr
    tx = optax.sgd(0.0)
    # Q(s, a) = a (one action dim, one critic); pi: samples drawn from fixed candidates
    critic = TrainState.create(apply_fn=lambda v, s, a: a[None, ..., 0], params={}, tx=tx)

    class Fixed:
        def sample(self, rng):
            return jax.random.choice(rng, jnp.array([[-0.5], [0.1], [0.6]]), (2,)).reshape(2, 1)
    actor = TrainState.create(apply_fn=lambda v, s: Fixed(), params={}, tx=tx)
    state = crr.CRRState(actor=actor, critic=critic, target_actor_params={}, target_critic_params={},
                         step=jnp.zeros((), jnp.int32))
    obs, actions = jnp.zeros((2, 1)), jnp.array([[0.3], [0.3]])
    rng = jax.random.PRNGKey(3)
    samples = jnp.clip(jax.vmap(Fixed().sample)(jax.random.split(rng, 4)), -1, 1)[..., 0]  # (4, B)
    for kind, value in (("mean", samples.mean(0)), ("max", samples.max(0))):
        config = ConfigDict(dict(crr_n_samples=4, crr_advantage=kind))
        np.testing.assert_allclose(crr.advantage(config, state, obs, actions, rng)[0], 0.3 - value, rtol=1e-6)


def test_bear_alpha_rises_above_epsilon_falls_below_and_is_clipped():
    from algos import bear
    tx_state = lambda v: TrainState.create(apply_fn=None, params={"log_alpha": jnp.asarray(v)},
                                           tx=optax.sgd(1.0))
    config = ConfigDict(dict(bear_epsilon=0.05, bear_log_alpha_max=10.0))
    state = bear.BEARState(actor=None, critic=None, vae=None, log_alpha=tx_state(0.0), target_actor_params={},
                           target_critic_params={}, step=jnp.zeros((), jnp.int32))
    # d/dlog_alpha of -exp(log_alpha) (mmd - eps) is -(mmd - eps): SGD(1) moves by +(mmd - eps)
    up = bear.alpha_step(config, state, jnp.asarray(0.25)).params["log_alpha"]
    down = bear.alpha_step(config, state, jnp.asarray(0.0)).params["log_alpha"]
    np.testing.assert_allclose([up, down], [0.2, -0.05], rtol=1e-5)
    high = state.replace(log_alpha=tx_state(9.9))
    assert float(bear.alpha_step(config, high, jnp.asarray(5.0)).params["log_alpha"]) == 10.0
    low = state.replace(log_alpha=tx_state(-4.99))
    assert float(bear.alpha_step(config, low, jnp.asarray(-5.0)).params["log_alpha"]) == -5.0


def _tiny(algo, **fields):
    from tests.conftest import tiny_config
    return tiny_config(algo, **fields)


def test_bear_warm_up_trains_the_actor_on_the_mmd_alone():
    from algos import bear
    from algos.common import Spec
    config = _tiny("bear", vae_hidden_dims=(16, 16), bear_warmup_steps=5)
    state = bear.init(config, Spec((3,), "float32", 2, False), jax.random.PRNGKey(0))
    batch = {"observations": jax.random.normal(jax.random.PRNGKey(1), (8, 3)),
             "actions": jnp.zeros((8, 2))}
    rng = jax.random.PRNGKey(2)
    warm, warm_info = bear.actor_loss(state.actor.params, config, state, batch, rng, jnp.asarray(0))
    after, info = bear.actor_loss(state.actor.params, config, state, batch, rng, jnp.asarray(5))
    np.testing.assert_allclose(warm, info["alpha"] * info["mmd"], rtol=1e-5)  # alpha * mean MMD only
    np.testing.assert_allclose(after - warm, -info["q_policy"], rtol=1e-4, atol=1e-6)  # then - Q joins


def test_brac_kl_to_itself_is_zero_and_grows_when_the_policy_moves():
    from algos import brac
    from algos.common import Spec
    config = _tiny("brac", actor_hidden_dims=(16, 16), behaviour_hidden_dims=(16, 16), brac_n_samples=64)
    state = brac.init(config, Spec((3,), "float32", 2, False), jax.random.PRNGKey(0))
    state = state.replace(behaviour=state.behaviour.replace(params=state.actor.params))  # pi_b = pi
    obs = jax.random.normal(jax.random.PRNGKey(1), (16, 3))
    kl = brac.divergence(config, state, state.actor.params, obs, jax.random.PRNGKey(2))
    # equal densities up to the behaviour's 1e-3 clip of the sampled actions: ~0 everywhere
    assert float(jnp.max(jnp.abs(kl))) < 0.05
    moved = jax.tree_util.tree_map(lambda p: p + 0.5, state.actor.params)
    assert float(brac.divergence(config, state, moved, obs, jax.random.PRNGKey(2)).mean()) > 0.5


@pytest.mark.parametrize("head", ["gaussian", "tanh_gaussian", "mixture", "latent"])
def test_fitting_the_behaviour_policy_lowers_its_negative_log_likelihood(head):
    """Every behaviour head BRAC and one-step take (one-step's policy is this network, copied);
    the latent head's negative log-likelihood is its negative ELBO, with a fresh latent per step."""
    from algos import brac
    from algos.common import Spec, fit_behaviour
    config = _tiny("brac", behaviour_hidden_dims=(16, 16), behaviour_lr=1e-2, behaviour_head=head)
    state = brac.init(config, Spec((3,), "float32", 2, False), jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
    batch = {"observations": obs, "actions": 0.9 * jnp.tanh(obs[:, :2])}  # a deterministic behaviour
    step = jax.jit(lambda s, k: fit_behaviour(config, s, batch, k))
    state, first = step(state, jax.random.PRNGKey(2))
    for k in range(200):
        state, last = step(state, jax.random.PRNGKey(3 + k))
    assert float(last["behaviour_nll"]) < float(first["behaviour_nll"]) - 1.0


def test_onestep_sarsa_bootstraps_from_the_logged_next_action():
    from algos import onestep
    tx = optax.sgd(0.0)
    # Q_i(s, a) = c_i * a  (scalar action): the target uses Q'(s', a'_logged) with a' from the batch
    critic = TrainState.create(apply_fn=lambda v, s, a: v["params"]["c"][:, None] * a[None, :, 0],
                               params={"c": jnp.array([1.0])}, tx=tx)
    state = onestep.OneStepState(actor=None, critic=critic, behaviour=None,
                                 target_critic_params={"c": jnp.array([2.0])}, step=jnp.zeros((), jnp.int32))
    batch = {"observations": jnp.zeros((2, 1)), "actions": jnp.array([[0.5], [1.0]]),
             "next_observations": jnp.zeros((2, 1)), "next_actions": jnp.array([[0.25], [-1.0]]),
             "rewards": jnp.array([1.0, 0.0]), "terminals": jnp.array([0.0, 1.0])}
    config = ConfigDict(dict(discount=0.9))
    # targets: 1 + 0.9 * 2 * 0.25 = 1.45 and 0 (terminal); Q = [0.5, 1.0]
    loss, _ = onestep.sarsa_loss(critic.params, config, state, batch)
    np.testing.assert_allclose(loss, ((0.5 - 1.45) ** 2 + 1.0) / 2, rtol=1e-6)


@pytest.mark.parametrize("head", ["gaussian", "mixture", "latent"])
def test_onestep_improvement_starts_from_the_fitted_behaviour_policy(head):
    from algos import onestep
    from algos.common import Spec
    config = _tiny("onestep", behaviour_hidden_dims=(16, 16), onestep_n_samples=2, behaviour_head=head)
    state = onestep.init(config, Spec((3,), "float32", 2, False), jax.random.PRNGKey(0))
    fitted = jax.tree_util.tree_map(lambda p: p + 1.0, state.behaviour.params)  # as if phase 1 ran
    state = state.replace(behaviour=state.behaviour.replace(params=fitted))
    batch = {"observations": jnp.ones((4, 3)), "actions": jnp.zeros((4, 2))}
    # one Adam step moves each parameter by about actor_lr (1e-4): the result is the copy, nearly
    new, _ = onestep.improve(config, state, batch, jax.random.PRNGKey(1), jnp.asarray(0))
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-2), new.actor.params, fitted)
    later, _ = onestep.improve(config, state, batch, jax.random.PRNGKey(1), jnp.asarray(1))  # no copy after 0
    diff = jax.tree_util.tree_map(lambda a, b: float(jnp.max(jnp.abs(a - b))), later.actor.params, fitted)
    assert max(jax.tree_util.tree_leaves(diff)) > 0.5


def test_the_mixture_head_acts_in_a_mode_where_the_gaussian_averages_them(tmp_path):
    """Two scripted behaviours (torques +-1.2 in the same states, data/collect.py): BC's Gaussian
    head acts between them, its mixture head in one of them, its latent head samples in them
    (scripts/multimodal.py's measure)."""
    from scripts.multimodal import measure
    result = measure(["gaussian", "mixture", "latent"], num_updates=1500, num_seeds=1, margin=0.3,
                     workdir=str(tmp_path), hidden=(32, 32))
    gaussian, mixture, latent = result["gaussian"], result["mixture"], result["latent"]
    assert gaussian["in_mode"][0] < 0.2 and gaussian["mean_abs_action"][0] < 0.6
    assert mixture["in_mode"][0] > 0.8 and mixture["mean_abs_action"][0] > 0.9
    # the latent (VAE) head keeps the modes in its samples; its z = 0 "mode" decodes between them
    assert latent["sampled_in_mode"][0] > 0.6 and latent["in_mode"][0] < 0.2


def test_latent_head_log_prob_is_the_elbo_by_hand():
    from networks.policies import LatentPolicy
    from networks.generative import ActionVAE
    head = LatentPolicy(action_dim=2, hidden_dims=(8,), decoder_std=0.1)
    obs, actions = jnp.ones((3, 4)), jnp.array([[0.2, -0.3], [0.0, 0.5], [0.9, -0.9]])
    params = head.init(jax.random.PRNGKey(0), obs)
    dist = head.apply(params, obs)
    mean, log_std = dist.vae.apply(dist.variables, obs, actions, method=ActionVAE.encode)
    recon = np.asarray(dist.vae.apply(dist.variables, obs, mean, method=ActionVAE.decode), np.float64)
    mu, ls, a = np.asarray(mean, np.float64), np.asarray(log_std, np.float64), np.asarray(actions, np.float64)
    log_lik = np.sum(-0.5 * ((a - recon) / 0.1) ** 2 - math.log(0.1) - 0.5 * math.log(2 * math.pi), axis=-1)
    kl = np.sum(0.5 * (mu ** 2 + np.exp(2 * ls) - 1) - ls, axis=-1)
    np.testing.assert_allclose(dist.log_prob(actions), log_lik - kl, rtol=1e-4)  # z = q's mean without an rng
    # with an rng the z is drawn from q: a different, finite value
    noisy = dist.log_prob(actions, jax.random.PRNGKey(1))
    assert bool(jnp.all(jnp.isfinite(noisy))) and not np.allclose(noisy, log_lik - kl)


def test_brac_dual_alpha_rises_with_the_divergence_and_stays_in_bounds():
    from algos import brac
    state_with = lambda v: brac.BRACState(
        actor=None, critic=None, behaviour=None, target_critic_params={}, step=jnp.zeros((), jnp.int32),
        alpha=TrainState.create(apply_fn=None, params={"alpha": jnp.asarray(v)}, tx=optax.sgd(1.0)))
    config = ConfigDict(dict(brac_target_divergence=0.5))
    # d/dalpha of -alpha (D - target) is -(D - target): SGD(1) moves alpha by +(D - target)
    np.testing.assert_allclose(brac.alpha_step(config, state_with(1.0), jnp.asarray(2.0)).params["alpha"], 2.5)
    np.testing.assert_allclose(brac.alpha_step(config, state_with(1.0), jnp.asarray(0.0)).params["alpha"], 0.5)
    assert float(brac.alpha_step(config, state_with(0.2), jnp.asarray(-1.0)).params["alpha"]) == 0.0
    assert float(brac.alpha_step(config, state_with(499.0), jnp.asarray(10.0)).params["alpha"]) == brac.ALPHA_MAX


@pytest.mark.parametrize("name,head", [("iql", "mixture"), ("awr", "latent"), ("awac", "diffusion")] + [
    pytest.param(name, head, marks=pytest.mark.slow)  # the rest of the matrix: `pytest --slow`
    for name in ("iql", "awac", "awr", "crr") for head in ("mixture", "latent", "diffusion")
    if (name, head) not in (("iql", "mixture"), ("awr", "latent"), ("awac", "diffusion"))])
def test_weighted_regression_methods_fit_each_multimodal_head(name, head):
    """`policy_head` wherever a method fits its policy by (weighted) likelihood: its own update,
    run through the driver's chunk, raises the policy's log-likelihood of the data's actions (a
    deterministic behaviour here), whatever the advantage weights are (the diffusion head's
    surrogate: minus its denoising loss at fixed noise)."""
    from tests.test_structure import _seed, case, chunk_fn, init_carry
    config, algo, spec, dataset = case(name, num_seeds=1, num_updates=300, policy_head=head, actor_lr=3e-3)  # IQL: cosine over the run
    dataset["actions"] = 0.8 * jnp.tanh(dataset["observations"][:, :2])
    carry = _seed(init_carry(config, algo, spec, dataset), 0)
    key = jax.random.PRNGKey(7)  # the latent head's ELBO noise, the same before and after

    def data_log_likelihood(state):
        dist = state.actor.apply_fn({"params": state.actor.params}, dataset["observations"])
        return float(jnp.mean(dist.log_prob(dataset["actions"], key)))

    before = data_log_likelihood(carry[0])
    (state, _), metrics = jax.jit(chunk_fn(config, algo, 300))(carry, dataset)
    assert np.all(np.isfinite(np.asarray(metrics["actor_loss"])))
    after = data_log_likelihood(state)
    assert after > before + 1.0, (before, after)  # measured: +3.5 to +26 over the 12 cases
