"""Denoising diffusion (DDPM, Ho et al. 2020) over actions: the schedule, its closed forms, the
sampler, and a state-conditioned noise model usable as a policy head.

The forward process noises x_0 in T steps, q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),
so with alpha_t = 1 - beta_t and abar_t = prod_{s <= t} alpha_s (steps indexed 0..T-1 here):
  x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps                               (q_sample)
  q(x_{t-1} | x_t, x_0) = N(c0 x_0 + ct x_t, beta~_t I),                      (posterior)
     c0 = sqrt(abar_{t-1}) beta_t / (1 - abar_t),  ct = sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t),
     beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t),  abar_{-1} = 1.
A network eps(x_t, t | s) predicts the noise; putting its x_0 = (x_t - sqrt(1 - abar_t) eps) /
sqrt(abar_t) into the posterior gives the sampler's step mean (x_t - beta_t / sqrt(1 - abar_t) eps)
/ sqrt(alpha_t), and the sampler adds sqrt(beta_t) z (Ho et al.'s sigma_t^2 = beta_t, as IDQL).

Fewer sampling steps than training steps: `respace` keeps a subset of the training steps with
betas recomputed so the kept abar are unchanged (Nichol & Dhariwal 2021); the network is still
called with the original step index (`timesteps`).

`DiffusionPolicy` is IDQL's noise model (Hansen-Estruch et al. 2023, its jaxrl5 code): learnable
Fourier features of t through a 2-layer Mish MLP, concatenated with the action and the state, into
a residual MLP of LayerNorm'd blocks (Dense 4x, Mish, Dense) with dropout. As a likelihood head
(`policy_head=diffusion`) it returns a `DiffusionDist`: `sample` runs the sampler, `mode` the
sampler without noise, and `log_prob` is the negative denoising loss at one random step, the
ELBO's surrogate that every DDPM is fitted by (not a density: importance sampling cannot use it).
"""
import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from networks.inits import layer_init
from networks.torsos import Torso, TorsoSpec

BETA_SCHEDULES = ("vp", "cosine", "linear")


def vp_beta_schedule(T: int):
    """The variance-preserving SDE's betas discretised to T steps (beta_min 0.1, beta_max 10):
    1 - exp(-b_min / T - (b_max - b_min) (2t - 1) / (2 T^2)), t = 1..T (IDQL's default)."""
    t = np.arange(1, T + 1, dtype=np.float64)
    b_min, b_max = 0.1, 10.0
    return 1.0 - np.exp(-b_min / T - 0.5 * (b_max - b_min) * (2 * t - 1) / T ** 2)


def cosine_beta_schedule(T: int, s: float = 0.008):
    """Nichol & Dhariwal's cosine schedule: abar(t) = cos^2((t/T + s) / (1 + s) pi/2) normalised,
    betas clipped at 0.999 (Diffuser's default)."""
    t = np.linspace(0, T, T + 1) / T
    abar = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    abar = abar / abar[0]
    return np.clip(1.0 - abar[1:] / abar[:-1], 0.0, 0.999)


def linear_beta_schedule(T: int, start: float = 1e-4, end: float = 2e-2):
    return np.linspace(start, end, T)


class Schedule(NamedTuple):
    """Per-step arrays of one diffusion process (length = its sampling steps)."""
    betas: jnp.ndarray
    alphas: jnp.ndarray
    alpha_bars: jnp.ndarray
    one_minus_alpha_bars: jnp.ndarray  # computed in float64: 1 - abar_0 = beta_0 is tiny
    timesteps: jnp.ndarray  # the training step index each entry is (arange(T) unless respaced)


def _from_alpha_bars(alpha_bars, timesteps) -> Schedule:
    alpha_bars = np.asarray(alpha_bars, np.float64)
    previous = np.concatenate([[1.0], alpha_bars[:-1]])
    alphas = alpha_bars / previous
    # concrete arrays even when built inside a jitted function (a policy's act): `respace` reads
    # them back on the host
    with jax.ensure_compile_time_eval():
        f32 = lambda x: jnp.asarray(x, jnp.float32)
        return Schedule(f32(1.0 - alphas), f32(alphas), f32(alpha_bars), f32(1.0 - alpha_bars),
                        jnp.asarray(timesteps, jnp.int32))


