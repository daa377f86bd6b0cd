"""Policy heads for continuous actions in [-1, 1] (actions are rescaled by the driver)."""
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from networks.diffusion import DiffusionPolicy
from networks.generative import ActionVAE, gaussian_kl_to_standard
from networks.inits import layer_init
from networks.mlp import MLP, dense
from networks.torsos import Torso, TorsoSpec, matmul_dtype

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class DeterministicPolicy(nn.Module):
    """a = tanh(MLP(s)) (TD3, TD3+BC, BC)."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations):
        x = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))(
            Torso(self.torso)(observations))
        return jnp.tanh(head(self.action_dim, self.torso, x.shape[-1])(x))


def head(action_dim, torso, fan_in):
    """An action head (a mean or a log-std) over `fan_in` features, initialised as the scheme's
    "policy" layers, in the networks' compute dtype (its output is float32 either way)."""
    kernel_init, bias_init = layer_init(torso.init, "policy", fan_in)
    return dense(action_dim, kernel_init, matmul_dtype(torso), bias_init=bias_init)


def _gaussian_log_prob(x, mean, log_std):
    return jnp.sum(
        -0.5 * jnp.square((x - mean) / jnp.exp(log_std)) - log_std - 0.5 * jnp.log(2 * jnp.pi),
        axis=-1,
    )


class GaussianDist:
    """Diagonal Gaussian over actions (pre-squash or not), with a small explicit API."""

    def __init__(self, mean, log_std, squash: bool):
        self.mean, self.log_std, self.squash = mean, log_std, squash

    def mode(self):
        return jnp.tanh(self.mean) if self.squash else self.mean

    def sample_and_log_prob(self, rng):
        u = self.mean + jnp.exp(self.log_std) * jax.random.normal(rng, self.mean.shape)
        log_prob = _gaussian_log_prob(u, self.mean, self.log_std)
        if not self.squash:
            return u, log_prob
        # log|d tanh(u)/du| written in the numerically stable softplus form.
        log_det = jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)
        return jnp.tanh(u), log_prob - log_det

    def sample(self, rng):
        return self.sample_and_log_prob(rng)[0]

    def log_prob(self, actions, rng=None):
        del rng  # an exact density: no noise (the latent head's surrogate takes one)
        if not self.squash:
            return _gaussian_log_prob(actions, self.mean, self.log_std)
        actions = jnp.clip(actions, -1 + 1e-6, 1 - 1e-6)
        u = jnp.arctanh(actions)
        log_det = jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)
        return _gaussian_log_prob(u, self.mean, self.log_std) - log_det


class GaussianPolicy(nn.Module):
    """Gaussian with tanh-bounded mean and a state-independent log-std (IQL, AWAC).

    `temperature` scales the std at sampling time (1.0 in training).
    """

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    state_dependent_std: bool = False
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, temperature: float = 1.0):
        x = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))(
            Torso(self.torso)(observations))
        mean = jnp.tanh(head(self.action_dim, self.torso, x.shape[-1])(x))
        if self.state_dependent_std:
            log_std = head(self.action_dim, self.torso, x.shape[-1])(x)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        log_std = jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)
        log_std = jnp.broadcast_to(log_std, mean.shape) + jnp.log(temperature)
        return GaussianDist(mean, log_std, squash=False)


