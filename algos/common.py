"""Pieces every algorithm shares: optimizers, target updates, phases, the contract's defaults.

The algorithm contract (README "Adding an algorithm"): a module with `init(config, spec, rng)`,
`update(config, state, batch, rng) -> (state, metrics)` and
`act(config, state, obs, rng, deterministic)`, and optionally
  update(config, state, batch, rng, step)  an update that also takes `step` gets the phase's
                                           update index, shared by every run: unbatched under
                                           the run axis's vmap, so `lax.cond` on it skips work
                                           for real (TD3's delayed actor), where a condition on
                                           per-run state would run both branches
  ACTIONS      "continuous" (default) | "discrete"
  SAMPLER      the data/samplers.py sampler its batches come from (default: transitions)
  PHASES       a tuple of Phase (default: one "train" phase of `update` for num_updates steps)
  prepare(config, data, info) -> aux       host side, once, before jit; then init is called
                                           as init(config, spec, rng, aux)
  init_memory(config, spec, num_envs)      a policy with memory: act(..., memory) returns
                                           (actions, memory), and evaluation carries it; a
                                           memory with a "reward" entry gets each env's last
                                           reward written there before every step (0 at the first)
  eval_conditions(config) -> labels        evaluate under several conditions at once (Decision
                                           Transformer's target returns): the evaluator runs
                                           episodes x len(labels) envs per run, condition-major,
                                           and reports each; the first is the run's score
  ACTIONS "both"                           the algorithm takes either kind of action space
`contract(algo)` resolves those defaults in one place, so the driver never asks for a name.
"""
import inspect
import os
import warnings
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from data import samplers
from data.spec import Spec, StitchError  # noqa: F401  (re-exported: algorithms import them here)
from networks.policies import likelihood_policy
from networks.diffusion import make_schedule, respace
from networks.torsos import matmul_dtype, torso_spec
from networks.unet import check_horizon


# XLA:CPU flags the driver sets for a run, on the jaxlib versions they were measured on
# (BENCHMARKS.md, "Where the time goes"). jaxlib 0.10's YNNPACK reduce fusions make networks with
# LayerNorm slow in a training step: ReBRAC's LayerNorm critics ran 2.9x faster with XLA's own
# reductions, while CQL and EDAC (logsumexp and ensemble reductions, no LayerNorm) ran 10-13 %
# slower, so the flag is set only for configs with LayerNorm. XLA aborts on a flag it does not
# know, hence the version gate. A user's own setting in $XLA_FLAGS wins; STITCH_XLA_FLAGS=off
# leaves $XLA_FLAGS alone.
XLA_FLAGS_JAXLIB = ("0.10.",)


def xla_flags_for(config) -> dict:
    """The XLA:CPU flags stitch sets for this run's config ({} when none help it)."""
    if config.get("critic_layer_norm") or config.get("layer_norm"):
        return {"xla_cpu_experimental_ynn_fusion_type": "-reduce"}
    return {}


def set_xla_flags(config) -> list:
    """Add `xla_flags_for(config)` to $XLA_FLAGS; returns the flags added. XLA reads them when
    JAX first uses a device, so the driver calls this before any computation."""
    import jaxlib
    if not jaxlib.__version__.startswith(XLA_FLAGS_JAXLIB) or os.environ.get("STITCH_XLA_FLAGS") == "off":
        return []
    current = os.environ.get("XLA_FLAGS", "")
    added = [f"--{k}={v}" for k, v in xla_flags_for(config).items() if k not in current]
    if added:
        os.environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added


class Phase(NamedTuple):
    """One stage of training: `steps` (a config field) updates of `update` on `sampler`'s batches.

    A phase whose step field is 0 is skipped. `evaluate`: whether the policy is evaluated at
    this phase's eval points (a behaviour-model pretraining phase has no policy to evaluate).
    `online`: the phase collects its data in the environment (fine-tuning; no phase uses it yet).
    """

    name: str
    update: Callable
    steps: str = "num_updates"
    sampler: Optional[samplers.Sampler] = None  # None: the algorithm's SAMPLER
    evaluate: bool = True
    online: bool = False