def make_schedule(kind: str, T: int) -> Schedule:
    if kind not in BETA_SCHEDULES:
        raise ValueError(f"Unknown beta schedule '{kind}'; use one of {BETA_SCHEDULES}.")
    betas = {"vp": vp_beta_schedule, "cosine": cosine_beta_schedule, "linear": linear_beta_schedule}[kind](int(T))
    return _from_alpha_bars(np.cumprod(1.0 - betas), np.arange(int(T)))


def respace(schedule: Schedule, steps: int) -> Schedule:
    """`steps` evenly spaced steps of `schedule` (its first and last kept), same abar at each."""
    T = len(schedule.betas)
    if not 1 <= steps <= T:
        raise ValueError(f"Cannot sample in {steps} steps a diffusion trained with {T}: use 1..{T}.")
    keep = np.unique(np.round(np.linspace(0, T - 1, steps)).astype(int))
    return _from_alpha_bars(np.asarray(schedule.alpha_bars)[keep], np.asarray(schedule.timesteps)[keep])


def q_sample(schedule: Schedule, x0, t, noise):
    """x_t given x_0 (t: integer step indices broadcast against x0's leading axes)."""
    abar, rest = schedule.alpha_bars[t][..., None], schedule.one_minus_alpha_bars[t][..., None]
    return jnp.sqrt(abar) * x0 + jnp.sqrt(rest) * noise


def posterior(schedule: Schedule, x0, x_t, t):
    """(mean, variance) of q(x_{t-1} | x_t, x_0)."""
    rest = schedule.one_minus_alpha_bars[t][..., None]
    previous = jnp.maximum(t - 1, 0)
    abar_prev = jnp.where(t > 0, schedule.alpha_bars[previous], 1.0)[..., None]
    rest_prev = jnp.where(t > 0, schedule.one_minus_alpha_bars[previous], 0.0)[..., None]
    beta, alpha = schedule.betas[t][..., None], schedule.alphas[t][..., None]
    mean = (jnp.sqrt(abar_prev) * beta * x0 + jnp.sqrt(alpha) * rest_prev * x_t) / rest
    return mean, beta * rest_prev / rest


def predict_x0(schedule: Schedule, x_t, t, eps):
    abar, rest = schedule.alpha_bars[t][..., None], schedule.one_minus_alpha_bars[t][..., None]
    return (x_t - jnp.sqrt(rest) * eps) / jnp.sqrt(abar)


def step_mean(schedule: Schedule, x_t, t, eps):
    """The reverse step's mean from a noise prediction (the posterior mean at predicted x_0)."""
    beta, alpha, rest = (a[t][..., None] for a in (schedule.betas, schedule.alphas, schedule.one_minus_alpha_bars))
    return (x_t - beta / jnp.sqrt(rest) * eps) / jnp.sqrt(alpha)


def ddpm_sample(eps_fn, schedule: Schedule, rng, shape, clip: bool = True, temperature: float = 1.0):
    """x_0 from x_{T-1} ~ N(0, temperature^2 I) (x = 0 when temperature is 0), by the reverse
    steps T-1..0 in one lax.scan; eps_fn(x_t, timesteps) gets the training step index of
    each entry. `clip` keeps every iterate in [-1, 1] (IDQL's clip_sampler, actions' range)."""
    start_rng, rng = jax.random.split(rng)
    x = temperature * jax.random.normal(start_rng, shape)

    def step(carry, k):
        x, rng = carry
        rng, noise_rng = jax.random.split(rng)
        t = jnp.full(shape[:-1], k, jnp.int32)
        mean = step_mean(schedule, x, t, eps_fn(x, schedule.timesteps[t]))
        x = mean + (k > 0) * temperature * jnp.sqrt(schedule.betas[k]) * jax.random.normal(noise_rng, shape)
        return (jnp.clip(x, -1.0, 1.0) if clip else x, rng), None

    (x, _), _ = jax.lax.scan(step, (x, rng), jnp.arange(len(schedule.betas) - 1, -1, -1))
    return jnp.clip(x, -1.0, 1.0) if clip else x



