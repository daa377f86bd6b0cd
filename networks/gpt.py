"""A causal transformer (GPT-2 style) over token sequences, shared by the sequence models.

Pre-LayerNorm blocks of masked multi-head self-attention and a 4x-wide MLP (GELU, or ReLU), residual
connections, dropout after the attention weights, each residual branch and the embeddings, and a
final LayerNorm (Radford et al. 2019; minGPT, which Decision Transformer's Atari code uses, and the
HuggingFace GPT2Model of its gym code). Weights follow GPT-2's initialisation: every Dense and
embedding N(0, 0.02), each block's residual output projections N(0, 0.02 / sqrt(2 n_layers)),
zero biases, unit LayerNorms.

Masking: token t attends to tokens s <= t whose `mask` is 1. Padding is on the left (the windows
sampler's), so a real token never sees a padded one; a padded token's output is junk and its loss
is masked out by the caller. A padded token attends itself alone (never a later token), and
masked logits are a large finite negative rather than -inf.
"""
import math

import flax.linen as nn
import jax.numpy as jnp

GPT_INIT_STD = 0.02
NEG_INF = -1e9


def causal_mask(mask):
    """(B, 1, T, T) bool: query t may attend key s iff s <= t and mask[b, s] (mask: (B, T)), or
    s == t: a padded token attends itself only, so no token ever sees a later one."""
    T = mask.shape[-1]
    causal = jnp.tril(jnp.ones((T, T), bool))
    return causal[None, None] & ((mask[:, None, None, :] > 0) | jnp.eye(T, dtype=bool)[None, None])


class SelfAttention(nn.Module):
    num_heads: int
    dropout: float
    out_std: float

    @nn.compact
    def __call__(self, x, allowed, deterministic: bool):
        B, T, D = x.shape
        if D % self.num_heads:
            raise ValueError(f"embed_dim {D} is not divisible by num_heads {self.num_heads}")
        hd = D // self.num_heads
        init = nn.initializers.normal(GPT_INIT_STD)
        qkv = nn.Dense(3 * D, kernel_init=init, name="qkv")(x).reshape(B, T, 3, self.num_heads, hd)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        logits = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd)
        logits = jnp.where(allowed, logits, NEG_INF)
        weights = nn.Dropout(self.dropout)(nn.softmax(logits, axis=-1), deterministic=deterministic)
        out = jnp.einsum("bhts,bshd->bthd", weights, v).reshape(B, T, D)
        out = nn.Dense(D, kernel_init=nn.initializers.normal(self.out_std), name="proj")(out)
        return nn.Dropout(self.dropout)(out, deterministic=deterministic)


ACTIVATIONS = {"relu": nn.relu, "gelu": nn.gelu}


class Block(nn.Module):
    num_heads: int
    dropout: float
    out_std: float
    activation: str = "gelu"

    @nn.compact
    def __call__(self, x, allowed, deterministic: bool):
        x = x + SelfAttention(self.num_heads, self.dropout, self.out_std, name="attn")(
            nn.LayerNorm(name="ln1")(x), allowed, deterministic)
        D = x.shape[-1]
        h = nn.Dense(4 * D, kernel_init=nn.initializers.normal(GPT_INIT_STD), name="fc")(nn.LayerNorm(name="ln2")(x))
        h = nn.Dense(D, kernel_init=nn.initializers.normal(self.out_std), name="fc_proj")(ACTIVATIONS[self.activation](h))
        return x + nn.Dropout(self.dropout)(h, deterministic=deterministic)


class GPT(nn.Module):
    """tokens (B, T, D) already embedded, mask (B, T) of real tokens -> (B, T, D)."""

    num_layers: int = 3
    num_heads: int = 1
    dropout: float = 0.1
    activation: str = "gelu"  # of the MLPs: gelu (GPT-2) | relu (Decision Transformer's gym runs)

    @nn.compact
    def __call__(self, tokens, mask, deterministic: bool = True):
        allowed = causal_mask(mask)
        out_std = GPT_INIT_STD / math.sqrt(2 * self.num_layers)
        x = nn.Dropout(self.dropout)(tokens, deterministic=deterministic)
        for i in range(self.num_layers):
            x = Block(self.num_heads, self.dropout, out_std, self.activation, name=f"block{i}")(x, allowed, deterministic)
        return nn.LayerNorm(name="ln_f")(x)


class TrajectoryModel(nn.Module):
    """The Trajectory Transformer's GPT (Janner, Li & Levine 2021) over discretised transitions.

    A transition is `transition_dim` tokens (state dims, action dims, reward, value), each a bin
    index in 0..num_bins-1; a token's dimension is its position modulo `transition_dim`, so
    `positions` count from the first real token of a window, which starts a transition.
    Embedding: one table over (dimension, bin) pairs plus a learned position embedding. Output:
    the logits of the next token through the head of that token's dimension (TT's EinLinear,
    one Dense per dimension). `last_only` returns the last position's logits (planning) and
    otherwise every position's, the window aligned to whole transitions (training).
    """

    num_bins: int
    transition_dim: int
    max_len: int
    embed_dim: int = 128
    num_layers: int = 4
    num_heads: int = 4
    dropout: float = 0.1

    @nn.compact
    def __call__(self, tokens, positions, mask, deterministic: bool = True, last_only: bool = False):
        N, J, D = self.num_bins, self.transition_dim, self.embed_dim
        init = nn.initializers.normal(GPT_INIT_STD)
        dims = positions % J
        x = nn.Embed(N * J, D, embedding_init=init, name="embed_token")(tokens + N * dims)
        x = x + nn.Embed(self.max_len, D, embedding_init=init, name="embed_position")(
            jnp.clip(positions, 0, self.max_len - 1))
        h = GPT(self.num_layers, self.num_heads, self.dropout, "gelu", name="gpt")(x, mask, deterministic)
        heads = self.param("heads", init, (J, D, N))  # heads[d] predicts a token of dimension d
        if last_only:
            return jnp.einsum("bd,bdn->bn", h[:, -1], heads[(dims[:, -1] + 1) % J])
        B, T = tokens.shape
        K = -(-(T + 1) // J)  # whole transitions covering the window's T + 1 tokens
        h = jnp.pad(h, ((0, 0), (0, K * J - T), (0, 0))).reshape(B, K, J, D)
        logits = jnp.einsum("bkjd,jdn->bkjn", h, jnp.roll(heads, -1, axis=0))  # slot j -> dim j+1
        return logits.reshape(B, K * J, N)[:, :T]


__all__ = ["GPT", "TrajectoryModel", "causal_mask", "GPT_INIT_STD", "ACTIVATIONS"]
