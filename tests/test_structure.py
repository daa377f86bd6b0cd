"""Structure: scan == single steps, vmapped seeds == separate runs, ensembles are ensembles."""
import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos import ALGOS
from algos.common import Spec, contract, takes_step
from algos.runs import init_runs
from algos.trainer import make_train_chunk
from data import samplers
from networks import QEnsemble, ensemble_min
from tests.conftest import tiny_config

SPEC = Spec(observation_shape=(3,), observation_dtype="float32", action_dim=2, discrete=False)


def init_carry(config, algo, spec, dataset=None):
    """Runs' (state, rng); an algorithm with a prepare step (FQE) gets its aux from `dataset`."""
    algo = contract(algo)
    info = types.SimpleNamespace(spec=spec)  # what prepare reads of the DataInfo (SPIBB: the action count)
    aux = algo.prepare(config, dataset, info) if algo.prepare is not None else None
    return init_runs(config, algo, spec, [{}], aux)


def case(name, **overrides):
    """(config, algorithm, spec, dataset) of the structure tests: discrete-action algorithms get
    integer actions."""
    algo = ALGOS[name]
    discrete = contract(algo).actions == "discrete"
    dataset = _fake_dataset(discrete=discrete)
    config = tiny_config(name, **overrides)
    extra = samplers.prepare_columns(config, {k: np.asarray(v) for k, v in dataset.items()},
                                     [main_phase(algo).sampler])  # e.g. AWR's Monte-Carlo returns
    dataset.update({k: jnp.asarray(v) for k, v in extra.items()})
    spec = Spec((3,), "float32", 2, discrete)
    return config, algo, spec, dataset


def sample_batch(dataset, rng, batch_size):
    return samplers.sample(samplers.transitions, tiny_config(batch_size=batch_size), dataset, rng)


def main_phase(algo):
    """The phase that trains for num_updates (the policy's; FQE's evaluation): the one these
    tests run, with its own sampler and update."""
    return [p for p in contract(algo).phases if p.steps == "num_updates"][-1]


def chunk_fn(config, algo, n):
    """One run's chunk of the algorithm's main phase, as (carry, data) -> (carry, metrics)."""
    chunk = make_train_chunk(config, main_phase(algo), n)
    return lambda carry, data: chunk(carry, {}, data)


def _fake_dataset(n=200, seed=0, discrete=False):
    rng = np.random.default_rng(seed)
    actions = (lambda: jnp.asarray(rng.integers(2, size=n), jnp.int32)) if discrete else \
        (lambda: jnp.asarray(rng.uniform(-1, 1, size=(n, 2)), jnp.float32))
    return {
        "observations": jnp.asarray(rng.normal(size=(n, 3)), jnp.float32),
        "actions": actions(),
        "next_actions": actions(),
        "rewards": jnp.asarray(rng.normal(size=n), jnp.float32),
        "next_observations": jnp.asarray(rng.normal(size=(n, 3)), jnp.float32),
        "terminals": jnp.asarray(rng.random(n) < 0.05, jnp.float32),
        "episode_ends": jnp.zeros(n, jnp.float32),
    }