class TanhGaussianPolicy(nn.Module):
    """Squashed Gaussian with state-dependent std (SAC, CQL, SAC-N, EDAC)."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, temperature: float = 1.0):
        x = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))(
            Torso(self.torso)(observations))
        mean = head(self.action_dim, self.torso, x.shape[-1])(x)
        log_std = head(self.action_dim, self.torso, x.shape[-1])(x)
        log_std = jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX) + jnp.log(temperature)
        return GaussianDist(mean, log_std, squash=True)


class MixtureDist:
    """Mixture of K diagonal Gaussians over actions (unsquashed, like GaussianDist without tanh).

    logits (..., K); means, log_stds (..., K, d). The density is
    log p(a) = logsumexp_k [ log softmax(logits)_k + log N(a; mean_k, std_k) ];
    `mode()` is the mean of the heaviest component (a mode of the mixture when the components are
    well apart, which is what a multimodal head is for).
    """

    def __init__(self, logits, means, log_stds):
        self.logits, self.means, self.log_stds = logits, means, log_stds

    def component_log_probs(self, actions):
        """(..., K): log w_k + log N(a; mean_k, std_k)."""
        return jax.nn.log_softmax(self.logits, axis=-1) + _gaussian_log_prob(
            actions[..., None, :], self.means, self.log_stds)

    def log_prob(self, actions, rng=None):
        del rng
        return jax.nn.logsumexp(self.component_log_probs(actions), axis=-1)

    def _pick(self, x, k):
        return jnp.take_along_axis(x, k[..., None, None], axis=-2)[..., 0, :]

    def mode(self):
        return self._pick(self.means, jnp.argmax(self.logits, axis=-1))

    def sample_and_log_prob(self, rng):
        component_rng, noise_rng = jax.random.split(rng)
        k = jax.random.categorical(component_rng, self.logits, axis=-1)
        mean, log_std = self._pick(self.means, k), self._pick(self.log_stds, k)
        x = mean + jnp.exp(log_std) * jax.random.normal(noise_rng, mean.shape)
        return x, self.log_prob(x)

    def sample(self, rng):
        return self.sample_and_log_prob(rng)[0]


class MixtureGaussianPolicy(nn.Module):
    """Mixture-of-Gaussians head: K components, each with a tanh-bounded mean and a state-dependent
    log-std, and state-dependent mixing weights. A likelihood-fitted policy that can put its mass
    on several separate modes where a single Gaussian averages them (BC, AWR, AWAC, IQL, CRR and
    one-step with `policy_head=mixture`)."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    num_components: int = 5
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, temperature: float = 1.0):
        x = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))(
            Torso(self.torso)(observations))
        k, d, fan_in = self.num_components, self.action_dim, x.shape[-1]
        shape = (*x.shape[:-1], k, d)
        # A learned pre-tanh offset per component, drawn spread over the action box: with the
        # scheme's small head kernels alone every component would start at 0, and the mixture
        # would take many updates to break that symmetry.
        offsets = self.param("mean_offsets", lambda key, s: jax.random.uniform(key, s, minval=-1.5, maxval=1.5), (k, d))
        means = jnp.tanh(head(k * d, self.torso, fan_in)(x).reshape(shape) + offsets)
        log_stds = jnp.clip(head(k * d, self.torso, fan_in)(x).reshape(shape), LOG_STD_MIN, LOG_STD_MAX)
        logits = head(k, self.torso, fan_in)(x)
        return MixtureDist(logits, means, log_stds + jnp.log(temperature))




class LatentDist:
    """A latent-variable policy's distribution: a = tanh(D(s, z)) with z ~ N(0, I) clipped.

    It has no closed-form density; `log_prob` is the ELBO of a decoder with a fixed std
    sigma (`decoder_std`): E_q[log N(a; D(s, z), sigma^2)] - KL(q(z|s, a) || N(0, I)), one z drawn
    from q by `rng` (reparameterised; without an rng, z is q's mean). A likelihood fit maximises
    it as it would log pi. `mode()` decodes z = 0.
    """

    def __init__(self, vae, variables, observations, mode, decoder_std, temperature):
        self.vae, self.variables, self.observations = vae, variables, observations
        self._mode, self.decoder_std, self.temperature = mode, decoder_std, temperature

    def mode(self):
        return self._mode

    def sample(self, rng):
        z = self.temperature * jax.random.normal(rng, (*self._mode.shape[:-1], self.vae.latent_dim))
        z = jnp.clip(z, -self.vae.latent_clip, self.vae.latent_clip)
        return self.vae.apply(self.variables, self.observations, z, method=ActionVAE.decode)

    def log_prob(self, actions, rng=None):
        # leading sample axes of `actions` (n, batch, dim) share the batch's observations, as a
        # Gaussian's density broadcasts
        event = self.observations.shape[self._mode.ndim - 1:]  # one observation (flat or an image)
        obs = jnp.broadcast_to(self.observations, actions.shape[:-1] + event)
        mean, log_std = self.vae.apply(self.variables, obs, actions, method=ActionVAE.encode)
        z = mean if rng is None else mean + jnp.exp(log_std) * jax.random.normal(rng, mean.shape)
        recon = self.vae.apply(self.variables, obs, z, method=ActionVAE.decode)
        kl = jnp.sum(gaussian_kl_to_standard(mean, log_std), axis=-1)
        log_std_d = jnp.log(self.decoder_std)
        reconstruction = _gaussian_log_prob(actions, recon, jnp.broadcast_to(log_std_d, recon.shape))
        return reconstruction - kl

    def sample_and_log_prob(self, rng):
        sample_rng, noise_rng = jax.random.split(rng)
        x = self.sample(sample_rng)
        return x, self.log_prob(x, noise_rng)


