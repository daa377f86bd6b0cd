"""Where ReBRAC's actor goes in its first updates, per initialisation: how far its tanh is
saturated (the pre-tanh values, and tanh' that scales every gradient reaching the actor), what the
critic tells it (the sign agreement of dQ/da over the batch), and Q on its actions against Q on
the data's. One run per seed, the configs' batch, the project's loader and sampler, the trainer's update.

  MINARI_DATASETS_PATH=../shared/datasets python scripts/rebrac_saturation.py \
      --dataset=bench/halfcheetah/medium-replay-v0 --inits=edac,glorot --seeds=0,1,2 --updates=3000

Issue 13's halfcheetah-medium-replay check: with the reference (EDAC-style) init, two seeds of three
never left a policy at the action bounds; with glorot every seed did.
"""
import flax
import jax
import jax.numpy as jnp
from absl import app, flags

from algos import get_algo
from configs import rebrac as rebrac_config
from configs.base import resolve_tuning
from data import samplers
from data.dataset import load_dataset
from networks import ensemble_min

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_string("dataset", "bench/halfcheetah/medium-replay-v0", "a continuous-action Minari dataset")
    flags.DEFINE_list("inits", ["edac", "glorot"], "initialisations to compare (networks/inits.py)")
    flags.DEFINE_list("seeds", ["1"], "the runs' seeds (one run each)")
    flags.DEFINE_integer("updates", 3000, "updates to follow")
    flags.DEFINE_integer("every", 250, "report every this many updates")
    flags.DEFINE_float("hidden_bias", None, "set the edac scheme's hidden-layer biases (0.1) to this constant in "
                       "every MLP, actor's and critics' (isolates the bias from the kernels)")


def pre_tanh(state, observations):
    """The actor's head output before tanh and the features it reads (the last hidden layer's),
    from flax's captured intermediates."""
    _, inter = state.actor.apply_fn({"params": state.actor.params}, observations, capture_intermediates=True)
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(inter["intermediates"]))
    return flat[("Dense_0", "__call__")][0], flat[("MLP_0", "__call__")][0]  # the head, its input features


def probe(config, state, batch):
    """Saturation and critic statistics of the current state on one batch."""
    obs, data_actions = batch["observations"], batch["actions"]
    x, features = pre_tanh(state, obs)
    pi = jnp.tanh(x)

    def q_of(actions):
        return ensemble_min(state.critic.apply_fn({"params": state.critic.params}, obs, actions))
    grad_a = jax.grad(lambda a: q_of(a).sum())(pi)
    agreement = jnp.abs(jnp.mean(jnp.sign(grad_a), axis=0)).mean()  # 1: every state pushed the same way
    return {"median|x|": jnp.median(jnp.abs(x)), "|h|_1": jnp.abs(features).sum(-1).mean(),
            "tanh'=0": jnp.mean(jnp.tanh(jnp.abs(x)) == 1.0), "|x|>5": jnp.mean(jnp.abs(x) > 5.0),
            "mean_tanh'": jnp.mean(1.0 - jnp.square(pi)), "bc_penalty": jnp.sum(jnp.square(pi - data_actions), -1).mean(),
            "dQ/da_agree": agreement, "Q(pi)-Q(data)": jnp.mean(q_of(pi) - q_of(data_actions))}


def follow(name, dataset, seed):
    config = rebrac_config.get_config("auto")
    config.update(dict(dataset=dataset, init=name, seed=seed))
    config, note = resolve_tuning(config)
    print(f"{name}: tuning {note['tuning']}, applied {note['applied']}")
    algo = get_algo("rebrac")
    data, info = load_dataset(config, samplers=(samplers.transitions,))
    state = algo.init(config, info.spec, jax.random.PRNGKey(config.seed))

    @jax.jit
    def chunk(state, key):
        def body(state, k):
            k1, k2 = jax.random.split(k)
            batch = samplers.sample(samplers.transitions, config, data, k1)
            return algo.update(config, state, batch, k2)[0], None
        return jax.lax.scan(body, state, jax.random.split(key, FLAGS.every))[0]

    probe_batch = samplers.sample(samplers.transitions, config, data, jax.random.PRNGKey(10_000))
    rows, key = [], jax.random.PRNGKey(config.seed + 1)
    for step in range(0, FLAGS.updates + 1, FLAGS.every):
        rows.append({"step": step, **{k: float(v) for k, v in probe(config, state, probe_batch).items()}})
        if step < FLAGS.updates:
            key, sub = jax.random.split(key)
            state = chunk(state, sub)
    return rows


def _patch_hidden_bias(value):
    import flax.linen as nn

    import networks.mlp as mlp
    original = mlp.layer_init

    def layer_init(scheme, role, fan_in):
        kernel, bias = original(scheme, role, fan_in)
        return (kernel, nn.initializers.constant(value)) if scheme == "edac" and role == "hidden" else (kernel, bias)
    mlp.layer_init = layer_init


def main(argv):
    del argv
    if FLAGS.hidden_bias is not None:
        _patch_hidden_bias(FLAGS.hidden_bias)
    for name, seed in [(n, int(s)) for n in FLAGS.inits for s in FLAGS.seeds]:
        rows = follow(name, FLAGS.dataset, seed)
        bias = "" if FLAGS.hidden_bias is None or name != "edac" else f" with hidden biases {FLAGS.hidden_bias:g}"
        print(f"\n{name} init{bias}, seed {seed}, {FLAGS.dataset}:")
        print("  " + "  ".join(f"{k:>15}" for k in rows[0]))
        for r in rows:
            print("  " + "  ".join(f"{v:>15.4g}" for v in r.values()), flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
