"""A temporal U-Net over trajectories, and its encoder half as a value network (Janner et al. 2022).

Inputs are trajectories (B, H, C): H steps of C channels (Diffuser's action-and-state rows,
Decision Diffuser's states). Every block is a 1-d convolution over the time axis, so a
trajectory is denoised as a whole, every step seeing its neighbours in both directions:
  Conv1dBlock            Conv1d (kernel 5, same padding) -> GroupNorm(8) -> Mish
  ResidualTemporalBlock  two Conv1dBlocks, the embedding (Mish -> Dense) added between them as a
                         per-channel bias, plus the input (a 1x1 convolution when widths differ)
  TemporalUNet           an embedding of the diffusion step (sinusoidal features -> Dense 4x ->
                         Mish -> Dense), optionally concatenated with an embedding of a return
                         (Decision Diffuser's classifier-free condition: Dense -> Mish -> Dense 4x
                         -> Mish -> Dense, multiplied by a keep mask, so a dropped condition is
                         exactly the zero embedding); then per level of `dim_mults` two residual
                         blocks and a stride-2 convolution that halves H (not after the last),
                         two residual blocks in the middle, and the mirror path up with skip
                         connections and transposed convolutions that double H; a final
                         Conv1dBlock and a 1x1 convolution back to C channels.
  TemporalValue          the U-Net's down path, then its features flattened with the step
                         embedding into Dense -> Mish -> Dense(1): Diffuser's guide, a value of
                         noisy trajectories at a diffusion step (Janner's adds two more halving
                         blocks before the flatten; here the down path alone, a smaller head).
H must be divisible by 2^(len(dim_mults) - 1). Layers are initialised by `init_scheme`
(networks/inits.py, from `config.init`; the references use PyTorch's defaults, `pytorch`).
"""
import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from networks.diffusion import mish
from networks.inits import layer_init


def check_horizon(horizon: int, dim_mults: Sequence[int]):
    """The U-Net halves the horizon len(dim_mults) - 1 times and doubles it back."""
    factor = 2 ** (len(dim_mults) - 1)
    if horizon < 1 or horizon % factor:
        raise ValueError(f"A trajectory of {horizon} steps cannot pass a U-Net with {len(dim_mults)} levels "
                         f"(dim_mults={tuple(dim_mults)}): the horizon must be a multiple of {factor}. Fix: set "
                         f"the horizon to a multiple of {factor}, or use fewer levels.")