class LatentPolicy(nn.Module):
    """A latent (VAE) policy head (networks/generative.ActionVAE): multimodal through its latent,
    fitted by the ELBO of LatentDist.log_prob (`policy_head=latent`). The latent has 2 x
    action_dim dimensions, as BCQ's. The decoder's fixed std (0.1 in the [-1, 1] action space)
    sets how much reconstruction is worth against the KL: BCQ's loss weighting (an MSE against
    half a KL) is a std of 0.5 per action dimension, at which modes 1.2 apart collapse into their
    mean (measured on the two-mode data, scripts/multimodal.py)."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    decoder_std: float = 0.1
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, temperature: float = 1.0):
        make = lambda parent: ActionVAE(self.action_dim, 2 * self.action_dim, tuple(self.hidden_dims),
                                        torso=self.torso, parent=parent)
        vae = make(self)  # the bound submodule: creates and holds the parameters
        batch = observations.shape[:observations.ndim - self.torso.observation_ndim]
        mode = vae.decode(observations, jnp.zeros((*batch, 2 * self.action_dim)))
        if self.is_initializing():
            vae.encode(observations, mode)  # the encoder's parameters exist from init on
        variables = {"params": self.variables["params"][vae.name]}
        return LatentDist(make(None), variables, observations, mode, self.decoder_std, temperature)

class PerturbationPolicy(nn.Module):
    """BCQ's perturbation model xi(s, a): a + phi * tanh(MLP(s, a)), clipped to [-1, 1], so the
    policy moves a generated action by at most phi per dimension. `actions` may have leading axes
    over the states' (several candidates per state): the state's share of the first layer is
    then computed once."""

    action_dim: int
    hidden_dims: Sequence[int] = (400, 300)
    phi: float = 0.05
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, actions):
        features = Torso(self.torso)(observations)
        mlp = MLP((*self.hidden_dims, self.action_dim), init_scheme=self.torso.init, output_role="policy",
                  dtype=matmul_dtype(self.torso))
        if actions.shape[:-1] == features.shape[:-1]:
            x = mlp(jnp.concatenate([features, actions], axis=-1))
        else:
            x = mlp((features, actions))
        return jnp.clip(actions + self.phi * jnp.tanh(x), -1.0, 1.0)

POLICY_HEADS = ("gaussian", "mixture", "latent", "tanh_gaussian", "diffusion")


def likelihood_policy(kind: str, action_dim: int, hidden_dims, torso: TorsoSpec = TorsoSpec(),
                      state_dependent_std: bool = False, num_components: int = 5,
                      diffusion: Optional[dict] = None):
    """A policy fitted by (weighted) likelihood, by `config.policy_head` (or `behaviour_head`):
    gaussian (GaussianPolicy: one mode, tanh mean) | mixture (MixtureGaussianPolicy:
    `num_components` modes) | latent (LatentPolicy: a VAE, a surrogate density) | tanh_gaussian
    (TanhGaussianPolicy: squashed, state-dependent std) | diffusion (networks/diffusion.DiffusionPolicy:
    a DDPM of hidden_dims[0]-wide residual blocks, one per entry of hidden_dims, with the
    `diffusion` options: steps, sample_steps, dropout, beta_schedule). Each returns a distribution with
    log_prob(actions, rng=None), sample, sample_and_log_prob and mode. This is
    also the fitted behaviour policy of BRAC and one-step (algos/common.fit_behaviour)."""
    if kind == "gaussian":
        return GaussianPolicy(action_dim, tuple(hidden_dims), state_dependent_std=state_dependent_std, torso=torso)
    if kind == "mixture":
        return MixtureGaussianPolicy(action_dim, tuple(hidden_dims), num_components=num_components, torso=torso)
    if kind == "latent":
        return LatentPolicy(action_dim, tuple(hidden_dims), torso=torso)
    if kind == "tanh_gaussian":
        return TanhGaussianPolicy(action_dim, tuple(hidden_dims), torso=torso)
    if kind == "diffusion":
        return DiffusionPolicy(action_dim, width=hidden_dims[0], num_blocks=len(hidden_dims), torso=torso,
                               **(diffusion or {}))
    raise ValueError(f"Unknown policy head '{kind}'; use one of {POLICY_HEADS}.")
