"""Reference initialisation (config.init, networks/inits.py): the weight statistics of each
scheme, each algorithm's default, and orthogonal ensembles initialising without a deadlock."""
import subprocess
import sys
import textwrap
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from networks import MLP
from networks.policies import TanhGaussianPolicy
from networks.torsos import TorsoSpec
from tests.conftest import REPO

FAN_IN, WIDTH = 11, 256


def mlp_params(init, output_role="output"):
    net = MLP((WIDTH, WIDTH, 1), init_scheme=init, output_role=output_role)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, FAN_IN)))["params"]
    return [(np.asarray(params[f"Dense_{i}"]["kernel"]), np.asarray(params[f"Dense_{i}"]["bias"]))
            for i in range(3)]


def test_pytorch_scheme_is_torch_linear_default():
    for (w, b), fan_in in zip(mlp_params("pytorch"), (FAN_IN, WIDTH, WIDTH)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
        if w.shape[1] > 1:
            np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.1)  # U(-a, a): std a / sqrt(3)
            assert b.std() > 0.3 * bound  # biases are drawn too, not zero
        assert np.abs(b).max() <= bound and np.all(b != 0)


def test_edac_scheme_small_outputs_and_bias_01():
    (w0, b0), (w1, b1), (w2, b2) = mlp_params("edac")
    assert np.all(b0 == np.float32(0.1)) and np.all(b1 == np.float32(0.1))
    for w, fan_in in ((w0, FAN_IN), (w1, WIDTH)):  # PyTorch's kernel: U(+-1/sqrt(fan_in)), not glorot's
        assert 0.95 / np.sqrt(fan_in) < np.abs(w).max() <= 1 / np.sqrt(fan_in)
        np.testing.assert_allclose(w.std(), 1 / np.sqrt(3 * fan_in), rtol=0.1)
    assert 2.5e-3 < np.abs(w2).max() <= 3e-3 and np.abs(b2).max() <= 3e-3 and b2 != 0
    policy = TanhGaussianPolicy(3, (WIDTH, WIDTH), torso=TorsoSpec(init="edac"))
    p = policy.init(jax.random.PRNGKey(1), jnp.zeros((1, FAN_IN)))["params"]
    for head in ("Dense_0", "Dense_1"):  # the mean and log-std heads
        assert np.abs(np.asarray(p[head]["kernel"])).max() <= 1e-3
        assert np.abs(np.asarray(p[head]["bias"])).max() <= 1e-3


def test_orthogonal_scheme_has_orthogonal_kernels_with_gain_sqrt2():
    (w0, b0), (w1, b1), (w2, b2) = mlp_params("orthogonal")
    np.testing.assert_allclose(w0 @ w0.T, 2 * np.eye(FAN_IN), atol=1e-5)   # 11 x 256: rows orthogonal
    np.testing.assert_allclose(w1.T @ w1, 2 * np.eye(WIDTH), atol=1e-4)    # square
    np.testing.assert_allclose(w2.T @ w2, [[2.0]], rtol=1e-5)              # 256 x 1: a column
    assert not (b0.any() or b1.any() or b2.any())


def test_glorot_scheme_is_unchanged():
    (w0, _), (w1, b1), _ = mlp_params("glorot")
    np.testing.assert_allclose(w1.var(), 2 / (2 * WIDTH), rtol=0.1)
    np.testing.assert_allclose(w0.var(), 2 / (FAN_IN + WIDTH), rtol=0.1)
    assert not b1.any()