def sinusoidal_embedding(t, dim: int):
    """[sin(t w_k), cos(t w_k)], w_k = 10000^(-k / (dim/2 - 1)), k < dim/2 (the transformer's)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half) / max(half - 1, 1))
    angles = jnp.asarray(t, jnp.float32)[..., None] * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def _patches(x, kernel: int, stride: int):
    """(B, H', kernel * C): every output step's receptive field, taps major, of a padded x (B, H, C)."""
    out = (x.shape[1] - kernel) // stride + 1
    taps = [x[:, j:j + stride * (out - 1) + 1:stride, :] for j in range(kernel)]
    return jnp.concatenate(taps, axis=-1)


class Conv1d(nn.Module):
    """A 1-d convolution over axis 1 of (B, H, C) as one matmul of its patches (im2col).

    Same parameters (kernel (k, C, features), bias), padding rules and outputs as flax's
    `nn.Conv` with a 1-tuple kernel, written out because XLA's CPU convolution is slow on these
    shapes: a kernel-5 convolution of 256 channels over 4 steps took 81 ms where the same
    product as a matmul takes 2 ms, which left Diffuser's update at 1.5 % of the CPU's rate
    (BENCHMARKS.md, issue 16). `transpose` gives `nn.ConvTranspose`'s convolution instead: the
    input dilated by the stride, padded as lax.conv_transpose pads, then the same matmul.
    """
    features: int
    kernel: int
    strides: int = 1
    padding: object = "SAME"  # "SAME", "VALID" or ((low, high),)
    transpose: bool = False
    use_bias: bool = True
    kernel_init: object = nn.initializers.lecun_normal()
    bias_init: object = nn.initializers.zeros_init()
    dtype: object = None

    def _pads(self, length: int):
        k, s = self.kernel, self.strides
        if not isinstance(self.padding, str):
            pads = tuple(map(tuple, self.padding))
            if len(pads) != 1 or len(pads[0]) != 2:
                raise ValueError(f"Conv1d padding {self.padding!r}: an explicit padding is one (low, high) "
                                 "pair for the one spatial axis, e.g. ((1, 1),)")
            return pads[0]
        if self.padding not in ("SAME", "VALID"):
            raise ValueError(f"Conv1d padding {self.padding!r} is not one this convolution implements: "
                             "use 'SAME', 'VALID' or an explicit ((low, high),)")
        if self.transpose:  # lax.conv_transpose's padding of the dilated input
            total = k + s - 2 + (max(k - s, 0) if self.padding == "VALID" else 0)
            low = k - 1 if self.padding == "VALID" or s > k - 1 else -(-total // 2)
            return low, total - low
        if self.padding == "VALID":
            return 0, 0
        total = max((-(-length // s) - 1) * s + k - length, 0)  # flax/lax "SAME"
        return total // 2, total - total // 2

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, (self.kernel, x.shape[-1], self.features), jnp.float32)
        dtype = self.dtype or jnp.promote_types(x.dtype, jnp.float32)  # as flax promotes
        x = x.astype(dtype)
        stride = self.strides
        if self.transpose:  # dilate: stride - 1 zeros between steps, then a stride-1 convolution
            B, H, C = x.shape
            x = jnp.concatenate([x[:, :, None, :], jnp.zeros((B, H, stride - 1, C), dtype)], axis=2)
            x = x.reshape(B, H * stride, C)[:, :(H - 1) * stride + 1]
            stride = 1
        low, high = self._pads(x.shape[1])
        x = jnp.pad(x, ((0, 0), (low, high), (0, 0)))
        y = _patches(x, self.kernel, stride) @ kernel.reshape(-1, self.features).astype(dtype)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(dtype)
        return y


def _conv(features, kernel, fan_in, init, dtype=None, **kwargs):
    k, b = layer_init(init, "hidden", fan_in)
    return Conv1d(features, kernel, kernel_init=k, bias_init=b, dtype=dtype, **kwargs)


def _dense(features, fan_in, init, dtype=None):
    k, b = layer_init(init, "hidden", fan_in)
    return nn.Dense(features, kernel_init=k, bias_init=b, dtype=dtype)


class Conv1dBlock(nn.Module):
    features: int
    kernel: int = 5
    groups: int = 8
    init_scheme: str = "pytorch"
    dtype: object = None

    @nn.compact
    def __call__(self, x):
        x = _conv(self.features, self.kernel, x.shape[-1] * self.kernel, self.init_scheme, self.dtype, padding="SAME")(x)
        x = nn.GroupNorm(num_groups=math.gcd(self.groups, self.features), dtype=jnp.float32)(x.astype(jnp.float32))
        return mish(x)


class ResidualTemporalBlock(nn.Module):
    features: int
    kernel: int = 5
    init_scheme: str = "pytorch"
    dtype: object = None

    @nn.compact
    def __call__(self, x, embedding):
        h = Conv1dBlock(self.features, self.kernel, init_scheme=self.init_scheme, dtype=self.dtype)(x)
        h = h + _dense(self.features, embedding.shape[-1], self.init_scheme, self.dtype)(mish(embedding))[:, None, :]
        h = Conv1dBlock(self.features, self.kernel, init_scheme=self.init_scheme, dtype=self.dtype)(h)
        residual = x if x.shape[-1] == self.features else _conv(self.features, 1, x.shape[-1], self.init_scheme, self.dtype)(x)
        return h + residual


class StepEmbedding(nn.Module):
    """The diffusion step's embedding, with a return's concatenated when conditioned."""
    dim: int
    returns_condition: bool = False
    init_scheme: str = "pytorch"
    dtype: object = None

    @nn.compact
    def __call__(self, t, returns=None, keep=None):
        d = self.dim
        e = sinusoidal_embedding(t, d)
        e = _dense(d, 4 * d, self.init_scheme, self.dtype)(mish(_dense(4 * d, d, self.init_scheme, self.dtype)(e)))
        if not self.returns_condition:
            return e
        r = _dense(d, 1, self.init_scheme, self.dtype)(jnp.asarray(returns, jnp.float32).reshape(-1, 1))
        r = _dense(4 * d, d, self.init_scheme, self.dtype)(mish(r))
        r = _dense(d, 4 * d, self.init_scheme, self.dtype)(mish(r))
        return jnp.concatenate([e, r * keep.reshape(-1, 1)], axis=-1)


class TemporalUNet(nn.Module):
    """(x (B, H, C), t (B,), returns (B,), keep (B,)) -> (B, H, C). `returns` and `keep` only
    with `returns_condition` (keep 1: conditioned, 0: the unconditional model)."""
    dim: int = 32
    dim_mults: Sequence[int] = (1, 2, 4, 8)
    kernel: int = 5
    returns_condition: bool = False
    init_scheme: str = "pytorch"
    dtype: object = None

    @nn.compact
    def __call__(self, x, t, returns=None, keep=None):
        check_horizon(x.shape[1], self.dim_mults)
        channels = x.shape[-1]
        emb = StepEmbedding(self.dim, self.returns_condition, self.init_scheme, self.dtype)(t, returns, keep)
        block = lambda f: ResidualTemporalBlock(f, self.kernel, self.init_scheme, self.dtype)
        widths = [self.dim * m for m in self.dim_mults]
        skips = []
        for i, width in enumerate(widths):
            x = block(width)(block(width)(x, emb), emb)
            skips.append(x)
            if i < len(widths) - 1:  # halve the horizon
                x = _conv(width, 3, width * 3, self.init_scheme, self.dtype, strides=2, padding=((1, 1),))(x)
        x = block(widths[-1])(block(widths[-1])(x, emb), emb)
        # Up: each level joins the skip of the level below it at the same horizon (the deepest
        # first), then doubles the horizon. As in Janner's network, the top level's skip is
        # never joined: len(dim_mults) - 1 levels go up.
        for i in reversed(range(len(widths) - 1)):
            x = jnp.concatenate([x, skips.pop()], axis=-1)
            x = block(widths[i])(block(widths[i])(x, emb), emb)
            x = Conv1d(widths[i], 4, strides=2, padding="SAME", transpose=True, dtype=self.dtype,
                       kernel_init=layer_init(self.init_scheme, "hidden", widths[i] * 4)[0])(x)
        x = Conv1dBlock(self.dim, self.kernel, init_scheme=self.init_scheme, dtype=self.dtype)(x)
        return _conv(channels, 1, self.dim, self.init_scheme, self.dtype)(x).astype(jnp.float32)


class TemporalValue(nn.Module):
    """(x (B, H, C), t (B,)) -> (B,): the U-Net's down path, flattened, with the step embedding."""
    dim: int = 32
    dim_mults: Sequence[int] = (1, 2, 4, 8)
    kernel: int = 5
    init_scheme: str = "pytorch"
    dtype: object = None

    @nn.compact
    def __call__(self, x, t):
        check_horizon(x.shape[1], self.dim_mults)
        emb = StepEmbedding(self.dim, False, self.init_scheme, self.dtype)(t)
        widths = [self.dim * m for m in self.dim_mults]
        for i, width in enumerate(widths):
            x = ResidualTemporalBlock(width, self.kernel, self.init_scheme, self.dtype)(x, emb)
            x = ResidualTemporalBlock(width, self.kernel, self.init_scheme, self.dtype)(x, emb)
            if i < len(widths) - 1:
                x = _conv(width, 3, width * 3, self.init_scheme, self.dtype, strides=2, padding=((1, 1),))(x)
        h = jnp.concatenate([x.reshape(x.shape[0], -1), emb], axis=-1)
        h = mish(_dense(h.shape[-1] // 2, h.shape[-1], self.init_scheme, self.dtype)(h))
        return _dense(1, h.shape[-1], self.init_scheme, self.dtype)(h)[:, 0].astype(jnp.float32)


__all__ = ["Conv1d", "TemporalUNet", "TemporalValue", "ResidualTemporalBlock", "Conv1dBlock", "StepEmbedding",
           "check_horizon", "sinusoidal_embedding"]
