"""Diffuser (Janner, Du, Tenenbaum & Levine 2022): planning by denoising whole trajectories.

A temporal U-Net (networks/unet.TemporalUNet) is a DDPM over trajectories of `planning_horizon`
rows (a_t, s_t), cut by the `segments` sampler. Training: a step t and noise per trajectory, the
first state written back in (the known part of every plan: inpainting), the network predicts x_0
(or the noise with `predict_epsilon`), a squared error weighted `action_weight` on the first
action and 1 elsewhere (the first state, known, weighs 0 when predicting noise). A guide
(networks/unet.TemporalValue) regresses the discounted return from the segment's first row
(`termination_penalty` added at terminals) from the same noisy trajectories at the same step.
Both keep an EMA (`ema_decay` every `ema_every` updates, a copy before `ema_start`), which acts.

Acting samples `plan_samples` trajectories per env with the current state written in at every
step, each step first nudged `guide_steps` times up the guide's gradient (scaled by the step's
posterior variance, `guide_scale`, none at steps below `guide_t_stop`), keeps the one the guide
values highest and takes its first action. Sampling uses `diffusion_sample_steps` of the
`diffusion_steps` (respaced; 0: all). Acting is stochastic either way (the sampler's noise).

A variant changes `loss_weights`, the guide's target (`batch["returns"]`) or how `act` picks
among the plans (the highest guide value).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, diffusion_schedules as schedules, ema_update, trajectory_model_dtype
from data import samplers
from networks.diffusion import guided_sample, q_sample
from networks.unet import TemporalUNet, TemporalValue

ACTIONS = "continuous"
SAMPLER = samplers.segments


class DiffuserState(struct.PyTreeNode):
    model: TrainState      # the trajectory U-Net
    ema_params: dict       # its EMA, which plans
    value: TrainState      # the guide
    value_ema_params: dict
    step: jnp.ndarray
    action_dim: int = struct.field(pytree_node=False, default=0)


def _dims(spec: Spec):
    return spec.action_dim, int(np.prod(spec.observation_shape))


def _networks(config, spec: Spec):
    dtype = trajectory_model_dtype(config, spec, "Diffuser", "denoises continuous action trajectories")
    unet = TemporalUNet(config.unet_dim, tuple(config.unet_dim_mults), init_scheme=config.init, dtype=dtype)
    value = TemporalValue(config.unet_dim, tuple(config.unet_dim_mults), init_scheme=config.init, dtype=dtype)
    return unet, value


def init(config, spec: Spec, rng) -> DiffuserState:
    unet, value = _networks(config, spec)
    A, S = _dims(spec)
    x = jnp.zeros((1, int(config.planning_horizon), A + S))
    t = jnp.zeros((1,), jnp.int32)
    unet_rng, value_rng = jax.random.split(rng)
    model = TrainState.create(apply_fn=unet.apply, params=unet.init(unet_rng, x, t)["params"],
                              tx=optax.adam(config.actor_lr))
    guide = TrainState.create(apply_fn=value.apply, params=value.init(value_rng, x, t)["params"],
                              tx=optax.adam(config.critic_lr))
    return DiffuserState(model=model, ema_params=model.params, value=guide, value_ema_params=guide.params,
                         step=jnp.zeros((), jnp.int32), action_dim=A)


def trajectories(batch):
    """(B, H, A + S) rows [a_t, s_t] of a segments batch."""
    B, H = batch["mask"].shape
    return jnp.concatenate([batch["actions"], batch["observations"].reshape(B, H, -1)], axis=-1)


def condition(x, observations, A: int):
    """Write each trajectory's known first state in (Diffuser's apply_conditioning)."""
    return x.at[:, 0, A:].set(observations.reshape(x.shape[0], -1))


def loss_weights(config, H: int, A: int, C: int):
    """(H, C): `action_weight` on the first action, 0 on the first state when predicting noise
    (it is given, its noise zero), 1 elsewhere."""
    w = np.ones((H, C), np.float32)
    w[0, :A] = config.action_weight
    if config.predict_epsilon:
        w[0, A:] = 0.0
    return jnp.asarray(w)


def noisy_trajectories(config, schedule, x0, A: int, rng):
    """(x_t with the first state kept, t (B,), the noise) for a batch of trajectories x0."""
    t_rng, noise_rng = jax.random.split(rng)
    B, H, _ = x0.shape
    t = jax.random.randint(t_rng, (B,), 0, len(schedule.betas))
    noise = jax.random.normal(noise_rng, x0.shape).at[:, 0, A:].set(0.0)  # the known state stays
    x_t = condition(q_sample(schedule, x0, jnp.broadcast_to(t[:, None], (B, H)), noise), x0[:, 0, A:], A)
    return x_t, t, noise


def update(config, state: DiffuserState, batch, rng):
    schedule, _ = schedules(config)
    x0 = trajectories(batch)
    B, H, C = x0.shape
    A = batch["actions"].shape[-1]
    x_t, t, noise = noisy_trajectories(config, schedule, x0, A, rng)
    weights = loss_weights(config, H, A, C)

    def diffusion_loss(params):
        out = state.model.apply_fn({"params": params}, x_t, t)
        target = noise if config.predict_epsilon else x0
        out = out if config.predict_epsilon else condition(out, x0[:, 0, A:], A)
        return jnp.mean(weights * jnp.square(out - target))

    def value_loss(params):
        v = state.value.apply_fn({"params": params}, x_t, t)
        return jnp.mean(jnp.square(v - batch["returns"])), v

    loss, grads = jax.value_and_grad(diffusion_loss)(state.model.params)
    model = state.model.apply_gradients(grads=grads)
    (vloss, v), vgrads = jax.value_and_grad(value_loss, has_aux=True)(state.value.params)
    value = state.value.apply_gradients(grads=vgrads)
    step = state.step + 1
    state = state.replace(model=model, value=value, step=step,
                          ema_params=ema_update(config, step, model.params, state.ema_params),
                          value_ema_params=ema_update(config, step, value.params, state.value_ema_params))
    return state, {"diffusion_loss": loss, "value_loss": vloss, "value_mean": v.mean()}


def plan(config, state: DiffuserState, observations, rng):
    """(plans (N, samples, H, A + S), their values (N, samples)) for N states."""
    _, schedule = schedules(config)
    N, n = observations.shape[0], int(config.plan_samples)
    flat = jnp.repeat(observations.reshape(N, -1), n, axis=0)
    A = state.action_dim
    x_shape = (N * n, int(config.planning_horizon), A + flat.shape[-1])
    model_fn = lambda x, t: state.model.apply_fn({"params": state.ema_params}, x, t)
    guide = lambda x, t: state.value.apply_fn({"params": state.value_ema_params}, x, t)
    x = guided_sample(model_fn, schedule, rng, x_shape, lambda x: condition(x, flat, A),
                      predict_epsilon=bool(config.predict_epsilon), clip_x0=bool(config.clip_denoised),
                      guide=guide, guide_steps=int(config.guide_steps), guide_scale=config.guide_scale,
                      guide_t_stop=int(config.guide_t_stop))
    values = guide(x, jnp.zeros((N * n,), jnp.int32))
    return x.reshape(N, n, *x_shape[1:]), values.reshape(N, n)


def act(config, state: DiffuserState, observations, rng, deterministic: bool = True):
    del deterministic  # a sampled plan either way
    plans, values = plan(config, state, observations, rng)
    best = jnp.argmax(values, axis=1)
    first = plans[jnp.arange(plans.shape[0]), best, 0]
    return jnp.clip(first[:, :state.action_dim], -1.0, 1.0)


__all__ = ["DiffuserState", "init", "update", "act", "plan", "trajectories", "condition", "loss_weights",
           "ema_update", "noisy_trajectories", "schedules"]
