"""BCQ: batch-constrained deep Q-learning, continuous actions (Fujimoto, Meger & Precup, ICML 2019).

The policy only chooses among actions a generative model of the data proposes, nudged by a
small learned perturbation, so Q is never maximised over actions the data does not support:
  VAE      G(s) ~ the data's actions (networks/generative.ActionVAE; latent clipped at sampling)
  policy   pi(s) = argmax_j Q_1(s, a_j),  a_j = xi(s, G_j(s)),  j = 1..n_act,
           xi(s, a) = a + phi * tanh(f(s, a))  (at most phi per dimension, 0.05)
  critic   y = r + gamma (1 - done) max_j [ lambda min_k Q'_k(s', a'_j) + (1 - lambda) max_k Q'_k(s', a'_j) ],
           a'_j = xi'(s', G_j(s')), j = 1..n  (n = 10, lambda = 0.75: soft clipped double Q)
  xi       maximise Q_1(s, xi(s, G(s)))  (deterministic policy gradient through the perturbation)
Per update, as the authors' code: VAE, then critic (with the updated VAE), then perturbation,
then Polyak targets of critic and perturbation.

For a variant change `critic_target` (e.g. lambda = 1: plain clipped double Q) or `act`.
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, create_train_state, critic_regression, make_optimizer, network_inputs, polyak_update
from networks import ActionVAE, PerturbationPolicy, QEnsemble, vae_loss

ACTIONS = "continuous"


class BCQState(struct.PyTreeNode):
    actor: TrainState   # the perturbation model xi
    critic: TrainState
    vae: TrainState
    target_actor_params: dict
    target_critic_params: dict
    step: jnp.ndarray


def latent_dim(config, spec: Spec) -> int:
    return config.vae_latent_dim or 2 * spec.action_dim  # the authors': twice the action dimension


def init(config, spec: Spec, rng) -> BCQState:
    actor_rng, critic_rng, vae_rng, noise_rng = jax.random.split(rng, 4)
    obs, act, torso = network_inputs(config, spec)
    hidden = tuple(config.hidden_dims)
    actor = create_train_state(PerturbationPolicy(spec.action_dim, hidden, config.bcq_phi, torso), actor_rng,
                               (obs, act), make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(hidden, num_critics=2, torso=torso), critic_rng, (obs, act),
                                make_optimizer(config.critic_lr))
    vae = create_train_state(
        ActionVAE(spec.action_dim, latent_dim(config, spec), tuple(config.vae_hidden_dims), torso=torso),
        vae_rng, (obs, act, noise_rng), make_optimizer(config.vae_lr))
    return BCQState(actor=actor, critic=critic, vae=vae, target_actor_params=actor.params,
                    target_critic_params=critic.params, step=jnp.zeros((), jnp.int32))


def vae_samples(state: BCQState, observations, rng, num):
    """`num` actions per state from the VAE, (num, batch, d)."""
    return state.vae.apply_fn({"params": state.vae.params}, observations, rng, num, method=ActionVAE.sample)


def soft_clipped_q(qs, lmbda):
    """lambda min_k Q_k + (1 - lambda) max_k Q_k over the ensemble axis 0."""
    return lmbda * jnp.min(qs, axis=0) + (1.0 - lmbda) * jnp.max(qs, axis=0)


def critic_target(config, state: BCQState, batch, rng):
    next_obs = batch["next_observations"]
    candidates = state.actor.apply_fn({"params": state.target_actor_params}, next_obs,
                                      vae_samples(state, next_obs, rng, config.bcq_n_actions))
    qs = state.critic.apply_fn({"params": state.target_critic_params}, next_obs, candidates)  # (2, n, B)
    next_q = jnp.max(soft_clipped_q(qs, config.bcq_lambda), axis=0)
    return batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q


def critic_loss(critic_params, config, state: BCQState, batch, rng):
    return critic_regression(state.critic, critic_params, batch, critic_target(config, state, batch, rng))


def actor_loss(actor_params, config, state: BCQState, batch, rng):
    del config
    obs = batch["observations"]
    generated = jax.lax.stop_gradient(vae_samples(state, obs, rng, None))
    actions = state.actor.apply_fn({"params": actor_params}, obs, generated)
    q = state.critic.apply_fn({"params": state.critic.params}, obs, actions)[0]  # Q_1, as the authors
    loss = -jnp.mean(q)
    return loss, {"actor_loss": loss, "q_policy": q.mean(),
                  "perturbation": jnp.mean(jnp.abs(actions - generated))}


def vae_step(state: BCQState, batch, rng):
    def loss_fn(params):
        recon, mean, log_std = state.vae.apply_fn({"params": params}, batch["observations"], batch["actions"], rng)
        return vae_loss(recon, batch["actions"], mean, log_std)

    (loss, info), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.vae.params)
    return state.replace(vae=state.vae.apply_gradients(grads=grads)), {"vae_loss": loss, **info}


def update(config, state: BCQState, batch, rng):
    vae_rng, critic_rng, actor_rng = jax.random.split(rng, 3)
    state, vae_info = vae_step(state, batch, vae_rng)
    (_, critic_info), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic.params, config, state, batch, critic_rng)
    state = state.replace(critic=state.critic.apply_gradients(grads=grads))
    (_, actor_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor.params, config, state, batch, actor_rng)
    actor = state.actor.apply_gradients(grads=grads)
    state = state.replace(
        actor=actor, step=state.step + 1,
        target_actor_params=polyak_update(actor.params, state.target_actor_params, config.tau),
        target_critic_params=polyak_update(state.critic.params, state.target_critic_params, config.tau))
    return state, {**vae_info, **critic_info, **actor_info}


def act(config, state: BCQState, observations, rng, deterministic: bool = True):
    """argmax over Q_1 of `bcq_act_samples` perturbed VAE samples per state. The samples are
    random either way: `deterministic` has nothing to switch off in BCQ's policy."""
    del deterministic
    candidates = state.actor.apply_fn({"params": state.actor.params}, observations,
                                      vae_samples(state, observations, rng, config.bcq_act_samples))
    return best_by_first_critic(state.critic, observations, candidates)


def best_by_first_critic(critic: TrainState, observations, candidates):
    """Per state, the candidate action (n, B, d) that Q_1 values most: (B, d)."""
    q = critic.apply_fn({"params": critic.params}, observations, candidates)[0]  # (n, B)
    best = jnp.argmax(q, axis=0)
    return jnp.take_along_axis(candidates, best[None, :, None], axis=0)[0]
