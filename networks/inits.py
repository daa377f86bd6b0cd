"""Weight initialisation of the reference implementations, chosen by `config.init`.

Each scheme gives every Dense layer its (kernel, bias) initialisers by the layer's role:
  hidden  a hidden layer (and the CNN torso's convolution)
  output  a value or Q network's scalar output
  policy  an action head (a policy's mean, or its log-std when state-dependent)
The schemes (U(a, b): uniform; fan_in: the layer's input width):
  glorot      Glorot-uniform kernels (action heads scaled 1e-2), zero biases: stitch's own
              (its CNN torso's convolutions keep flax's LeCun-normal default)
  orthogonal  orthogonal kernels with gain sqrt(2) on every layer, zero biases (IQL's jaxrl code)
  pytorch     kernel and bias U(+-1/sqrt(fan_in)) on every layer: torch.nn.Linear's default
              (kaiming_uniform with a = sqrt(5)); TD3+BC, BC and AWAC's reference code
  edac        hidden layers PyTorch's kernel with bias 0.1; value outputs kernel and bias
              U(+-3e-3), action heads U(+-1e-3): EDAC's paper code, CORL's SAC-N and EDAC, ReBRAC,
              CQL's rlkit (whose policies' hidden fan-in is the layer's output width, an rlkit
              quirk not copied: equal for 256-wide layers but the first)
Orthogonal kernels come from a QR decomposition on the host (`orthogonal`): XLA:CPU's LAPACK QR
deadlocked (jaxlib 0.10.2) once an init program held several of them batched, e.g. a 10-member
ensemble of 3-layer critics; numpy's QR outside the XLA runtime does not.
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

INITS = ("glorot", "orthogonal", "pytorch", "edac")
ROLES = ("hidden", "output", "policy")


def uniform(bound: float):
    """U(-bound, bound)."""
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def _host_qr(a):
    """Q of a = QR with the signs that make Q Haar-distributed (diag(R) > 0); any leading axes."""
    q, r = np.linalg.qr(np.asarray(a, np.float64))
    signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    return (q * np.where(signs == 0, 1.0, signs)[..., None, :]).astype(np.float32)


def orthogonal(scale: float = 1.0):
    """Flax's orthogonal initialiser (same distribution: QR of a Gaussian matrix, signs fixed),
    with the QR computed by numpy through a host callback, batched over vmapped axes."""
    def init(key, shape, dtype=jnp.float32):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q = jax.pure_callback(_host_qr, jax.ShapeDtypeStruct(a.shape, jnp.float32), a,
                              vmap_method="expand_dims")
        if rows < cols:
            q = q.T
        return (scale * q.reshape(shape)).astype(dtype)
    return init


def layer_init(scheme: str, role: str, fan_in: int):
    """(kernel_init, bias_init) of a layer with `fan_in` inputs in `role` under `scheme`."""
    if scheme not in INITS:
        raise ValueError(f"Unknown init '{scheme}'; use one of {INITS}.")
    if role not in ROLES:
        raise ValueError(f"Unknown layer role '{role}'; use one of {ROLES}.")
    zeros = nn.initializers.zeros_init()
    if scheme == "glorot":
        return nn.initializers.variance_scaling(1e-2 if role == "policy" else 1.0, "fan_avg", "uniform"), zeros
    if scheme == "orthogonal":
        return orthogonal(math.sqrt(2.0)), zeros
    torch_default = uniform(1.0 / math.sqrt(fan_in))
    if scheme == "pytorch":
        return torch_default, torch_default
    if role == "hidden":  # edac
        return torch_default, nn.initializers.constant(0.1)
    small = uniform(3e-3 if role == "output" else 1e-3)
    return small, small


__all__ = ["INITS", "ROLES", "layer_init", "orthogonal", "uniform"]
