"""Trajectory Transformer (Janner, Li & Levine 2021): offline RL as sequence modelling and planning.

Each transition becomes S + A + 2 tokens, its state's dims, its action's, its reward and its value
(the discounted return from the next step), each dimension discretised into `tt_bins` bins
(data/discretise.py; quantile bins by default). A GPT (networks/gpt.TrajectoryModel) is fitted by
next-token cross-entropy on windows of `context_len` transitions (the `windows` sampler), action
tokens weighted `tt_action_weight`.

Acting is beam-search planning from the current state, with the last `tt_max_context`
transitions as context: for each of `tt_horizon` steps, every beam is copied `tt_n_expand` times,
actions are sampled token by token (the tail of each distribution holding 1 - `tt_cdf_act` of its
mass removed), then the reward and value tokens (greedy), and the beams are ranked by the
predicted rewards so far plus the discounted predicted value (each the expectation under the
model's bin probabilities); the best `tt_beam_width` keep going, their next state decoded
greedily. The best beam's first action is taken; each step plans anew.

A variant changes `transition_values` (what the value token holds) or the ranking in `plan`.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, StitchError, scale_by_learning_rate_in_state, scale_by_warmup
from data import discretise, samplers
from networks.gpt import TrajectoryModel

ACTIONS = "continuous"
SAMPLER = samplers.windows


class TTState(struct.PyTreeNode):
    model: TrainState
    edges: jnp.ndarray  # the discretiser's (bins + 1, transition_dim) edges
    step: jnp.ndarray


def _dims(spec: Spec):
    S = int(np.prod(spec.observation_shape))
    return S, spec.action_dim, S + spec.action_dim + 2


def _model(config, spec: Spec) -> TrajectoryModel:
    J = _dims(spec)[2]
    return TrajectoryModel(config.tt_bins, J, max_len=int(config.context_len) * J, embed_dim=config.embed_dim,
                           num_layers=config.num_layers, num_heads=config.num_heads, dropout=config.dropout)


def transition_values(config, observations, actions, rewards, values):
    """(..., S + A + 2) rows: state, action, reward, value (the windows sampler's columns)."""
    lead = rewards.shape
    return jnp.concatenate([observations.reshape(*lead, -1), actions.reshape(*lead, -1),
                            rewards[..., None], values[..., None]], axis=-1)


def _check_config(config):
    if config.reward_transform != "none" or config.observation_transform != "none":
        raise StitchError("The Trajectory Transformer discretises the data's own states and rewards. Fix: "
                          "--config.reward_transform=none --config.observation_transform=none.")


def prepare(config, data, info):
    """The discretiser's edges, fitted on every transition of the data (host, once)."""
    _check_config(config)
    columns = data if "values" in data else samplers.windows.prepare(config, data)
    values, rewards = columns["values"], columns.get("penalised_rewards", data["rewards"])
    observations = np.asarray(data["observations"])
    if "obs_index" in data:  # loaded data stores each episode's frames once
        observations = observations[np.asarray(data["obs_index"])]
    rows = transition_values(config, observations, np.asarray(data["actions"]), np.asarray(rewards),
                             np.asarray(values))
    return {"edges": np.asarray(discretise.fit_discretiser(np.asarray(rows), config.tt_bins, config.tt_discretiser).edges)}


def make_optimizer(config):
    """AdamW (b2 0.95, decay on every parameter) after a global-norm clip at 1, a linear warm-up
    and a cosine decay over the run (minGPT's schedule, which TT's trainer uses)."""
    return optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam(b2=0.95),
                       optax.add_decayed_weights(config.weight_decay), scale_by_warmup(config.warmup_steps),
                       scale_by_learning_rate_in_state(config.actor_lr, config.num_updates))


def init(config, spec: Spec, rng, aux=None) -> TTState:
    if spec.discrete:
        raise StitchError("The Trajectory Transformer plans over discretised continuous actions.")
    model = _model(config, spec)
    J = _dims(spec)[2]
    L = int(config.context_len) * J - 1
    params = model.init(rng, jnp.zeros((1, L), jnp.int32), jnp.arange(L)[None], jnp.ones((1, L)))["params"]
    edges = aux["edges"] if aux is not None else np.tile(np.linspace(-1, 1, config.tt_bins + 1)[:, None], (1, J))
    return TTState(model=TrainState.create(apply_fn=model.apply, params=params, tx=make_optimizer(config)),
                   edges=jnp.asarray(edges, jnp.float32), step=jnp.zeros((), jnp.int32))