def test_every_algorithm_builds_with_each_reference_init():
    """Every scheme is a config choice of every algorithm."""
    from algos import ALGOS, sac_n, td3_bc
    from algos.common import Spec
    from tests.conftest import tiny_config
    spec = Spec((3,), "float32", 2, False)
    from algos.common import contract
    data = {"observations": jnp.zeros((4, 3)), "actions": jnp.zeros((4, 2)), "episode_ends": jnp.array([0, 1, 0, 1.0]),
            "rewards": jnp.array([1.0, 2.0, 3.0, 4.0])}
    for name in sorted(ALGOS):
        algo = contract(ALGOS[name])
        for scheme in ("orthogonal", "pytorch", "edac"):
            config = tiny_config(name, init=scheme)
            discrete = algo.actions == "discrete"
            own_spec = spec._replace(discrete=True) if discrete else spec
            own_data = {**data, "actions": jnp.zeros(4, jnp.int32)} if discrete else data
            info = types.SimpleNamespace(spec=own_spec)  # what prepare reads of the DataInfo (SPIBB: the action count)
            aux = algo.prepare(config, own_data, info) if algo.prepare is not None else None
            assert jax.tree_util.tree_leaves(algo.init(config, own_spec, jax.random.PRNGKey(0), aux))
    state = sac_n.init(tiny_config("sac_n", num_critics=3, init="edac"), spec, jax.random.PRNGKey(0))
    biases = state.critic.params["VmapQNetwork_0"]["MLP_0"]
    assert np.all(np.asarray(biases["Dense_0"]["bias"]) == np.float32(0.1))
    state = td3_bc.init(tiny_config("td3_bc", init="pytorch"), spec, jax.random.PRNGKey(0))
    assert np.asarray(state.actor.params["MLP_0"]["Dense_0"]["bias"]).std() > 0  # torch's biases are drawn


REFERENCE_INITS = {"iql": "orthogonal", "sac_n": "edac", "edac": "edac", "rebrac": "edac", "cql": "edac",
                   "td3_bc": "pytorch", "bc": "pytorch", "awac": "pytorch", "bcq": "pytorch"}


def test_each_algorithm_defaults_to_its_references_init():
    import importlib
    from configs.base import get_base_config
    for algo, scheme in REFERENCE_INITS.items():
        module = importlib.import_module(f"configs.{algo}")
        assert module.get_config().init == scheme, algo
        assert module.get_config("pendulum").init == "glorot", algo  # the built-in job's calibration
    assert importlib.import_module("configs.cql").get_config("corl").init == "orthogonal"
    assert get_base_config().init == "glorot"  # algorithms whose references are not matched yet


def test_the_config_check_knows_every_scheme():
    from configs.base import INITS as checked  # configs import no jax: the names are repeated there
    from networks.inits import INITS
    assert checked == INITS


def test_orthogonal_ensembles_initialise_under_vmap_without_deadlock():
    """10 orthogonal 3x256 critics for each of 3 vmapped runs: with XLA's LAPACK QR this program
    never finished on jaxlib 0.10.2 (a deadlock); the host QR makes it a few seconds."""
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        from networks import QEnsemble
        from networks.torsos import TorsoSpec
        net = QEnsemble((256, 256, 256), num_critics=10, torso=TorsoSpec(init="orthogonal"))
        init = jax.jit(jax.vmap(lambda k: net.init(k, jnp.zeros((1, 11)), jnp.zeros((1, 3)))["params"]))
        params = init(jax.random.split(jax.random.PRNGKey(0), 3))
        w = np.asarray(params["VmapQNetwork_0"]["MLP_0"]["Dense_1"]["kernel"])  # (runs, members, 256, 256)
        assert w.shape == (3, 10, 256, 256)
        gram = np.einsum("rmij,rmik->rmjk", w, w)
        assert np.abs(gram - 2 * np.eye(256)).max() < 1e-3
        assert np.abs(w[0, 0] - w[0, 1]).max() > 0.1 and np.abs(w[0, 0] - w[1, 0]).max() > 0.1
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


def test_unknown_init_is_refused_with_the_choices():
    from configs.base import validate
    from tests.conftest import tiny_config
    problems = validate(tiny_config("iql", init="xavier"))
    assert len(problems) == 1 and "config.init='xavier' is invalid: it must be one of" in problems[0]
    with pytest.raises(ValueError, match="Unknown init 'xavier'"):
        from networks.inits import layer_init
        layer_init("xavier", "hidden", 3)
