"""BEAR: bootstrapping error accumulation reduction (Kumar, Fu, Tucker & Levine, NeurIPS 2019).

Constrains the policy's *support* to the data's rather than its density: the actor maximises
the critics' value subject to a sampled MMD between its actions and a behaviour VAE's being at
most epsilon, through a Lagrange multiplier:
  VAE      G(s) ~ the data's actions (networks/generative.ActionVAE), as BCQ
  critic   y = r + gamma (1 - done) max_j [ lambda min_k Q'_k(s', a_j) + (1 - lambda) max_k Q'_k(s', a_j) ],
           a_j ~ pi'(.|s'), j = 1..n                          (BCQ's target, with pi' in place of G)
  actor    minimise E_s[ -min_k mean_j Q_k(s, a_j) + alpha * MMD(u_pi(s), u_G(s)) ]
           with m samples each (5); u are pre-tanh actions, the policy's drawn with its noise
           clipped to [-0.5, 0.5] (the authors' code). For the first `bear_warmup_steps`
           (20k: 20 epochs of the authors' README command) the actor minimises alpha * MMD only.
  alpha    log alpha ascends E[alpha (MMD - epsilon)], clipped to [-5, bear_log_alpha_max]
           (`bear_lagrange`; otherwise alpha = `bear_alpha`, fixed).
Acting: the best of `bear_act_samples` policy samples by Q_1, as the authors' select_action.
The kernels and the MMD estimate are networks/divergences.mmd.

For a variant change `support_penalty` (e.g. a sampled KL: BRAC's) or the reduction in `actor_loss`.
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.bcq import best_by_first_critic, latent_dim, soft_clipped_q, vae_step
from algos.common import Spec, create_train_state, critic_regression, make_optimizer, network_inputs, polyak_update
from networks import ActionVAE, QEnsemble, TanhGaussianPolicy, mmd

ACTIONS = "continuous"
LOG_ALPHA_MIN = -5.0


class BEARState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    vae: TrainState
    log_alpha: TrainState  # params {"log_alpha": scalar}: the Lagrange multiplier of the MMD constraint
    target_actor_params: dict
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> BEARState:
    actor_rng, critic_rng, vae_rng, noise_rng = jax.random.split(rng, 4)
    obs, act, torso = network_inputs(config, spec)
    hidden = tuple(config.hidden_dims)
    actor = create_train_state(TanhGaussianPolicy(spec.action_dim, hidden, torso=torso), actor_rng, (obs,),
                               make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(hidden, num_critics=config.num_critics, torso=torso), critic_rng,
                                (obs, act), make_optimizer(config.critic_lr))
    vae = create_train_state(
        ActionVAE(spec.action_dim, latent_dim(config, spec), tuple(config.vae_hidden_dims), torso=torso),
        vae_rng, (obs, act, noise_rng), make_optimizer(config.vae_lr))
    log_alpha = TrainState.create(apply_fn=None, params={"log_alpha": jnp.zeros(())},
                                  tx=make_optimizer(config.bear_alpha_lr))
    return BEARState(actor=actor, critic=critic, vae=vae, log_alpha=log_alpha,
                     target_actor_params=actor.params, target_critic_params=critic.params,
                     step=jnp.zeros((), jnp.int32))


def alpha(config, state: BEARState):
    if not config.bear_lagrange:
        return jnp.asarray(config.bear_alpha, jnp.float32)
    return jnp.exp(state.log_alpha.params["log_alpha"])


def _policy(state: BEARState, params, observations):
    return state.actor.apply_fn({"params": params}, observations)


def critic_target(config, state: BEARState, batch, rng):
    next_obs = batch["next_observations"]
    dist = _policy(state, state.target_actor_params, next_obs)
    actions = jax.vmap(dist.sample)(jax.random.split(rng, config.bear_n_actions))  # (n, B, d)
    qs = state.critic.apply_fn({"params": state.target_critic_params}, next_obs, actions)
    next_q = jnp.max(soft_clipped_q(qs, config.bear_lambda), axis=0)
    return batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q


def critic_loss(critic_params, config, state: BEARState, batch, rng):
    return critic_regression(state.critic, critic_params, batch, critic_target(config, state, batch, rng))


def clipped_noise_samples(dist, rng, num):
    """(tanh(u), u) with u = mean + std * clip(eps, -0.5, 0.5): the authors' sample_multiple,
    (num, batch, d) each."""
    eps = jnp.clip(jax.random.normal(rng, (num, *dist.mean.shape)), -0.5, 0.5)
    u = dist.mean + jnp.exp(dist.log_std) * eps
    return jnp.tanh(u), u


def support_penalty(config, state: BEARState, observations, policy_pre_tanh, rng):
    """Per-state MMD between the policy's and the VAE's pre-tanh samples, shape (batch,)."""
    behaviour = jax.lax.stop_gradient(state.vae.apply_fn(
        {"params": state.vae.params}, observations, rng, config.bear_n_samples, method=ActionVAE.sample_pre_tanh))
    per_state = lambda x: jnp.swapaxes(x, 0, 1)  # (n, B, d) -> (B, n, d): samples per state
    return mmd(per_state(policy_pre_tanh), per_state(behaviour), config.bear_kernel, config.bear_sigma)


def actor_loss(actor_params, config, state: BEARState, batch, rng, step):
    sample_rng, vae_rng = jax.random.split(rng)
    obs = batch["observations"]
    actions, pre_tanh = clipped_noise_samples(_policy(state, actor_params, obs), sample_rng, config.bear_n_samples)
    divergence = support_penalty(config, state, obs, pre_tanh, vae_rng)
    qs = jnp.mean(state.critic.apply_fn({"params": state.critic.params}, obs, actions), axis=1)  # (K, B)
    q = jnp.min(qs, axis=0) if config.bear_q_reduce == "min" else jnp.mean(qs, axis=0)
    improving = (step >= config.bear_warmup_steps).astype(jnp.float32)
    weight = jax.lax.stop_gradient(alpha(config, state))
    loss = jnp.mean(-improving * q + weight * divergence)
    return loss, {"actor_loss": loss, "q_policy": q.mean(), "mmd": divergence.mean(), "alpha": weight}


def alpha_step(config, state: BEARState, divergence):
    """Dual ascent on log alpha: alpha grows while the MMD exceeds epsilon."""
    def loss_fn(params):
        return -jnp.exp(params["log_alpha"]) * (divergence - config.bear_epsilon)

    grads = jax.grad(loss_fn)(state.log_alpha.params)
    log_alpha = state.log_alpha.apply_gradients(grads=grads)
    clipped = jnp.clip(log_alpha.params["log_alpha"], LOG_ALPHA_MIN, config.bear_log_alpha_max)
    return log_alpha.replace(params={"log_alpha": clipped})


def update(config, state: BEARState, batch, rng, step):
    vae_rng, critic_rng, actor_rng = jax.random.split(rng, 3)
    state, vae_info = vae_step(state, batch, vae_rng)
    (_, critic_info), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic.params, config, state, batch, critic_rng)
    state = state.replace(critic=state.critic.apply_gradients(grads=grads))
    (_, actor_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor.params, config, state, batch, actor_rng, step)
    actor = state.actor.apply_gradients(grads=grads)
    log_alpha = alpha_step(config, state, actor_info["mmd"]) if config.bear_lagrange else state.log_alpha
    state = state.replace(
        actor=actor, log_alpha=log_alpha, step=state.step + 1,
        target_actor_params=polyak_update(actor.params, state.target_actor_params, config.tau),
        target_critic_params=polyak_update(state.critic.params, state.target_critic_params, config.tau))
    return state, {**vae_info, **critic_info, **actor_info}


def act(config, state: BEARState, observations, rng, deterministic: bool = True):
    """The best of `bear_act_samples` policy samples by Q_1 (random either way, as BCQ's)."""
    del deterministic
    dist = _policy(state, state.actor.params, observations)
    candidates = jax.vmap(dist.sample)(jax.random.split(rng, config.bear_act_samples))  # (n, B, d)
    return best_by_first_critic(state.critic, observations, candidates)