class Contract(NamedTuple):
    """An algorithm module with every optional part of the contract filled in."""

    module: object
    actions: str
    sampler: samplers.Sampler
    phases: tuple
    prepare: Optional[Callable]
    init: Callable            # init(config, spec, rng, aux)
    act: Callable
    init_memory: Optional[Callable]
    eval_conditions: Optional[Callable]  # eval_conditions(config) -> labels of the conditions evaluated
    log_prob: Optional[Callable]  # log_prob(config, state, observations, actions): the policy's density

    @property
    def samplers(self):
        return tuple({p.sampler.name: p.sampler for p in self.phases}.values())


def takes_step(update) -> bool:
    """Whether an update takes the shared `step` argument (the contract's optional form)."""
    try:
        return "step" in inspect.signature(update).parameters
    except (TypeError, ValueError):
        return False


def contract(algo) -> Contract:
    sampler = getattr(algo, "SAMPLER", samplers.transitions)
    phases = getattr(algo, "PHASES", None) or (Phase("train", algo.update),)
    phases = tuple(p._replace(sampler=p.sampler or sampler) for p in phases)
    prepare = getattr(algo, "prepare", None)
    init = algo.init if prepare is not None else (
        lambda config, spec, rng, aux: algo.init(config, spec, rng))
    return Contract(module=algo, actions=getattr(algo, "ACTIONS", "continuous"), sampler=sampler,
                    phases=phases, prepare=prepare, init=init, act=algo.act,
                    init_memory=getattr(algo, "init_memory", None),
                    eval_conditions=getattr(algo, "eval_conditions", None), log_prob=getattr(algo, "log_prob", None))


def actor_log_prob(config, state, observations, actions):
    """log pi(a|s) of a state whose `actor` returns a distribution (networks/policies.py), for
    actions in the normalised [-1, 1] space: the optional `log_prob` of the contract, which
    importance-sampling OPE needs (scripts/ope.py). Algorithms with a density-free policy
    (deterministic actors) leave `log_prob` out; the diffusion head has none to give."""
    if config.get("policy_head") == "diffusion":
        raise StitchError(f"{config.algo}'s diffusion policy has no density (its log_prob is the denoising "
                          f"loss, a training surrogate), so importance sampling cannot weigh its actions. "
                          f"Fix: use FQE for it, or a gaussian, mixture or latent policy_head.")
    return state.actor.apply_fn({"params": state.actor.params}, observations).log_prob(actions)


class LearningRateState(NamedTuple):
    count: jnp.ndarray
    learning_rate: jnp.ndarray  # in the state, not the closure: a sweep gives each run its own


def scale_by_learning_rate_in_state(learning_rate, decay_steps: Optional[int] = None):
    """optax.scale_by_learning_rate with the rate kept in optimizer state (optionally
    cosine-decayed to 0 over `decay_steps`), so a hyperparameter sweep can vmap it.

    Same arithmetic as optax's constant rate and its cosine_decay_schedule.
    """

    def init_fn(params):
        del params
        return LearningRateState(jnp.zeros([], jnp.int32), jnp.asarray(learning_rate, jnp.float32))

    def update_fn(updates, state, params=None):
        del params
        rate = state.learning_rate
        if decay_steps:
            count = jnp.minimum(state.count, float(decay_steps))
            cosine_decay = 0.5 * (1 + jnp.cos(jnp.pi * count / float(decay_steps)))
            rate = rate * ((1 - 0.0) * cosine_decay**1.0 + 0.0)  # optax's alpha=0, exponent=1
        step_size = -1 * rate
        updates = jax.tree_util.tree_map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
        return updates, LearningRateState(optax.safe_increment(state.count), state.learning_rate)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_warmup(warmup_steps: int) -> optax.GradientTransformation:
    """Multiply updates by min(1, (n + 1) / warmup_steps) at the n-th update: the paper code's
    LambdaLR warm-up (its rate ramps over the first `warmup_steps` updates, then stays)."""

    def init_fn(params):
        del params
        return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        del params
        factor = jnp.minimum(1.0, (state.count + 1) / max(int(warmup_steps), 1))
        updates = jax.tree_util.tree_map(lambda g: g * factor.astype(g.dtype), updates)
        return updates, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