def _seed(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# The planners' temporal U-Nets: XLA:CPU compiles a convolution differently inside a scan or a
# vmap (batched convolutions), so float sums reassociate; Adam's first moment of Diffuser's
# guide (regressing returns of tens, large gradients) then differs by up to 2.5e-5 after 5-6
# updates, Decision Diffuser's weights by 4e-6 (measured).
CONV_ATOL = {"diffuser": 1e-4, "dd": 1e-4}


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_scanned_updates_equal_single_jitted_updates(name):
    config, algo, spec, dataset = case(name, num_seeds=1)
    n = 6
    carry = _seed(init_carry(config, algo, spec, dataset), 0)
    scanned, metrics = jax.jit(chunk_fn(config, algo, n))(carry, dataset)

    phase = main_phase(algo)
    update = jax.jit(functools.partial(phase.update, config))
    state, rng = carry
    losses = []
    for i in range(n):
        rng, sample_rng, update_rng = jax.random.split(rng, 3)
        batch = samplers.sample(phase.sampler, config, dataset, sample_rng)
        step = {"step": jnp.asarray(i, jnp.int32)} if takes_step(phase.update) else {}
        state, m = update(state, batch, update_rng, **step)
        losses.append(m)
    _assert_trees_close(scanned[0], state, atol=CONV_ATOL.get(name, 1e-6))
    # The critic diagnostics users read (README "Reading the critic diagnostics"); BC, DT and TT have no
    # critic, AWR has a V only, and one-step's critic trains in its "evaluate" phase, not in this one.
    if name not in ("bc", "bc_discrete", "dt", "tt", "awr", "onestep", "diffuser", "dd"):  # the planners' guide is a value of trajectories
        assert {"q_data", "td_error"} <= set(metrics), sorted(metrics)
    if name not in ("bc", "bc_discrete", "dt", "tt", "diffuser", "dd", "awr", "iql", "idql", "fqe", "fqe_discrete"):  # IQL and IDQL never query Q on the policy's actions in training; FQE has no policy
        assert "q_policy" in metrics, sorted(metrics)
    if name == "cql":
        assert {"cql_gap", "alpha_prime"} <= set(metrics)
    key = sorted(metrics)[0]
    np.testing.assert_allclose(metrics[key], [float(m[key]) for m in losses], rtol=1e-5, atol=1e-6)
    assert int(scanned[0].step) == n


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_vmapped_seeds_equal_separate_runs(name):
    config, algo, spec, dataset = case(name, num_seeds=3)
    carries = init_carry(config, algo, spec, dataset)
    chunk = chunk_fn(config, algo, 5)
    together, _ = jax.jit(jax.vmap(chunk, in_axes=(0, None)))(carries, dataset)
    single = jax.jit(chunk)
    # IDQL's diffusion network (LayerNorm'd residual blocks, 4x inner width): batching reorders its
    # float sums, and Adam's g / sqrt(v) turns a near-zero gradient's 1e-9 difference into ~6e-6
    # in one weight of 16k after 5 updates (measured); every other algorithm meets 1e-6.
    atol = 1e-5 if name == "idql" else CONV_ATOL.get(name, 1e-6)
    for i in range(config.num_seeds):
        alone, _ = single(_seed(carries, i), dataset)
        _assert_trees_close(_seed(together, i), alone, atol=atol)
    # ...and the seeds are really different agents.
    fields = together[0].__dataclass_fields__
    networks = getattr(together[0], next(f for f in ("actor", "model", "critic", "q", "behaviour") if f in fields))
    first = jax.tree_util.tree_leaves(networks.params)[0]
    assert not np.allclose(first[0], first[1])


def test_ensemble_members_are_distinct_and_min_is_over_members():
    q = QEnsemble(hidden_dims=(8, 8), num_critics=5)
    obs, act = jnp.ones((4, 3)), jnp.ones((4, 2))
    params = q.init(jax.random.PRNGKey(0), obs, act)
    leaves = jax.tree_util.tree_leaves(params)
    assert all(leaf.shape[0] == 5 for leaf in leaves)  # ensemble axis 0 on every parameter
    kernel = leaves[1] if leaves[1].ndim == 3 else leaves[0]
    assert len({float(kernel[i].sum()) for i in range(5)}) == 5
    qs = q.apply(params, obs, act)
    assert qs.shape == (5, 4)  # (members, batch)
    np.testing.assert_allclose(ensemble_min(qs), qs.min(axis=0))
    assert len(np.unique(np.round(np.asarray(qs[:, 0]), 5))) == 5


def test_td3_bc_policy_delay_updates_actor_every_other_step():
    config = tiny_config("td3_bc", num_seeds=1)
    algo, dataset = ALGOS["td3_bc"], _fake_dataset()
    state, rng = _seed(init_carry(config, algo, SPEC), 0)
    update = jax.jit(functools.partial(algo.update, config))
    batch = sample_batch(dataset, rng, config.batch_size)
    before = state.actor.params
    state, _ = update(state, batch, rng)  # step 0: actor updates
    after0 = state.actor.params
    state, _ = update(state, batch, rng)  # step 1: actor frozen
    _assert_trees_close(after0, state.actor.params, rtol=0, atol=0)
    with pytest.raises(AssertionError):
        _assert_trees_close(before, after0, rtol=0, atol=0)
