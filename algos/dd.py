"""Decision Diffuser (Ajay, Du, Gupta, Tenenbaum, Jaakkola & Agrawal 2023): return-conditioned
diffusion over state trajectories, acting through inverse dynamics.

A temporal U-Net (networks/unet.TemporalUNet with a return embedding) is a DDPM over the
`planning_horizon` states of a segment (the `segments` sampler), each dimension mapped through
the data's empirical CDF to [-1, 1] (data/discretise.CDFNormaliser; the data's own states:
`observation_transform=none`). It predicts the noise; the first state is given (its noise zero,
its loss weight 0). It is conditioned on the segment's discounted return from its first row
(`termination_penalty` at terminals) divided by `returns_scale`, the condition dropped (the
embedding zeroed) with probability `condition_dropout`, so the one network is both the
conditional and the unconditional model. An inverse-dynamics MLP (2 x `inverse_hidden`, ReLU)
regresses a_t from (s_t, s_t+1) of the same segments; the loss is the mean of the two (the
reference's 0.5 (diffusion + inverse)). The acting parameters are an EMA (`ema_decay` every
`ema_every` updates, a copy before `ema_start`).

Acting: one plan per env from x ~ N(0, `temperature`^2), the current state written in at every
step, the classifier-free noise eps_u + w (eps_c - eps_u) (w = `guidance_weight`) conditioned on
`target_return`, x_0 clipped to [-1, 1], the posterior's noise scaled by `temperature`; the
action is the inverse dynamics of the plan's first two states. `diffusion_sample_steps` respaces
sampling to fewer steps. A variant changes `guided_noise` or the inverse model.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, StitchError, diffusion_schedules as schedules, ema_update, trajectory_model_dtype
from data import discretise, samplers
from networks.diffusion import guided_sample, q_sample
from networks.inits import layer_init
from networks.unet import TemporalUNet

ACTIONS = "continuous"
SAMPLER = samplers.segments


class InverseDynamics(nn.Module):
    """(s_t, s_t+1) -> a_t: the reference's MLP, tanh-bounded to the action range."""
    action_dim: int
    hidden: int = 256
    init_scheme: str = "pytorch"

    @nn.compact
    def __call__(self, s, s_next):
        x = jnp.concatenate([s, s_next], axis=-1)
        for _ in range(2):
            k, b = layer_init(self.init_scheme, "hidden", x.shape[-1])
            x = nn.relu(nn.Dense(self.hidden, kernel_init=k, bias_init=b)(x))
        k, b = layer_init(self.init_scheme, "hidden", self.hidden)
        return jnp.tanh(nn.Dense(self.action_dim, kernel_init=k, bias_init=b)(x))


class DDState(struct.PyTreeNode):
    model: TrainState      # params {"unet", "inverse"}, one Adam
    ema_params: dict
    quantiles: jnp.ndarray  # the states' CDF normaliser
    step: jnp.ndarray


def _check_config(config):
    if config.observation_transform != "none":
        raise StitchError("Decision Diffuser normalises states by their empirical CDF itself. Fix: "
                          "--config.observation_transform=none.")


def _networks(config, spec: Spec):
    dtype = trajectory_model_dtype(config, spec, "Decision Diffuser's inverse dynamics", "regress continuous actions")
    if int(config.planning_horizon) < 2:
        raise StitchError("Decision Diffuser acts from the plan's first two states: planning_horizon must be >= 2.")
    unet = TemporalUNet(config.unet_dim, tuple(config.unet_dim_mults), returns_condition=True,
                        init_scheme=config.init, dtype=dtype)
    return unet, InverseDynamics(spec.action_dim, config.inverse_hidden, config.init)


def prepare(config, data, info):
    """The states' CDF normaliser, fitted on every row of the data (host, once)."""
    _check_config(config)
    observations = np.asarray(data["observations"])
    if "obs_index" in data:
        observations = observations[np.asarray(data["obs_index"])]
    return {"quantiles": np.asarray(discretise.fit_cdf(observations.reshape(len(observations), -1)).quantiles)}