def default_compile_cache():
    """Where compiled programs are kept between runs: $STITCH_COMPILE_CACHE, else
    $XDG_CACHE_HOME/stitch/jax-compile (~/.cache/stitch/jax-compile)."""
    if os.environ.get("STITCH_COMPILE_CACHE"):
        return os.environ["STITCH_COMPILE_CACHE"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "stitch", "jax-compile")


def use_compile_cache(path, max_bytes: int = 4 << 30):
    """JAX's persistent compilation cache in `path` ("off" or None: leave it off).

    A re-run, a resume, a sweep's repeat or the test suite then loads the compiled programs
    instead of compiling them again (the key is the program, the jax/jaxlib version and the
    device, so a stale entry is never used). Every program is cached, however fast it compiled;
    the oldest entries are evicted past `max_bytes`.
    """
    if not path or path == "off":
        return None
    path = os.path.expanduser(path)
    try:  # JAX would silently skip a cache it cannot write: say so instead
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as err:
        warnings.warn(f"The compile cache {path} cannot be used ({type(err).__name__}: "
                      f"{err.strerror or err}); compiling without it. Fix: pass --compile_cache with "
                      f"a writable folder (or set STITCH_COMPILE_CACHE), or --compile_cache=off.",
                      stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", max_bytes)
    return path


def quiet_logs():
    """Hide the INFO lines of JAX and orbax (backends tried, every checkpoint step) in command-line
    tools, unless the user asked for them with --verbosity."""
    from absl import flags, logging
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


def make_optimizer(learning_rate, decay_steps: Optional[int] = None,
                   max_grad_norm: Optional[float] = None, eps: float = 1e-8):
    """Adam; with `decay_steps`, the rate cosine-decays over them (IQL's actor: its phase's
    length, so a schedule spans its own phase). The rate lives in optimizer state. `eps`: Adam's
    (Dopamine's DQN family uses 0.01 / 32 = 3.125e-4)."""
    tx = optax.chain(optax.scale_by_adam(eps=eps), scale_by_learning_rate_in_state(learning_rate, decay_steps))
    if max_grad_norm:
        tx = optax.chain(optax.clip_by_global_norm(max_grad_norm), tx)
    return tx


def create_train_state(module, rng, inputs, tx) -> TrainState:
    params = module.init(rng, *inputs)["params"]
    return TrainState.create(apply_fn=module.apply, params=params, tx=tx)


def polyak_update(params, target_params, tau: float):
    """target <- tau * online + (1 - tau) * target."""
    return jax.tree_util.tree_map(lambda p, t: tau * p + (1.0 - tau) * t, params, target_params)



def critic_regression(critic: TrainState, critic_params, batch, target):
    """Every critic of the ensemble regressed onto one `target` (gradient stopped here): the loss
    summed over critics, and the diagnostics every value-based method logs."""
    target = jax.lax.stop_gradient(target)
    qs = critic.apply_fn({"params": critic_params}, batch["observations"], batch["actions"])
    loss = jnp.sum(jnp.mean(jnp.square(qs - target), axis=1))
    return loss, {"critic_loss": loss, "q_data": qs.mean(), "td_error": jnp.abs(qs - target).mean()}

def network_inputs(config, spec: Spec):
    """(example observation, example action, torso spec) to build an algorithm's networks."""
    obs = jnp.zeros((1, *spec.observation_shape), jnp.float32)
    act = jnp.zeros((1, spec.action_dim), jnp.float32)
    return obs, act, torso_spec(config.torso, spec.observation_shape, config.get("compute_dtype", "float32"),
                                config.get("init", "glorot"))


def policy_head(config, spec: Spec, hidden_dims, torso, default: str = "gaussian", state_dependent_std: bool = False):
    """The likelihood-fitted policy `config.policy_head` names (networks/policies.likelihood_policy),
    with its options from the config (configs/base.add_policy_head_fields)."""
    kind = config.get("policy_head", default)
    diffusion = None
    if kind == "diffusion":
        diffusion = dict(steps=config.diffusion_steps, sample_steps=config.diffusion_sample_steps,
                         dropout=config.diffusion_dropout, beta_schedule=config.beta_schedule)
    return likelihood_policy(kind, spec.action_dim, tuple(hidden_dims), torso,
                             state_dependent_std=state_dependent_std,
                             num_components=config.get("num_components", 5), diffusion=diffusion)


# ---------------------------------------------------------------- the fitted behaviour policy

BEHAVIOUR_ACTION_EPS = 1e-3  # the data's actions are clipped this far inside [-1, 1] for the
# squashed heads' densities, as BRAC's code (a logged action at the bound has density 0 under tanh)


def init_behaviour(config, spec: Spec, rng) -> TrainState:
    """The behaviour policy pi_b(a|s) that BRAC and one-step fit to the data in their first phase:
    `behaviour_head` over `behaviour_hidden_dims` (networks/policies.likelihood_policy)."""
    obs, _, torso = network_inputs(config, spec)
    module = likelihood_policy(config.behaviour_head, spec.action_dim, config.behaviour_hidden_dims, torso,
                               state_dependent_std=True, num_components=config.num_components)
    return create_train_state(module, rng, (obs,), make_optimizer(config.behaviour_lr))


def behaviour_log_prob(config, behaviour: TrainState, params, observations, actions, rng=None):
    """log pi_b(a|s); for the squashed head the actions are first clipped BEHAVIOUR_ACTION_EPS
    inside the bounds (the unsquashed heads have a density everywhere: clipping there would move
    the point a density is read at, and bias a KL estimate). The latent head's is its ELBO, with
    one latent drawn by `rng` (its encoder's mean without one)."""
    if config.behaviour_head == "tanh_gaussian":
        actions = jnp.clip(actions, -1.0 + BEHAVIOUR_ACTION_EPS, 1.0 - BEHAVIOUR_ACTION_EPS)
    return behaviour.apply_fn({"params": params}, observations).log_prob(actions, rng)


def fit_behaviour(config, state, batch, rng):
    """A phase update: one maximum-likelihood step of `state.behaviour` on the data's actions."""

    def nll(params):
        return -jnp.mean(behaviour_log_prob(config, state.behaviour, params, batch["observations"],
                                            batch["actions"], rng))

    loss, grads = jax.value_and_grad(nll)(state.behaviour.params)
    return state.replace(behaviour=state.behaviour.apply_gradients(grads=grads)), {"behaviour_nll": loss}


# ---------------------------------------------------------------- trajectory diffusion (Diffuser, Decision Diffuser)

def trajectory_model_dtype(config, spec: Spec, name: str, why: str):
    """Refuse what a temporal U-Net over continuous trajectories cannot take (discrete actions, a
    horizon its levels cannot halve), naming the fix; return its matmul dtype."""
    if spec.discrete:
        raise StitchError(f"{name} {why}; this dataset's actions are discrete. Fix: use a discrete-action "
                          f"algorithm (e.g. configs/dt.py).")
    try:
        check_horizon(int(config.planning_horizon), tuple(config.unet_dim_mults))
    except ValueError as e:
        raise StitchError(f"{e} (--config.planning_horizon / --config.unet_dim_mults)") from None
    return matmul_dtype(network_inputs(config, spec)[2])


def diffusion_schedules(config):
    """(training schedule, sampling schedule: `diffusion_sample_steps` respaced, 0 = all)."""
    schedule = make_schedule(config.beta_schedule, config.diffusion_steps)
    steps = int(config.diffusion_sample_steps)
    return schedule, (respace(schedule, steps) if steps else schedule)


def ema_update(config, step, params, ema):
    """The EMA of Diffuser's trainer: a copy of the parameters until `ema_start`, then every
    `ema_every` updates ema <- decay * ema + (1 - decay) * params."""
    def leaf(p, e):
        averaged = config.ema_decay * e + (1.0 - config.ema_decay) * p
        return jnp.where(step < config.ema_start, p, jnp.where(step % config.ema_every == 0, averaged, e))
    return jax.tree_util.tree_map(leaf, params, ema)

