"""FQE: fitted Q evaluation (Le, Voloshin & Yue 2019), off-policy evaluation of a fixed policy.

Fits Q^pi of a target policy pi from the dataset alone, by regression onto its own bootstrap:
  loss  E_(s,a,r,s')~D[(Q(s, a) - y)^2],  y = r + gamma * (1 - terminal) * Q'(s', pi(s'))
with a Polyak-averaged target Q' (the stochastic-gradient form of Le et al.'s iterations, as
Paine et al. 2020 and d3rlpy run it). The estimate of pi's value is the *discounted* value at
the dataset's initial states, V = mean_i Q(s0_i, pi(s0_i)), logged as `fqe_value` (each update
evaluates a batch of initial states in rotation: `initial_rows`; the online evaluation reports
undiscounted returns: compare ranks, or discount).

The target policy arrives as data, not code: `config.target_actions` names an .npz with pi's
actions at every row's state and next state, for K policies at once (`actions` and
`next_actions`, shape (N, K, action_dim), in the dataset's normalised action space;
scripts/ope.py writes it from stitch checkpoints). Run k evaluates policy
`config.policy_index` = k, so one program fits all K (`--config.sweep="policy_index=0,...,K-1"`).
Without a file, pi is the behaviour policy (the logged next action: SARSA), V^mu.

Variant: `fqe_discrete` (Q(s, .) over discrete actions) changes `q_values` and the network.
"""
import numpy as np
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Phase, Spec, StitchError, create_train_state, make_optimizer, network_inputs, polyak_update
from algos.runs import parse_sweep
from data import samplers
from data.diagnostics import episode_bounds
from networks import QNetwork

ACTIONS = "continuous"


def _target_columns(config, arrays):
    """The target actions' columns from config.target_actions (none: the behaviour policy)."""
    if not config.target_actions:
        return {}
    try:
        with np.load(config.target_actions) as f:
            columns = {"target_actions": f["actions"], "target_next_actions": f["next_actions"]}
            dataset = str(f["dataset"]) if "dataset" in f else None
    except (OSError, KeyError, ValueError) as err:
        raise StitchError(f"config.target_actions={config.target_actions} cannot be read as an .npz "
                          f"with 'actions' and 'next_actions' ({type(err).__name__}: {err}). Fix: write it "
                          f"with scripts/ope.py, or give those arrays of shape (N, K, action_dim).") from None
    n = len(arrays["rewards"])
    for name, column in columns.items():
        if column.shape[0] != n:
            raise StitchError(f"config.target_actions: '{name}' has {column.shape[0]} rows, but dataset "
                              f"{config.dataset} has {n} transitions{f' (the file was made for {dataset})' if dataset else ''}. "
                              f"Fix: make the target actions on this dataset.")
    if dataset is not None and dataset != config.dataset:
        raise StitchError(f"config.target_actions was made for dataset {dataset}, not {config.dataset}. "
                          f"Fix: make the target actions on this dataset (scripts/ope.py).")
    return columns


def _gather(config, data, indices):
    batch = samplers.transitions.gather(config, data, indices)
    if "target_next_actions" in data:
        batch["target_next_actions"] = data["target_next_actions"][indices]
    return batch


SAMPLER = samplers.Sampler("fqe_transitions", _target_columns, _gather, ("target_actions",))


def prepare(config, data, info):
    """The dataset's initial states and pi's actions there (all K policies): the states V is
    estimated at."""
    starts, _ = episode_bounds(np.asarray(data["episode_ends"]))
    observations = samplers.observations_at(config, data, jnp.asarray(starts))
    if "target_actions" in data:
        actions = data["target_actions"][starts]
        count = actions.shape[1]
        swept = [p.get("policy_index", config.policy_index) for p in parse_sweep(config)]
        bad = [k for k in swept if not 0 <= k < count]
        if bad:
            raise StitchError(f"policy_index {bad} is out of range: config.target_actions holds {count} "
                              f"policies (0..{count - 1}). Fix: sweep policy_index over 0..{count - 1}.")
    else:
        actions = data["actions"][starts][:, None]
        if config.policy_index != 0 or "policy_index" in (config.sweep or ""):
            raise StitchError("policy_index selects one of config.target_actions' policies, and none "
                              "is given (FQE then evaluates the behaviour policy). Fix: set "
                              "config.target_actions, or leave policy_index at 0.")
    return {"initial_observations": observations, "initial_actions": actions}