def guided_sample(model_fn, schedule: Schedule, rng, shape, condition=lambda x: x, predict_epsilon: bool = True,
                  clip_x0: bool = False, temperature: float = 1.0, guide=None, guide_steps: int = 0,
                  guide_scale: float = 0.0, guide_t_stop: int = 0, guide_by_variance: bool = True):
    """x_0 of shape (batch, ..., channels) by ancestral sampling through the posterior (the
    Diffuser family's sampler): from x ~ N(0, temperature^2 I), each step k = T-1..0
      1. `guide_steps` times, x += guide_scale * g, g the gradient of sum(guide(x, t)) (scaled by
         the step's posterior variance with `guide_by_variance`; zero at steps t < guide_t_stop),
         then `condition` (Diffuser's value guidance);
      2. x_0 = model_fn(x, t) (a noise prediction turned into x_0 when `predict_epsilon`),
         clipped to [-1, 1] with `clip_x0`;
      3. x = posterior mean(x_0, x) + temperature * sqrt(posterior variance) z (no noise at k = 0),
         then `condition`: it writes the known entries (inpainting), e.g. the current state.
    model_fn and guide get the training step index of the entry (`schedule.timesteps`, respaced
    schedules included)."""
    start_rng, rng = jax.random.split(rng)
    x = condition(temperature * jax.random.normal(start_rng, shape))
    steps = shape[:1]

    def step(carry, k):
        x, rng = carry
        rng, noise_rng = jax.random.split(rng)
        t = jnp.full(x.shape[:-1], k, jnp.int32)
        index = jnp.full(steps, schedule.timesteps[k], jnp.int32)
        _, variance = posterior(schedule, x, x, t)
        for _ in range(guide_steps if guide is not None else 0):
            g = jax.grad(lambda y: jnp.sum(guide(y, index)))(x)
            g = variance * g if guide_by_variance else g
            x = condition(x + guide_scale * jnp.where(schedule.timesteps[k] < guide_t_stop, 0.0, g))
        out = model_fn(x, index)
        x0 = predict_x0(schedule, x, t, out) if predict_epsilon else out
        x0 = jnp.clip(x0, -1.0, 1.0) if clip_x0 else x0
        mean, variance = posterior(schedule, x0, x, t)
        x = mean + (k > 0) * temperature * jnp.sqrt(variance) * jax.random.normal(noise_rng, x.shape)
        return (condition(x), rng), None

    (x, _), _ = jax.lax.scan(step, (x, rng), jnp.arange(len(schedule.betas) - 1, -1, -1))
    return x

def mish(x):
    return x * jnp.tanh(nn.softplus(x))


