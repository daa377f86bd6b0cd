"""Offline DQN (Mnih et al. 2015, trained on a fixed dataset as Agarwal et al. 2020's offline DQN)
and the discrete Q-learning core its family shares.

  loss  E_(s,a,r,s')~D [ huber(Q(s, a) - y) ],   y = r + gamma (1 - terminal) max_a' Q'(s', a')

Q' is a target network copied from Q every `target_update_interval` updates (0: Polyak
averaging with `tau` instead; 1: no target network). Acting is greedy in Q (epsilon-greedy with
`eval_epsilon` when sampling). With batch_rl's settings (configs/dqn.py) this is the offline DQN
that Agarwal et al. and Fujimoto et al. (2019) show over-estimating and under-performing the
behaviour policy on narrow data.

The core has four parts a variant swaps, so each variant's file holds only its paper's change:
  Head        what the network outputs per action (K numbers, one trunk) and how they are read,
              backed up and regressed: SCALAR here (K = 1; K heads for ensemble_dqn.py), QUANTILE
              (qr_dqn.py), CATEGORICAL (c51.py)
  next_value  (config, state, batch, online, target, head) -> (B, K), what is backed up from s':
              the greedy target value here; Double DQN's (ddqn.py), a threshold on a behaviour
              classifier (bcq_discrete.py), a soft value under a prior (kl_control.py), the SPIBB
              projection (spibb.py)
  penalty     (config, q_values (B, A), batch) -> (loss, metrics) added to the TD loss (cql_discrete.py)
  mix         (config, rng) -> (K,) convex weights: one random combination of heads per batch (rem.py)
and `scores` (what acting takes the argmax of). Logged: q_data (Q at the data's actions), q_policy
(the greedy max_a Q, whose drift above q_data is the over-estimation offline DQN suffers), td_error. Methods with a behaviour classifier keep it in
`state.behaviour` (fit_behaviour; BCQ fits it beside Q, KL-control and SPIBB in a first phase).
"""
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, create_train_state, make_optimizer, network_inputs, polyak_update
from networks import DiscreteQNetwork

ACTIONS = "discrete"


class DQNState(struct.PyTreeNode):
    q: TrainState
    target_params: Any
    behaviour: Optional[TrainState]  # logits of pi_b(a|s), for the methods that fit one (else None)
    aux: Any                         # what `prepare` gave (SPIBB's count table), else None
    step: jnp.ndarray


class Head(NamedTuple):
    """How the K outputs per action are read and trained (out: (*batch, A, K))."""

    outputs: Callable   # (config) -> K
    values: Callable    # (config, out) -> (*batch, A): the Q-values acting and the argmax read
    greedy: Callable    # (config, out) -> (B, K) actions: the argmax per output column
    backup: Callable    # (config, next_sa (B, K), batch) -> the regression target (B, K)
    loss: Callable      # (config, sa (B, K), target (B, K)) -> (B,) per-sample loss
    target_mean: Callable = lambda config, target: target.mean(-1)  # the target's value, (B,)


def discounts(config, batch):
    """gamma^n (1 - terminal) per row: the n-step sampler's own, else one step's."""
    if "discounts" in batch:
        return batch["discounts"]
    return config.discount * (1.0 - batch["terminals"])


def td_loss(config, error):
    if config.td_loss == "mse":
        return jnp.square(error)
    return optax.huber_loss(error, delta=1.0)


SCALAR = Head(
    outputs=lambda config: config.get("num_heads", 1),
    values=lambda config, out: out.mean(-1),  # one head: Q itself; K heads: their mean (REM's acting)
    greedy=lambda config, out: jnp.argmax(out, axis=-2),  # each head its own argmax (Ensemble-DQN)
    backup=lambda config, next_sa, batch: batch["rewards"][:, None] + discounts(config, batch)[:, None] * next_sa,
    loss=lambda config, sa, target: td_loss(config, sa - target).mean(-1),
)


def at_actions(out, actions):
    """out (B, A, K) read at actions (B,) or one per column (B, K): (B, K)."""
    if actions.ndim == 1:
        actions = jnp.broadcast_to(actions[:, None], (out.shape[0], out.shape[-1]))
    return jnp.take_along_axis(out, actions[:, None, :].astype(jnp.int32), axis=1)[:, 0, :]


def greedy_value(config, state, batch, online, target, head):
    """DQN's backup: the target network's value at its own greedy action."""
    del state, batch, online
    next_target = target()
    return at_actions(next_target, head.greedy(config, next_target))


def make_network(config, spec: Spec, outputs: int, hidden_dims=None):
    obs, _, torso = network_inputs(config, spec)
    module = DiscreteQNetwork(spec.action_dim, tuple(hidden_dims or config.hidden_dims),
                              layer_norm=config.get("critic_layer_norm", False), torso=torso,
                              per_action=outputs)
    return module, obs


