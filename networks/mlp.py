"""MLP torso and the one ensemble helper every multi-critic method uses."""
import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from networks.inits import layer_init


def default_init(scale: float = 1.0):
    """Glorot-uniform scaled by `scale`: the "glorot" scheme's kernels (networks/inits.py has
    every scheme; its orthogonal one computes the QR on the host, see there)."""
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


MIN_BF16_DIM = 16  # a matmul with an axis this small (an input layer of a few features, a scalar
# head) gains nothing from bfloat16, and XLA:CPU cannot run a bfloat16 matrix-vector product
# with a float32 result ("DotThunk: BF16 x BF16 = F32"): those run in float32.


@jax.custom_vjp
def mixed_matmul(x, w):
    """x @ w with bfloat16 operands and float32 accumulation and result, forward and backward.

    Both gradient matmuls are also bfloat16-in, float32-out: JAX's own transpose of a
    bfloat16 dot asks for a bfloat16 result, which on CPUs with AVX512-BF16 runs slower than
    float32, while bfloat16 operands with a float32 result run up to 2-3x float32
    (BENCHMARKS.md). x and w stay float32 outside (their cotangents are float32 too). Matmuls
    with an axis under MIN_BF16_DIM run in float32.
    """
    return _mixed_matmul_fwd(x, w)[0]


def _mm(a, b, barrier=False):
    if min(a.shape[-2], a.shape[-1], b.shape[-1]) < MIN_BF16_DIM:
        return jnp.matmul(a.astype(jnp.float32), b.astype(jnp.float32))
    a, b = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    if barrier:  # keeps XLA from seeing a broadcast operand (the cotangent of a sum) and
        # rewriting the product as a bfloat16 matrix-vector one, which XLA:CPU cannot run
        a, b = jax.lax.optimization_barrier((a, b))
    return jnp.matmul(a, b, preferred_element_type=jnp.float32)


def _mixed_matmul_fwd(x, w):
    x2 = x.reshape(-1, x.shape[-1])
    return _mm(x2, w).reshape(*x.shape[:-1], w.shape[-1]), (x2, w)


def _mixed_matmul_bwd(res, g):
    x2, w = res
    g2 = g.reshape(-1, g.shape[-1])
    dx = _mm(g2, w.T, barrier=True).reshape(*g.shape[:-1], w.shape[0])
    return dx, _mm(x2.T, g2, barrier=True)


mixed_matmul.defvjp(_mixed_matmul_fwd, _mixed_matmul_bwd)


def _mixed_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """nn.Dense's dot_general (last axis of the input with the kernel's first) as mixed_matmul."""
    (contract_lhs, contract_rhs), (batch_lhs, batch_rhs) = dimension_numbers
    assert tuple(contract_lhs) == (lhs.ndim - 1,) and tuple(contract_rhs) == (0,) and not batch_lhs \
        and rhs.ndim == 2, dimension_numbers
    return mixed_matmul(lhs, rhs)


def dense(features, kernel_init=None, dtype=None, name=None, bias_init=None):
    """nn.Dense; with dtype=bfloat16 a mixed-precision one: float32 parameters, input, bias and
    output, the matmul (and its gradients) on bfloat16 copies with float32 accumulation."""
    kwargs = {} if kernel_init is None else {"kernel_init": kernel_init}
    if bias_init is not None:
        kwargs["bias_init"] = bias_init
    if dtype is None:
        return nn.Dense(features, name=name, **kwargs)
    return nn.Dense(features, dot_general=_mixed_dot_general, name=name, **kwargs)


class SplitInputDense(nn.Module):
    """nn.Dense of concat([shared, own], -1) where `own` has extra leading axes that `shared` is
    broadcast over, without building the broadcast: `shared`'s product is computed once.

    kernel @ [x; a] = kernel[:n] @ x + kernel[n:] @ a, so CQL's proposals (3n actions per state)
    pay the observation's share of the first layer once per state, not once per action. The
    parameters are nn.Dense's (one kernel over the concatenated features, one bias): a network
    built with nn.Dense reads them unchanged.
    """

    features: int
    kernel_init: Callable = default_init()
    dtype: Any = None
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, shared, own):
        n = shared.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (n + own.shape[-1], self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        matmul = jnp.matmul if self.dtype is None else mixed_matmul
        return matmul(shared, kernel[:n]) + matmul(own, kernel[n:]) + bias


class MLP(nn.Module):
    """Dense layers with an activation between them (and after the last if `activate_final`).

    `dtype=jnp.bfloat16`: the matmuls multiply bfloat16 copies of the inputs and parameters
    and accumulate in float32; activations, LayerNorm and the output stay float32 (`dense`).
    `init_scheme`: the initialisation scheme (networks/inits.py); the last layer, unless activated,
    is initialised in `output_role` ("output": a value; "policy": an action head).
    """

    hidden_dims: Sequence[int]
    activation: Callable = nn.relu
    activate_final: bool = False
    layer_norm: bool = False  # LayerNorm after each hidden activation (ReBRAC: Dense -> ReLU -> LN)
    init_scheme: str = "glorot"  # (not `init`: that is flax's Module.init)
    output_role: str = "output"
    dtype: Any = None

    @nn.compact
    def __call__(self, x):
        """x: the input, or a pair (shared, own) meaning concat([shared broadcast to own's
        leading axes, own], -1), computed without the broadcast (SplitInputDense)."""
        for i, size in enumerate(self.hidden_dims):
            last = i + 1 == len(self.hidden_dims) and not self.activate_final
            fan_in = sum(part.shape[-1] for part in x) if isinstance(x, tuple) else x.shape[-1]
            kernel_init, bias_init = layer_init(self.init_scheme, self.output_role if last else "hidden", fan_in)
            if i == 0 and isinstance(x, tuple):
                x = SplitInputDense(size, kernel_init, self.dtype, bias_init, name="Dense_0")(*x)
            else:
                x = dense(size, kernel_init, self.dtype, name=f"Dense_{i}", bias_init=bias_init)(x)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                x = self.activation(x)
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
        return x


def ensemble(module_cls, num: int, in_axes=None):
    """Return `module_cls` lifted to `num` independent copies along axis 0.

    Parameters get a leading axis of size `num` with independently drawn initial values;
    inputs are broadcast (`in_axes=None`) unless given per member. One batched computation,
    never a Python loop over members.
    """
    return nn.vmap(
        module_cls,
        variable_axes={"params": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=in_axes,
        out_axes=0,
        axis_size=num,
    )