class FourierFeatures(nn.Module):
    """[cos(2 pi t W), sin(2 pi t W)] with a learned W ~ N(0, 0.2^2) of `size` / 2 rows."""
    size: int = 64

    @nn.compact
    def __call__(self, t):
        w = self.param("kernel", nn.initializers.normal(0.2), (self.size // 2, t.shape[-1]))
        f = 2 * jnp.pi * t @ w.T
        return jnp.concatenate([jnp.cos(f), jnp.sin(f)], axis=-1)


def _dense(width, fan_in, init):
    """A Dense layer initialised as the config's scheme's hidden layers (networks/inits.py)."""
    kernel, bias = layer_init(init, "hidden", fan_in)
    return nn.Dense(width, kernel_init=kernel, bias_init=bias)


class ResidualBlock(nn.Module):
    """x + Dense(Mish(Dense_4x(LayerNorm(Dropout(x)))))."""
    width: int
    dropout: float = 0.0
    layer_norm: bool = True
    init: str = "glorot"

    @nn.compact
    def __call__(self, x, deterministic: bool):
        h = nn.Dropout(self.dropout)(x, deterministic=deterministic) if self.dropout > 0 else x
        h = nn.LayerNorm()(h) if self.layer_norm else h
        h = _dense(4 * self.width, self.width, self.init)(h)
        return x + _dense(self.width, 4 * self.width, self.init)(mish(h))


class NoiseModel(nn.Module):
    """eps(s, x_t, t): IDQL's noise network (module docstring)."""
    action_dim: int
    width: int = 256
    num_blocks: int = 3
    dropout: float = 0.1
    layer_norm: bool = True
    time_dim: int = 64
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, noisy_actions, t, deterministic: bool = True):
        features = Torso(self.torso)(observations)
        features = jnp.broadcast_to(features, noisy_actions.shape[:-1] + features.shape[-1:])
        time = FourierFeatures(self.time_dim)(jnp.asarray(t, jnp.float32)[..., None])
        init = self.torso.init
        time = _dense(128, 128, init)(mish(_dense(128, self.time_dim, init)(time)))
        x = jnp.concatenate([noisy_actions, features, time], axis=-1)
        x = _dense(self.width, x.shape[-1], init)(x)
        for _ in range(self.num_blocks):
            x = ResidualBlock(self.width, self.dropout, self.layer_norm, init)(x, deterministic)
        return _dense(self.action_dim, self.width, init)(mish(x))


class DiffusionDist:
    """The policy a noise model and a schedule define at a batch of states (module docstring)."""

    def __init__(self, model, variables, observations, batch_shape, schedule, sample_schedule, clip):
        self.model, self.variables, self.observations = model, variables, observations
        self.batch_shape, self.schedule, self.sample_schedule, self.clip = batch_shape, schedule, sample_schedule, clip

    def _eps(self, x, t, deterministic=True, rng=None):
        rngs = None if rng is None else {"dropout": rng}
        return self.model.apply(self.variables, self.observations, x, t, deterministic, rngs=rngs)

    def sample_many(self, rng, n: int, temperature: float = 1.0):
        """n actions per state, (n, *batch, action_dim), in one sampler call."""
        return ddpm_sample(self._eps, self.sample_schedule, rng,
                           (n, *self.batch_shape, self.model.action_dim), self.clip, temperature)

    def sample(self, rng):
        return self.sample_many(rng, 1)[0]

    def mode(self):
        """The sampler from x = 0 without noise: deterministic, not the density's mode."""
        return self.sample_many(jax.random.PRNGKey(0), 1, temperature=0.0)[0]

    def log_prob(self, actions, rng=None):
        """-||eps(x_t, t) - eps||^2 at one step t and noise eps drawn by `rng` (a fixed draw
        without one), with the network in training mode (dropout) when given an rng."""
        step_rng, noise_rng, dropout_rng = jax.random.split(jax.random.PRNGKey(0) if rng is None else rng, 3)
        t = jax.random.randint(step_rng, actions.shape[:-1], 0, len(self.schedule.betas))
        noise = jax.random.normal(noise_rng, actions.shape)
        x_t = q_sample(self.schedule, actions, t, noise)
        eps = self._eps(x_t, t, deterministic=rng is None, rng=None if rng is None else dropout_rng)
        return -jnp.sum(jnp.square(eps - noise), axis=-1)

    def sample_and_log_prob(self, rng):
        sample_rng, noise_rng = jax.random.split(rng)
        x = self.sample(sample_rng)
        return x, self.log_prob(x, noise_rng)


class DiffusionPolicy(nn.Module):
    """A DDPM policy head over `NoiseModel` (module docstring); `steps` denoising steps in
    training, `sample_steps` (<= steps, respaced) when sampling."""
    action_dim: int
    width: int = 256
    num_blocks: int = 3
    dropout: float = 0.1
    layer_norm: bool = True
    steps: int = 5
    sample_steps: int = 0  # 0: all `steps`
    beta_schedule: str = "vp"
    clip: bool = True
    torso: TorsoSpec = TorsoSpec()

    def _model(self, parent):
        return NoiseModel(self.action_dim, self.width, self.num_blocks, self.dropout, self.layer_norm,
                          torso=self.torso, parent=parent)

    @nn.compact
    def __call__(self, observations):
        batch = observations.shape[:observations.ndim - self.torso.observation_ndim]
        model = self._model(self)
        if self.is_initializing():
            model(observations, jnp.zeros((*batch, self.action_dim)), jnp.zeros(batch, jnp.int32))
        schedule = make_schedule(self.beta_schedule, self.steps)
        sample_schedule = respace(schedule, self.sample_steps) if self.sample_steps else schedule
        variables = {"params": self.variables["params"][model.name]}
        return DiffusionDist(self._model(None), variables, observations, batch, schedule, sample_schedule, self.clip)


__all__ = ["BETA_SCHEDULES", "Schedule", "make_schedule", "respace", "q_sample", "posterior", "predict_x0",
           "step_mean", "ddpm_sample", "guided_sample", "vp_beta_schedule", "cosine_beta_schedule", "linear_beta_schedule",
           "NoiseModel", "DiffusionDist", "DiffusionPolicy", "FourierFeatures", "mish"]