def make_init(head: Head = SCALAR, behaviour: bool = False):
    def init(config, spec: Spec, rng, aux=None) -> DQNState:
        q_rng, b_rng = jax.random.split(rng)
        module, obs = make_network(config, spec, head.outputs(config))
        q = create_train_state(module, q_rng, (obs,), make_optimizer(config.critic_lr, eps=config.adam_eps))
        classifier = None
        if behaviour:
            module, obs = make_network(config, spec, 0, config.behaviour_hidden_dims)
            classifier = create_train_state(module, b_rng, (obs,), make_optimizer(config.behaviour_lr,
                                                                                  eps=config.adam_eps))
        return DQNState(q=q, target_params=q.params, behaviour=classifier, aux=aux, step=jnp.zeros((), jnp.int32))
    return init


def behaviour_logits(state: DQNState, observations, params=None):
    return state.behaviour.apply_fn({"params": state.behaviour.params if params is None else params}, observations)


def fit_behaviour(config, state: DQNState, batch, rng=None):
    """One step of pi_b's classifier: cross-entropy on the data's actions, plus discrete BCQ's
    penalty on the logits' size (`behaviour_logit_penalty`; its code's 1e-2)."""
    del rng

    def loss_fn(params):
        logits = behaviour_logits(state, batch["observations"], params)
        nll = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), batch["actions"][:, None].astype(jnp.int32),
                                            axis=-1))
        return nll + config.get("behaviour_logit_penalty", 0.0) * jnp.mean(jnp.square(logits)), nll

    (_, nll), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.behaviour.params)
    return state.replace(behaviour=state.behaviour.apply_gradients(grads=grads)), {"behaviour_nll": nll}


def update_target(config, q: TrainState, target_params, step):
    """A hard copy every `target_update_interval` updates (step counts updates done, from 1), or
    Polyak averaging with `tau` when it is 0."""
    if config.target_update_interval == 0:
        return polyak_update(q.params, target_params, config.tau)
    copy = step % config.target_update_interval == 0
    return jax.tree_util.tree_map(lambda p, t: jnp.where(copy, p, t), q.params, target_params)


def make_update(head: Head = SCALAR, next_value=greedy_value, penalty=None, mix=None,
                joint_behaviour: bool = False):
    """The family's update: a TD step of Q (and, with `joint_behaviour`, one classifier step)."""

    def update(config, state: DQNState, batch, rng):
        weights = None if mix is None else mix(config, rng)
        apply = lambda params, obs: _mixed(state.q.apply_fn({"params": params}, obs), weights)
        online = lambda: apply(state.q.params, batch["next_observations"])
        target = lambda: apply(state.target_params, batch["next_observations"])
        y = jax.lax.stop_gradient(head.backup(config, next_value(config, state, batch, online, target, head), batch))

        def loss_fn(params):
            out = apply(params, batch["observations"])
            sa = at_actions(out, batch["actions"])
            loss = head.loss(config, sa, y).mean()
            q_values, q_data = head.values(config, out), head.values(config, sa[:, None, :])[:, 0]
            metrics = {"td_loss": loss, "q_data": q_data.mean(), "q_policy": q_values.max(-1).mean(),
                       "td_error": jnp.abs(q_data - head.target_mean(config, y)).mean()}
            if penalty is not None:
                extra, more = penalty(config, q_values, batch)
                loss, metrics = loss + extra, {**metrics, **more}
            return loss, metrics

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.q.params)
        q = state.q.apply_gradients(grads=grads)
        step = state.step + 1
        state = state.replace(q=q, target_params=update_target(config, q, state.target_params, step), step=step)
        if joint_behaviour:
            state, more = fit_behaviour(config, state, batch)
            metrics = {**metrics, **more}
        return state, {"critic_loss": loss, **metrics}

    return update


def _mixed(out, weights):
    """REM: the heads' convex combination (one column), or the heads as they are."""
    return out if weights is None else jnp.einsum("...k,k->...", out, weights)[..., None]


def epsilon_greedy(config, best, num_actions, rng, deterministic):
    """The greedy actions, or with probability `eval_epsilon` each a uniform one when sampling."""
    if deterministic or config.eval_epsilon <= 0:
        return best
    explore_rng, pick_rng = jax.random.split(rng)
    explore = jax.random.uniform(explore_rng, best.shape) < config.eval_epsilon
    return jnp.where(explore, jax.random.randint(pick_rng, best.shape, 0, num_actions), best)


def q_scores(config, state: DQNState, observations, head: Head):
    return head.values(config, state.q.apply_fn({"params": state.q.params}, observations))


def make_act(head: Head = SCALAR, scores=q_scores):
    """Acting: the argmax of `scores(config, state, obs, head)` (B, A), epsilon-greedy when sampling."""
    def act(config, state: DQNState, observations, rng, deterministic: bool = True):
        s = scores(config, state, observations, head)
        best = jnp.argmax(s, axis=-1).astype(jnp.int32)
        return epsilon_greedy(config, best, s.shape[-1], rng, deterministic)
    return act


init = make_init()
update = make_update()
act = make_act()