def token_weights(config, S, A):
    """Each dimension's weight in the loss: the action's `tt_action_weight`, the rest 1 (TT's)."""
    return jnp.asarray(np.r_[np.ones(S), np.full(A, config.tt_action_weight), np.ones(2)], jnp.float32)


def update(config, state: TTState, batch, rng):
    B, K = batch["rewards"].shape
    rows = transition_values(config, batch["observations"], batch["actions"], batch["rewards"], batch["values"])
    J = rows.shape[-1]
    tokens = discretise.encode(discretise.Discretiser(state.edges), rows).reshape(B, K * J)
    valid = jnp.repeat(batch["mask"], J, axis=1)
    first = (K - jnp.sum(batch["mask"], axis=1)).astype(jnp.int32) * J  # first real token (left padding)
    positions = jnp.maximum(jnp.arange(K * J - 1)[None] - first[:, None], 0)
    A = batch["actions"].reshape(B, K, -1).shape[-1]
    weights = jnp.tile(token_weights(config, J - 2 - A, A), K)[1:]  # of each target token
    loss_mask = valid[:, :-1] * valid[:, 1:] * weights

    def loss_fn(params):
        logits = state.model.apply_fn({"params": params}, tokens[:, :-1], positions, valid[:, :-1],
                                      deterministic=False, rngs={"dropout": rng})
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:])
        return jnp.sum(ce * loss_mask) / jnp.maximum(jnp.sum(loss_mask), 1.0)

    loss, grads = jax.value_and_grad(loss_fn)(state.model.params)
    return state.replace(model=state.model.apply_gradients(grads=grads), step=state.step + 1), {"actor_loss": loss}


# ---------------------------------------------------------------- planning

def filter_cdf(logits, cdf):
    """Remove each distribution's least likely tokens whose total mass is below 1 - cdf (TT's
    filter_cdf): the kept tokens hold at least `cdf` of it."""
    probs = jax.nn.softmax(logits, axis=-1)
    ascending = jnp.sort(probs, axis=-1)
    tail = jnp.cumsum(ascending, axis=-1) < (1.0 - cdf)
    threshold = jnp.max(jnp.where(tail, ascending, -1.0), axis=-1, keepdims=True)
    return jnp.where(probs <= threshold, -1e9, logits)


def plan(next_logits, sequence, length, rng, *, dims, horizon, beam_width, n_expand, discount, cdf_act,
         expect_reward_value):
    """Beam search from `sequence` (L,) int tokens whose first `length` are real (the context
    transitions, then the current state's S tokens). `next_logits(tokens (B, L), length)` gives
    the logits (B, N) of token `length` given tokens[:, :length]. `expect_reward_value(probs_r,
    probs_v)` gives the expected reward and value. Returns (best plan's tokens (L,), its score)."""
    S, A, J = dims
    tokens = jnp.tile(sequence[None], (beam_width, 1))
    scores_r = jnp.zeros((beam_width, horizon + 1))
    discounts = discount ** jnp.arange(horizon + 1)

    def write(tokens, n, token):
        return jax.lax.dynamic_update_slice(tokens, token[:, None].astype(tokens.dtype), (0, n))

    def sample_tokens(tokens, n, count, rng, greedy):
        def body(i, carry):
            tokens, rng = carry
            rng, key = jax.random.split(rng)
            logits = next_logits(tokens, n + i)
            token = (jnp.argmax(logits, -1) if greedy else
                     jax.random.categorical(key, filter_cdf(logits, cdf_act), axis=-1))
            return write(tokens, n + i, token), rng
        return jax.lax.fori_loop(0, count, body, (tokens, rng))[0]

    n = length
    values = jnp.zeros((beam_width,))
    for t in range(horizon):
        rng, act_rng = jax.random.split(rng)
        tokens, scores_r = jnp.repeat(tokens, n_expand, axis=0), jnp.repeat(scores_r, n_expand, axis=0)
        tokens = sample_tokens(tokens, n, A, act_rng, greedy=False)
        probs_r = jax.nn.softmax(next_logits(tokens, n + A), -1)
        tokens = write(tokens, n + A, jnp.argmax(probs_r, -1))
        probs_v = jax.nn.softmax(next_logits(tokens, n + A + 1), -1)
        tokens = write(tokens, n + A + 1, jnp.argmax(probs_v, -1))
        reward, value = expect_reward_value(probs_r, probs_v)
        scores_r = scores_r.at[:, t].set(reward).at[:, t + 1].set(value)
        values, keep = jax.lax.top_k(jnp.sum(scores_r * discounts, -1), beam_width)
        tokens, scores_r = tokens[keep], scores_r[keep]
        n = n + A + 2
        if t < horizon - 1:
            tokens = sample_tokens(tokens, n, S, rng, greedy=True)
            n = n + S
    best = jnp.argmax(values)
    return tokens[best], values[best]