class FQEState(struct.PyTreeNode):
    critic: TrainState
    target_params: dict
    initial_observations: jnp.ndarray
    initial_actions: jnp.ndarray   # pi's action at each initial state, this run's policy
    step: jnp.ndarray


def make_critic(config, spec: Spec):
    obs, act, torso = network_inputs(config, spec)
    return QNetwork(tuple(config.hidden_dims), layer_norm=config.critic_layer_norm, torso=torso), (obs, act)


def q_values(critic: TrainState, params, observations, actions):
    return critic.apply_fn({"params": params}, observations, actions)


def make_init(make_critic):
    def init(config, spec: Spec, rng, aux) -> FQEState:
        network, example = make_critic(config, spec)
        critic = create_train_state(network, rng, example, make_optimizer(config.critic_lr))
        return FQEState(critic=critic, target_params=critic.params,
                        initial_observations=aux["initial_observations"],
                        initial_actions=aux["initial_actions"][:, config.policy_index],
                        step=jnp.zeros((), jnp.int32))
    return init


def target_next_actions(config, batch):
    if "target_next_actions" not in batch:
        return batch["next_actions"]
    return batch["target_next_actions"][:, config.policy_index]


def initial_rows(config, state: FQEState, step):
    """The initial states (and pi's actions there) one update evaluates V at: all of them when
    they fit in a batch, else a batch that rotates through them with the update index, so the
    logged mean over a chunk of updates covers every initial state (near-)equally, at a batch's
    cost per update (hopper-medium-replay's 1439 initial states would cost more than the update)."""
    count, rows = state.initial_observations.shape[0], config.batch_size
    if count <= rows:
        return state.initial_observations, state.initial_actions
    index = ((step % count) * rows + jnp.arange(rows)) % count
    return state.initial_observations[index], state.initial_actions[index]


def make_update(q_values):
    """FQE's update for a critic read by q_values(critic, params, observations, actions)."""
    def critic_loss(params, config, state: FQEState, batch):
        next_q = q_values(state.critic, state.target_params, batch["next_observations"],
                          target_next_actions(config, batch))
        target = batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q
        q = q_values(state.critic, params, batch["observations"], batch["actions"])
        loss = jnp.mean(jnp.square(q - jax.lax.stop_gradient(target)))
        return loss, {"fqe_loss": loss, "q_data": q.mean(), "td_error": jnp.abs(q - target).mean()}

    def update(config, state: FQEState, batch, rng, step=None):
        del rng
        (_, metrics), grads = jax.value_and_grad(critic_loss, has_aux=True)(state.critic.params, config,
                                                                            state, batch)
        critic = state.critic.apply_gradients(grads=grads)
        observations, actions = initial_rows(config, state, state.step if step is None else step)
        value = q_values(critic, critic.params, observations, actions).mean()
        target = polyak_update(critic.params, state.target_params, config.tau)
        return state.replace(critic=critic, target_params=target, step=state.step + 1), \
            {**metrics, "fqe_value": value}
    return update


init = make_init(make_critic)
update = make_update(q_values)
PHASES = (Phase("evaluate", update, evaluate=False),)


def act(config, state, observations, rng, deterministic=True):
    raise StitchError("FQE evaluates a given policy and has none of its own to act with. Fix: "
                      "evaluate the policy's own checkpoint; FQE's estimate is results' fqe_value.")