def init(config, spec: Spec, rng, aux=None) -> DDState:
    _check_config(config)
    unet, inverse = _networks(config, spec)
    S = int(np.prod(spec.observation_shape))
    H = int(config.planning_horizon)
    one = jnp.ones((1,))
    unet_rng, inverse_rng = jax.random.split(rng)
    params = {"unet": unet.init(unet_rng, jnp.zeros((1, H, S)), jnp.zeros((1,), jnp.int32), one, one)["params"],
              "inverse": inverse.init(inverse_rng, jnp.zeros((1, S)), jnp.zeros((1, S)))["params"]}
    model = TrainState.create(apply_fn=None, params=params, tx=optax.adam(config.actor_lr))
    quantiles = aux["quantiles"] if aux is not None else np.tile(np.linspace(-1, 1, 11)[:, None], (1, S))
    return DDState(model=model, ema_params=params, quantiles=jnp.asarray(quantiles, jnp.float32),
                   step=jnp.zeros((), jnp.int32))


def _normalise(state: DDState, observations):
    return discretise.cdf_encode(discretise.CDFNormaliser(state.quantiles), observations)


def update(config, state: DDState, batch, rng):
    schedule, _ = schedules(config)
    unet, inverse = _networks(config, Spec((1,), "float32", batch["actions"].shape[-1], False))
    B, H = batch["mask"].shape
    x0 = _normalise(state, batch["observations"].reshape(B, H, -1))
    t_rng, noise_rng, drop_rng = jax.random.split(rng, 3)
    t = jax.random.randint(t_rng, (B,), 0, len(schedule.betas))
    noise = jax.random.normal(noise_rng, x0.shape).at[:, 0].set(0.0)  # the first state is given
    x_t = q_sample(schedule, x0, jnp.broadcast_to(t[:, None], (B, H)), noise).at[:, 0].set(x0[:, 0])
    keep = jax.random.bernoulli(drop_rng, 1.0 - config.condition_dropout, (B,)).astype(jnp.float32)
    returns = batch["returns"] / config.returns_scale
    weights = jnp.ones((H, 1)).at[0].set(0.0)

    def loss_fn(params):
        eps = unet.apply({"params": params["unet"]}, x_t, t, returns, keep)
        diffusion = jnp.mean(weights * jnp.square(eps - noise))
        pred = inverse.apply({"params": params["inverse"]}, x0[:, :-1], x0[:, 1:])
        real = batch["mask"][:, 1:, None]  # both states of the pair inside the episode
        inv = jnp.sum(real * jnp.square(pred - batch["actions"][:, :-1])) / jnp.maximum(jnp.sum(real) * pred.shape[-1], 1.0)
        return 0.5 * (diffusion + inv), (diffusion, inv)

    (loss, (diffusion, inv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.model.params)
    model = state.model.apply_gradients(grads=grads)
    step = state.step + 1
    state = state.replace(model=model, step=step, ema_params=ema_update(config, step, model.params, state.ema_params))
    return state, {"loss": loss, "diffusion_loss": diffusion, "inverse_loss": inv}


def guided_noise(unet, params, x, t, returns, w):
    """Classifier-free guidance: eps_u + w (eps_c - eps_u), both from one batched call."""
    n = x.shape[0]
    both = unet.apply({"params": params}, jnp.concatenate([x, x]), jnp.concatenate([t, t]),
                      jnp.concatenate([returns, returns]), jnp.concatenate([jnp.ones((n,)), jnp.zeros((n,))]))
    conditional, unconditional = both[:n], both[n:]
    return unconditional + w * (conditional - unconditional)


def plan(config, state: DDState, observations, rng):
    """(N, H, S) normalised state plans from N states."""
    _, schedule = schedules(config)
    N = observations.shape[0]
    S = int(np.prod(observations.shape[1:]))
    unet, _ = _networks(config, Spec((S,), "float32", 1, False))
    s0 = _normalise(state, observations.reshape(N, S))
    returns = jnp.full((N,), config.target_return, jnp.float32)
    model_fn = lambda x, t: guided_noise(unet, state.ema_params["unet"], x, t, returns, config.guidance_weight)
    return guided_sample(model_fn, schedule, rng, (N, int(config.planning_horizon), S),
                         lambda x: x.at[:, 0].set(s0), predict_epsilon=True, clip_x0=True,
                         temperature=config.temperature)


def act(config, state: DDState, observations, rng, deterministic: bool = True):
    del deterministic  # a sampled plan either way
    x = plan(config, state, observations, rng)
    A = jax.tree_util.tree_leaves(state.ema_params["inverse"])[-1].shape[-1]  # the output layer's width
    inverse = InverseDynamics(A, config.inverse_hidden, config.init)
    return inverse.apply({"params": state.ema_params["inverse"]}, x[:, 0], x[:, 1])


__all__ = ["DDState", "InverseDynamics", "init", "update", "act", "plan", "prepare", "guided_noise"]
