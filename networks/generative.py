"""Generative models of the data's actions, shared by the methods that constrain a policy to them.

ActionVAE is the conditional VAE of BCQ (Fujimoto, Meger & Precup 2019) and BEAR (Kumar et al.
2019): an encoder q(z | s, a), a decoder a = tanh(D(s, z)), and sampling with the latent drawn
from N(0, I) clipped to [-latent_clip, latent_clip] (0.5 in both papers' code), which keeps the
samples near the data's modes. Its loss (`vae_loss`) is the reference code's: the mean squared
reconstruction error plus kl_weight (0.5) times the KL to N(0, I), both averaged over elements.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from networks.inits import layer_init
from networks.mlp import MLP, dense
from networks.torsos import Torso, TorsoSpec, matmul_dtype

LOG_STD_MIN, LOG_STD_MAX = -4.0, 15.0  # the reference code's clamp of the encoder's log-std


class ActionVAE(nn.Module):
    """Conditional VAE over actions in [-1, 1] given states.

    `__call__(s, a, rng)` -> (reconstruction, latent mean, latent log-std), the training pass;
    `sample(s, rng, num)` -> `num` actions per state, shape (num, *batch, d) (or (*batch, d)
    when num is None; `sample_pre_tanh` before the tanh); `decode(s, z)` for a given latent, whose leading axes may extend the
    states' (several latents per state: the state's share of the first layer is computed once).
    """

    action_dim: int
    latent_dim: int
    hidden_dims: Sequence[int] = (750, 750)
    latent_clip: float = 0.5
    torso: TorsoSpec = TorsoSpec()

    def setup(self):
        dtype, width = matmul_dtype(self.torso), self.hidden_dims[-1]
        self.features = Torso(self.torso)
        self.encoder = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=dtype)
        kernel_init, bias_init = layer_init(self.torso.init, "hidden", width)
        self.latent_mean = dense(self.latent_dim, kernel_init, dtype, bias_init=bias_init)
        self.latent_log_std = dense(self.latent_dim, kernel_init, dtype, bias_init=bias_init)
        self.decoder = MLP((*self.hidden_dims, self.action_dim), init_scheme=self.torso.init,
                           output_role="policy", dtype=dtype)

    def encode(self, observations, actions):
        h = self.encoder(jnp.concatenate([self.features(observations), actions], axis=-1))
        return self.latent_mean(h), jnp.clip(self.latent_log_std(h), LOG_STD_MIN, LOG_STD_MAX)

    def decode_pre_tanh(self, observations, z):
        """The decoder's output before its tanh (BEAR matches supports there, where the tanh's
        saturation does not flatten the gradient)."""
        features = self.features(observations)
        if z.shape[:-1] == features.shape[:-1]:
            return self.decoder(jnp.concatenate([features, z], axis=-1))
        return self.decoder((features, z))  # extra leading latent axes: (shared, own)

    def decode(self, observations, z):
        return jnp.tanh(self.decode_pre_tanh(observations, z))

    def sample_pre_tanh(self, observations, rng, num=None):
        batch = observations.shape[:observations.ndim - self.torso.observation_ndim]
        shape = (*batch, self.latent_dim) if num is None else (num, *batch, self.latent_dim)
        z = jnp.clip(jax.random.normal(rng, shape), -self.latent_clip, self.latent_clip)
        return self.decode_pre_tanh(observations, z)

    def sample(self, observations, rng, num=None):
        return jnp.tanh(self.sample_pre_tanh(observations, rng, num))

    def __call__(self, observations, actions, rng):
        mean, log_std = self.encode(observations, actions)
        z = mean + jnp.exp(log_std) * jax.random.normal(rng, mean.shape)
        return self.decode(observations, z), mean, log_std


def gaussian_kl_to_standard(mean, log_std):
    """KL(N(mean, std^2) || N(0, 1)) per element: 0.5 (mean^2 + std^2 - 1) - log std."""
    return 0.5 * (jnp.square(mean) + jnp.exp(2.0 * log_std) - 1.0) - log_std


def vae_loss(reconstruction, actions, mean, log_std, kl_weight: float = 0.5):
    """The negative ELBO as BCQ's and BEAR's code weigh it: mean squared error of the
    reconstruction plus kl_weight times the KL to the prior, each averaged over its elements.
    Returns (loss, {"vae_recon": ..., "vae_kl": ...})."""
    recon = jnp.mean(jnp.square(reconstruction - actions))
    kl = jnp.mean(gaussian_kl_to_standard(mean, log_std))
    return recon + kl_weight * kl, {"vae_recon": recon, "vae_kl": kl}


__all__ = ["ActionVAE", "gaussian_kl_to_standard", "vae_loss"]