def _window_logits(config, state: TTState, tokens, n, J):
    """Logits of token n from the last transitions before it (TT's crop: at most tt_max_context
    transitions, whole transitions dropped from the front, positions counted from the crop)."""
    W = int(config.tt_max_context) * J - 1
    start = jnp.maximum(0, -(-(n - W) // J)) * J
    padded = jnp.pad(tokens, ((0, 0), (W, 0)))
    window = jax.lax.dynamic_slice_in_dim(padded, n, W, axis=1)  # tokens n - W .. n - 1
    absolute = n - W + jnp.arange(W)
    real = absolute >= start
    positions = jnp.where(real, absolute - start, 0)
    B = tokens.shape[0]
    return state.model.apply_fn({"params": state.model.params}, window, jnp.tile(positions[None], (B, 1)),
                                jnp.tile(real[None].astype(jnp.float32), (B, 1)), deterministic=True, last_only=True)


def init_memory(config, spec: Spec, num_envs):
    """Per env: the last tt_max_context transitions' tokens (left-aligned), how many, the state
    and action of the step in progress, and the evaluator's last reward."""
    S, A, J = _dims(spec)
    C = int(config.tt_max_context)
    return {"context": np.zeros((num_envs, C * J), np.int32), "count": np.zeros((num_envs,), np.int32),
            "observation": np.zeros((num_envs, S), np.float32), "action": np.zeros((num_envs, A), np.float32),
            "t": np.zeros((num_envs,), np.int32), "reward": np.zeros((num_envs,), np.float32)}


def act(config, state: TTState, observations, rng, deterministic: bool = True, memory=None):
    del deterministic  # planning samples actions; the plan's first action is taken
    if memory is None:
        raise StitchError("The Trajectory Transformer plans from its context. Fix: pass the memory of "
                          "init_memory(config, spec, num_envs) and carry the one act returns.")
    E = observations.shape[0]
    obs = observations.reshape(E, -1)
    S, A = obs.shape[1], memory["action"].shape[1]
    J, C, H = S + A + 2, int(config.tt_max_context), int(config.tt_horizon)
    disc = discretise.Discretiser(state.edges)

    # the finished step (state, action, reward, value placeholder 0, as TT's update_context)
    last = jnp.concatenate([memory["observation"], memory["action"], memory["reward"][:, None], jnp.zeros((E, 1))], -1)
    last = discretise.encode(disc, last)
    full = memory["count"] >= C
    shifted = jnp.where(full[:, None], jnp.roll(memory["context"], -J, axis=1), memory["context"])
    slot = jnp.where(full, C - 1, memory["count"])
    appended = jax.vmap(lambda ctx, s, row: jax.lax.dynamic_update_slice(ctx, row, (s * J,)))(shifted, slot, last)
    started = memory["t"] > 0
    context = jnp.where(started[:, None], appended, memory["context"])
    count = jnp.where(started, jnp.minimum(memory["count"] + 1, C), memory["count"])

    state_tokens = discretise.encode(disc, jnp.concatenate([obs, jnp.zeros((E, J - S))], -1))[:, :S]
    L = (C + H) * J
    sequences = jnp.zeros((E, L), jnp.int32).at[:, :C * J].set(context)
    sequences = jax.vmap(lambda seq, c, st: jax.lax.dynamic_update_slice(seq, st, (c * J,)))(sequences, count, state_tokens)
    centres = discretise.centres(disc)

    def expect(probs_r, probs_v):
        return probs_r @ centres[:, J - 2], probs_v @ centres[:, J - 1]

    one = functools.partial(plan, functools.partial(_window_logits, config, state, J=J), dims=(S, A, J), horizon=H,
                            beam_width=int(config.tt_beam_width), n_expand=int(config.tt_n_expand),
                            discount=config.discount, cdf_act=config.tt_cdf_act, expect_reward_value=expect)
    best, _ = jax.vmap(one)(sequences, count * J + S, jax.random.split(rng, E))
    first = jax.vmap(lambda seq, c: jax.lax.dynamic_slice(seq, (c * J + S,), (A,)))(best, count)
    action_cols = jnp.arange(S, S + A)
    action = centres[first, action_cols]
    return action, {"context": context, "count": count, "observation": obs, "action": action,
                    "t": memory["t"] + 1, "reward": jnp.zeros_like(memory["reward"])}


__all__ = ["TTState", "init", "update", "act", "init_memory", "prepare", "plan", "filter_cdf",
           "transition_values"]
