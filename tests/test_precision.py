"""Mixed precision (config.compute_dtype) and the persistent compile cache (issue 12)."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos import ALGOS, trainer
from networks.critics import QEnsemble
from networks.mlp import MIN_BF16_DIM, mixed_matmul
from networks.policies import DeterministicPolicy, TanhGaussianPolicy
from networks.torsos import TorsoSpec
from tests.conftest import REPO, tiny_config

BF16 = TorsoSpec("mlp", 1, "bfloat16")


def test_mixed_matmul_is_a_bfloat16_product_with_float32_gradients():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(64, 32)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(32, 48)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(64, 48)), jnp.float32)
    bf = lambda a: a.astype(jnp.bfloat16).astype(jnp.float32)  # what the product multiplies
    out, vjp = jax.vjp(mixed_matmul, x, w)
    dx, dw = vjp(g)
    assert out.dtype == dx.dtype == dw.dtype == jnp.float32
    np.testing.assert_allclose(out, bf(x) @ bf(w), rtol=1e-5, atol=1e-4)  # float32 accumulation
    np.testing.assert_allclose(dx, bf(g) @ bf(w).T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dw, bf(x).T @ bf(g), rtol=1e-5, atol=1e-4)
    assert not np.allclose(out, x @ w, rtol=1e-6, atol=1e-6)  # it really is bfloat16
    np.testing.assert_allclose(out, x @ w, rtol=0.05, atol=0.5)
    # An axis under MIN_BF16_DIM (a 1-wide head) multiplies in float32: exact.
    v = w[:, :1]
    assert v.shape[1] < MIN_BF16_DIM
    np.testing.assert_allclose(mixed_matmul(x, v), x @ v, rtol=1e-6, atol=1e-5)


def test_bfloat16_networks_keep_float32_parameters_and_outputs_and_run_their_gradients():
    obs, act = jnp.ones((256, 17)), jnp.ones((256, 6))
    q32, q16 = QEnsemble((64, 64), 2), QEnsemble((64, 64), 2, torso=BF16)
    params = q32.init(jax.random.PRNGKey(0), obs, act)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        q16.init(jax.random.PRNGKey(0), obs, act))  # same parameters: a checkpoint fits either
    assert {x.dtype for x in jax.tree_util.tree_leaves(q16.init(jax.random.PRNGKey(0), obs, act))} == {np.dtype("float32")}
    out = q16.apply(params, obs, act)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, q32.apply(params, obs, act), rtol=0.05, atol=0.05)
    # The gradient of a plain sum (a broadcast cotangent) once made XLA:CPU build a bfloat16
    # matrix-vector product it cannot run: every gradient here must compile and run.
    grads = jax.jit(jax.grad(lambda p: q16.apply(p, obs, act).sum()))(params)
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads))
    pi = DeterministicPolicy(6, (64, 64), torso=BF16)
    pi_params = pi.init(jax.random.PRNGKey(1), obs)
    actor_grads = jax.jit(jax.grad(lambda pp: -q16.apply(params, obs, pi.apply(pp, obs)).mean()))(pi_params)
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(actor_grads))
    dist = TanhGaussianPolicy(6, (64, 64), torso=BF16).apply(
        TanhGaussianPolicy(6, (64, 64)).init(jax.random.PRNGKey(2), obs), obs)
    assert dist.mean.dtype == dist.log_std.dtype == jnp.float32


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_algorithm_trains_in_bfloat16(pendulum, discrete_data, tmp_path, algo):
    from algos.common import contract
    data = {"dataset": discrete_data} if contract(ALGOS[algo]).actions == "discrete" else {}
    config = tiny_config(algo, num_updates=10, eval_episodes=0, compute_dtype="bfloat16", num_seeds=1, **data)
    results = trainer.train_and_evaluate(config, str(tmp_path))
    # every phase runs: the main one's 10 updates and each other phase's own steps
    assert results["num_updates"] == sum(config[p.steps] for p in contract(ALGOS[algo]).phases)


def test_float32_default_is_unchanged_by_the_precision_option():
    """compute_dtype=float32 builds exactly the float32 networks (no casts in the program)."""
    obs, act = jnp.ones((8, 17)), jnp.ones((8, 6))
    q = QEnsemble((32, 32), 2, torso=TorsoSpec("mlp", 1, "float32"))
    params = q.init(jax.random.PRNGKey(0), obs, act)
    text = jax.jit(q.apply).lower(params, obs, act).as_text()
    assert "bf16" not in text


def test_the_compile_cache_fills_and_can_be_turned_off(pendulum, tmp_path):
    cache = tmp_path / "cache"
    cmd = [sys.executable, "train_offline.py", "--config=configs/bc.py:pendulum",
           "--config.num_updates=20", "--config.log_interval=10", "--config.eval_interval=20",
           "--config.eval_episodes=0", "--config.hidden_dims=(16,16)", "--config.num_seeds=1",
           "--config.progress_bar=False"]
    run = lambda *extra: subprocess.run(cmd + list(extra), cwd=REPO, capture_output=True, text=True,
                                        timeout=300, env={**os.environ, "STITCH_COMPILE_CACHE": str(cache)})
    assert run(f"--workdir={tmp_path / 'off'}", "--compile_cache=off").returncode == 0
    assert not cache.exists()  # off: nothing written, not even the folder
    out = run(f"--workdir={tmp_path / 'on'}")  # the default: $STITCH_COMPILE_CACHE
    assert out.returncode == 0, out.stderr
    entries = os.listdir(cache)
    assert any("train_chunk" in e or "jit_" in e for e in entries), entries
    # A second identical run (a new workdir) loads them: nothing new is compiled into the cache.
    assert run(f"--workdir={tmp_path / 'again'}").returncode == 0
    assert set(os.listdir(cache)) == set(entries)
    again = json.load(open(tmp_path / "again" / "results.json"))
    assert again["num_updates"] == 20


def test_an_unwritable_compile_cache_is_a_warning_not_a_silent_no_op(tmp_path):
    from algos.common import use_compile_cache
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="compile cache .*a_file cannot be used.*Fix: pass --compile_cache"):
        assert use_compile_cache(str(blocker)) is None
