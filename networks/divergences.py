"""Divergences between a policy and the data's behaviour, as the constraint methods estimate them.

mmd: the sampled maximum mean discrepancy of BEAR (Kumar et al. 2019), per state, between n
  policy samples and m behaviour (VAE) samples, with the paper code's kernels
    laplacian  k(x, y) = exp(-||x - y||_1 / (2 sigma))
    gaussian   k(x, y) = exp(-||x - y||_2^2 / (2 sigma))
  MMD = sqrt(E k(x, x') + E k(y, y') - 2 E k(x, y) + 1e-6), the means over all sample pairs
  (the biased, V-statistic form, diagonal pairs included, as BEAR's code).
gaussian_kl: the closed-form KL between two diagonal Gaussians; sampled_kl: the Monte-Carlo
  estimate E_{x~p}[log p(x) - log q(x)] that BRAC uses for policies without a closed form.
"""
import jax.numpy as jnp

MMD_KERNELS = ("laplacian", "gaussian")


def _kernel_mean(x, y, kernel, sigma):
    diff = x[..., :, None, :] - y[..., None, :, :]  # (..., n, m, d)
    if kernel == "laplacian":
        k = jnp.exp(-jnp.sum(jnp.abs(diff), axis=-1) / (2.0 * sigma))
    elif kernel == "gaussian":
        k = jnp.exp(-jnp.sum(jnp.square(diff), axis=-1) / (2.0 * sigma))
    else:
        raise ValueError(f"Unknown MMD kernel '{kernel}'; use one of {MMD_KERNELS}.")
    return jnp.mean(k, axis=(-2, -1))


def mmd(x, y, kernel: str = "laplacian", sigma: float = 10.0):
    """Sampled MMD between samples x (..., n, d) and y (..., m, d), per leading index."""
    xx, yy, xy = (_kernel_mean(x, x, kernel, sigma), _kernel_mean(y, y, kernel, sigma),
                  _kernel_mean(x, y, kernel, sigma))
    return jnp.sqrt(xx + yy - 2.0 * xy + 1e-6)


def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q):
    """KL(p || q) of diagonal Gaussians, summed over the last axis."""
    var_p, var_q = jnp.exp(2.0 * log_std_p), jnp.exp(2.0 * log_std_q)
    return jnp.sum(log_std_q - log_std_p + (var_p + jnp.square(mean_p - mean_q)) / (2.0 * var_q) - 0.5, axis=-1)


def sampled_kl(log_p, log_q):
    """E_{x~p}[log p(x) - log q(x)] from log-densities of samples of p, averaged over axis 0."""
    return jnp.mean(log_p - log_q, axis=0)


__all__ = ["MMD_KERNELS", "gaussian_kl", "mmd", "sampled_kl"]
