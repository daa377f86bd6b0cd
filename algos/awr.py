"""AWR: advantage-weighted regression (Peng, Kumar, Zhang & Levine, 2019), offline.

Supervised steps only: a value baseline regressed on the data's returns, and the policy fit by
likelihood on the data's actions weighted by their exponentiated advantage:
  V    minimise E[(G_t - V(s_t))^2],  G_t the discounted Monte-Carlo return-to-go within the
       logged episode (the `mc_returns` sampler; the paper's code uses TD(lambda) returns,
       which bootstrap where an episode was cut by a time limit, these do not)
  pi   maximise E[ w log pi(a_t|s_t) ],  w = min(exp(A_hat / beta), weight_clip),
       A = G_t - V(s_t), A_hat = A standardised (the paper's code: over its buffer; here over
       the batch), beta = `awr_temperature` (1.0), weight_clip 20.
The policy head is `policy_head` (gaussian | mixture | latent | diffusion: networks/policies.likelihood_policy).

For a variant change `advantage_weights` (e.g. no standardisation, or CRR's indicator).
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, actor_log_prob, create_train_state, make_optimizer, network_inputs, policy_head
from data import samplers
from networks import ValueNetwork

ACTIONS = "continuous"
SAMPLER = samplers.mc_returns
ADV_EPS = 1e-5


class AWRState(struct.PyTreeNode):
    actor: TrainState
    value: TrainState
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> AWRState:
    actor_rng, value_rng = jax.random.split(rng)
    obs, _, torso = network_inputs(config, spec)
    hidden = tuple(config.hidden_dims)
    actor = create_train_state(
        policy_head(config, spec, hidden, torso),
        actor_rng, (obs,), make_optimizer(config.actor_lr))
    value = create_train_state(ValueNetwork(hidden, torso=torso), value_rng, (obs,), make_optimizer(config.value_lr))
    return AWRState(actor=actor, value=value, step=jnp.zeros((), jnp.int32))


def value_loss(value_params, state: AWRState, batch):
    v = state.value.apply_fn({"params": value_params}, batch["observations"])
    loss = jnp.mean(jnp.square(batch["mc_returns"] - v))
    return loss, {"value_loss": loss, "v_data": v.mean(), "mc_return": batch["mc_returns"].mean()}


def advantage_weights(advantages, temperature, weight_clip, standardise: bool = True):
    """min(exp(A_hat / temperature), weight_clip), A_hat standardised over the batch if asked."""
    if standardise:
        advantages = (advantages - advantages.mean()) / (advantages.std() + ADV_EPS)
    return jnp.minimum(jnp.exp(advantages / temperature), weight_clip)


def actor_loss(actor_params, config, state: AWRState, batch, rng=None):
    v = state.value.apply_fn({"params": state.value.params}, batch["observations"])
    advantages = batch["mc_returns"] - v
    weights = jax.lax.stop_gradient(advantage_weights(advantages, config.awr_temperature, config.awr_weight_clip,
                                                      config.awr_standardise))
    dist = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    loss = -jnp.mean(weights * dist.log_prob(batch["actions"], rng))
    return loss, {"actor_loss": loss, "adv_weight": weights.mean(), "advantage": advantages.mean(),
                  "clipped_fraction": jnp.mean(weights >= config.awr_weight_clip)}


def update(config, state: AWRState, batch, rng):
    # As the paper's code: the value first, then the advantages from the updated value.
    (_, value_info), grads = jax.value_and_grad(value_loss, has_aux=True)(state.value.params, state, batch)
    state = state.replace(value=state.value.apply_gradients(grads=grads))
    (_, actor_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor.params, config, state, batch, rng)
    state = state.replace(actor=state.actor.apply_gradients(grads=grads), step=state.step + 1)
    return state, {**value_info, **actor_info}


def act(config, state: AWRState, observations, rng, deterministic: bool = True):
    del config
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    return jnp.clip(dist.mode() if deterministic else dist.sample(rng), -1.0, 1.0)


log_prob = actor_log_prob  # the likelihood policy's density (importance-sampling OPE)
