"""Decision Transformer (Chen et al. 2021): offline RL as return-conditioned sequence modelling.

A causal GPT (networks/gpt.py) reads the last K steps as interleaved tokens
(R_1, s_1, a_1, ..., R_K, s_K, a_K), R the undiscounted return-to-go divided by `rtg_scale`, each
token embedded by its own linear layer (actions: an embedding table when discrete) plus a learned
embedding of the step's timestep, then LayerNorm. The action a_t is predicted from the hidden
state of token s_t, which the causal mask keeps from seeing a_t: MSE through a tanh head for
continuous actions, cross-entropy for discrete ones, averaged over the window's real (unpadded)
steps. Training windows come from the `windows` sampler (left-padded at episode starts, with a
mask). AdamW with a linear learning-rate warm-up and gradient clipping, as the paper's code.

Acting: the policy carries its context as memory (`init_memory`), one per env of the vector env.
Each step it appends the new observation, the return-to-go decremented by the reward just
received (the evaluator writes it into `memory["reward"]`) and the timestep, predicts the action
at the last position and writes it into the context. Episodes start from a target return; with
several `target_returns` the evaluator runs each as its own condition (`eval_conditions`), and
reports them all (the first is the run's score). An empty `target_returns` conditions on the
data's best episode return.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, StitchError, network_inputs, scale_by_learning_rate_in_state, scale_by_warmup
from data import samplers
from networks.gpt import GPT, GPT_INIT_STD
from networks.inits import layer_init
from networks.torsos import Torso

ACTIONS = "both"
SAMPLER = samplers.windows


class DecisionTransformer(nn.Module):
    """(returns_to_go (B,K), observations (B,K,...), actions (B,K[,A]), timesteps (B,K), mask (B,K))
    -> action predictions at every step (B, K, A): tanh actions, or logits when discrete."""

    action_dim: int
    discrete: bool
    torso: object
    embed_dim: int = 128
    num_layers: int = 3
    num_heads: int = 1
    dropout: float = 0.1
    max_timestep: int = 1000
    activation: str = "relu"

    @nn.compact
    def __call__(self, returns_to_go, observations, actions, timesteps, mask, deterministic: bool = True):
        B, K = returns_to_go.shape
        D = self.embed_dim

        def linear(fan_in, name):  # the gym code's torch.nn.Linear embeddings and heads
            kernel, bias = layer_init("pytorch", "hidden", fan_in)
            return nn.Dense(D, kernel_init=kernel, bias_init=bias, name=name)

        obs = observations.reshape(B * K, *observations.shape[2:])
        features = Torso(self.torso, name="torso")(obs).reshape(B, K, -1)
        embed_state = linear(features.shape[-1], "embed_state")(features)
        embed_rtg = linear(1, "embed_return")(returns_to_go[..., None])
        if self.discrete:
            embed_action = nn.Embed(self.action_dim, D, embedding_init=nn.initializers.normal(GPT_INIT_STD),
                                    name="embed_action")(actions)
        else:
            embed_action = linear(self.action_dim, "embed_action")(actions)
        steps = jnp.clip(timesteps, 0, self.max_timestep)
        embed_time = nn.Embed(self.max_timestep + 1, D, embedding_init=nn.initializers.normal(GPT_INIT_STD),
                              name="embed_timestep")(steps)
        tokens = jnp.stack([embed_rtg, embed_state, embed_action], axis=2) + embed_time[:, :, None]
        tokens = nn.LayerNorm(name="embed_ln")(tokens.reshape(B, 3 * K, D))
        token_mask = jnp.repeat(mask, 3, axis=1)
        hidden = GPT(self.num_layers, self.num_heads, self.dropout, self.activation, name="gpt")(tokens, token_mask, deterministic)
        at_states = hidden.reshape(B, K, 3, D)[:, :, 1]
        kernel, bias = layer_init("pytorch", "policy", D)
        out = nn.Dense(self.action_dim, kernel_init=kernel, bias_init=bias, name="predict_action")(at_states)
        return out if self.discrete else jnp.tanh(out)


class DTState(struct.PyTreeNode):
    model: TrainState
    targets: jnp.ndarray  # (C,) the evaluation's starting returns-to-go, one per condition
    step: jnp.ndarray


def _model(config, spec: Spec) -> DecisionTransformer:
    _, _, torso = network_inputs(config, spec)
    return DecisionTransformer(spec.action_dim, spec.discrete, torso, embed_dim=config.embed_dim,
                               num_layers=config.num_layers, num_heads=config.num_heads,
                               dropout=config.dropout, max_timestep=config.max_timestep,
                               activation=config.activation)


def make_dt_optimizer(config) -> optax.GradientTransformation:
    """torch AdamW (decoupled weight decay on every parameter, as the paper's gym code) with the
    warm-up, after clipping the gradient's global norm. The rate lives in optimizer state."""
    return optax.chain(optax.clip_by_global_norm(config.grad_clip), optax.scale_by_adam(),
                       optax.add_decayed_weights(config.weight_decay), scale_by_warmup(config.warmup_steps),
                       scale_by_learning_rate_in_state(config.actor_lr))


def _check_config(config):
    if config.reward_transform != "none":
        raise StitchError(f"Decision Transformer conditions on the env's own returns, but "
                          f"config.reward_transform={config.reward_transform!r} changes the data's "
                          f"rewards. Fix: --config.reward_transform=none (scale returns with "
                          f"--config.rtg_scale instead).")
    if int(config.context_len) < 1:
        raise StitchError(f"config.context_len={config.context_len} must be at least 1.")


def prepare(config, data, info):
    """The evaluation's target returns: `config.target_returns`, or the data's best episode return."""
    _check_config(config)
    targets = tuple(float(t) for t in config.target_returns)
    if not targets:  # the best episode's return (the windows sampler's columns, or from the rewards)
        if "returns_to_go" in data:
            rtg, starts = np.asarray(data["returns_to_go"]), np.asarray(data["timesteps"]) == 0
        else:
            rtg = samplers._returns_to_go(data["rewards"], data["episode_ends"], 1.0)
            starts = np.unique(samplers._episode_bounds(data["episode_ends"])[0])
        targets = (float(rtg[starts].max()),)
    return {"targets": np.asarray(targets, np.float32)}


def eval_conditions(config):
    """The evaluator's conditions: one per target return (the first is the run's score)."""
    targets = tuple(config.target_returns)
    return tuple(f"target_return={t:g}" for t in targets) if targets else ("target_return=data_max",)


def init(config, spec: Spec, rng, aux=None) -> DTState:
    model = _model(config, spec)
    K = int(config.context_len)
    obs = jnp.zeros((1, K, *spec.observation_shape), jnp.float32)
    actions = jnp.zeros((1, K), jnp.int32) if spec.discrete else jnp.zeros((1, K, spec.action_dim))
    params = model.init(rng, jnp.zeros((1, K)), obs, actions, jnp.zeros((1, K), jnp.int32),
                        jnp.ones((1, K)))["params"]
    state = TrainState.create(apply_fn=model.apply, params=params, tx=make_dt_optimizer(config))
    targets = aux["targets"] if aux is not None else np.zeros((len(eval_conditions(config)),), np.float32)
    return DTState(model=state, targets=jnp.asarray(targets), step=jnp.zeros((), jnp.int32))


def sequence_loss(pred, actions, mask, discrete: bool):
    """Mean over real steps of the per-step loss: squared error averaged over action dims, or the
    cross-entropy of the data action."""
    if discrete:
        per_step = optax.softmax_cross_entropy_with_integer_labels(pred, actions)
    else:
        per_step = jnp.mean(jnp.square(pred - actions), axis=-1)
    return jnp.sum(per_step * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _inputs(config, batch):
    return (batch["returns_to_go"] / config.rtg_scale, batch["observations"], batch["actions"],
            batch["timesteps"], batch["mask"])


def update(config, state: DTState, batch, rng):
    discrete = jnp.issubdtype(batch["actions"].dtype, jnp.integer)

    def loss_fn(params):
        pred = state.model.apply_fn({"params": params}, *_inputs(config, batch), deterministic=False,
                                    rngs={"dropout": rng})
        return sequence_loss(pred, batch["actions"], batch["mask"], discrete)

    loss, grads = jax.value_and_grad(loss_fn)(state.model.params)
    model = state.model.apply_gradients(grads=grads)
    return state.replace(model=model, step=state.step + 1), {"actor_loss": loss}


def init_memory(config, spec: Spec, num_envs):
    """The context of each env: its last K steps, the current return-to-go and timestep, and its
    condition (envs are condition-major: the first num_envs / C run the first target)."""
    K = int(config.context_len)
    C = len(eval_conditions(config))
    actions = (np.zeros((num_envs, K), np.int32) if spec.discrete
               else np.zeros((num_envs, K, spec.action_dim), np.float32))
    return {"observations": np.zeros((num_envs, K, *spec.observation_shape), np.float32),
            "actions": actions,
            "returns_to_go": np.zeros((num_envs, K), np.float32),
            "timesteps": np.zeros((num_envs, K), np.int32),
            "mask": np.zeros((num_envs, K), np.float32),
            "rtg": np.zeros((num_envs,), np.float32),       # the return still to collect, env scale
            "t": np.zeros((num_envs,), np.int32),
            "condition": (np.arange(num_envs) * C // max(num_envs, 1)).astype(np.int32),
            "reward": np.zeros((num_envs,), np.float32)}     # written by the evaluator each step


def _push(x, new):
    """Drop the oldest step of a (N, K, ...) window and append `new` (N, ...)."""
    return jnp.concatenate([x[:, 1:], new[:, None].astype(x.dtype)], axis=1)


def act(config, state: DTState, observations, rng, deterministic: bool = True, memory=None):
    del rng, deterministic  # the paper acts with the predicted action (a softmax's argmax when discrete)
    if memory is None:
        raise StitchError("Decision Transformer acts from its context. Fix: pass the memory of "
                          "init_memory(config, spec, num_envs) and carry the one act returns.")
    first = memory["t"] == 0
    rtg = jnp.where(first, state.targets[memory["condition"]], memory["rtg"] - memory["reward"])
    n = observations.shape[0]
    ctx = {"observations": _push(memory["observations"], observations),
           "actions": _push(memory["actions"], jnp.zeros(memory["actions"].shape[:1] + memory["actions"].shape[2:],
                                                         memory["actions"].dtype)),
           "returns_to_go": _push(memory["returns_to_go"], rtg),
           "timesteps": _push(memory["timesteps"], memory["t"]),
           "mask": _push(memory["mask"], jnp.ones((n,)))}
    pred = state.model.apply_fn({"params": state.model.params}, ctx["returns_to_go"] / config.rtg_scale,
                                ctx["observations"], ctx["actions"], ctx["timesteps"], ctx["mask"],
                                deterministic=True)[:, -1]
    discrete = jnp.issubdtype(memory["actions"].dtype, jnp.integer)
    action = jnp.argmax(pred, axis=-1).astype(jnp.int32) if discrete else pred
    ctx["actions"] = ctx["actions"].at[:, -1].set(action)
    return action, {**ctx, "rtg": rtg, "t": memory["t"] + 1, "condition": memory["condition"],
                    "reward": jnp.zeros_like(memory["reward"])}


__all__ = ["DecisionTransformer", "DTState", "init", "update", "act", "init_memory", "prepare",
           "eval_conditions", "sequence_loss", "scale_by_warmup"]
