"""IQL: offline RL with implicit Q-learning (Kostrikov, Nair & Levine, ICLR 2022).

Learns values only from dataset actions (in-sample), never querying Q on unseen actions:
  V   <- expectile regression of min_i Q_target_i(s, a) with expectile tau (0.7 locomotion):
         L_V = E[ |tau - 1(u < 0)| u^2 ],  u = Q(s, a) - V(s)
  Q_i <- r + gamma * (1 - done) * V(s')                      (plain MSE)
  pi  <- advantage-weighted regression: maximise E[ exp(beta * (Q - V)) log pi(a|s) ],
         weights clipped at 100, beta = `temperature` (3.0 locomotion).
The actor uses a Gaussian with tanh mean and state-independent std and a cosine-decayed
learning rate; the target critic is a Polyak average.

For a variant change `expectile_loss` (e.g. a quantile loss) or the weights in `actor_loss`.
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, actor_log_prob, create_train_state, make_optimizer, network_inputs, policy_head, polyak_update
from networks import QEnsemble, ValueNetwork, ensemble_min

ACTIONS = "continuous"
EXP_ADV_MAX = 100.0


class IQLState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    value: TrainState
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> IQLState:
    actor_rng, critic_rng, value_rng = jax.random.split(rng, 3)
    obs, act, torso = network_inputs(config, spec)
    hidden = tuple(config.hidden_dims)
    actor = create_train_state(  # IDQL's diffusion model has widths of its own
        policy_head(config, spec, config.get("actor_hidden_dims", hidden), torso), actor_rng, (obs,),
        make_optimizer(config.actor_lr, config.num_updates if config.actor_cosine_decay else None))
    critic = create_train_state(QEnsemble(hidden, num_critics=2, torso=torso), critic_rng, (obs, act),
                                make_optimizer(config.critic_lr))
    value = create_train_state(ValueNetwork(hidden, torso=torso), value_rng, (obs,),
                               make_optimizer(config.value_lr))
    return IQLState(actor=actor, critic=critic, value=value,
                    target_critic_params=critic.params, step=jnp.zeros((), jnp.int32))


def expectile_loss(diff, expectile):
    """Asymmetric squared loss |tau - 1(diff < 0)| * diff^2, elementwise."""
    weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
    return weight * jnp.square(diff)


def value_loss(value_params, config, state: IQLState, batch):
    q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params},
                                           batch["observations"], batch["actions"]))
    v = state.value.apply_fn({"params": value_params}, batch["observations"])
    loss = expectile_loss(q - v, config.expectile).mean()
    return loss, {"value_loss": loss, "v_data": v.mean()}


def critic_loss(critic_params, config, state: IQLState, batch):
    next_v = state.value.apply_fn({"params": state.value.params}, batch["next_observations"])
    target = batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_v
    qs = state.critic.apply_fn({"params": critic_params}, batch["observations"], batch["actions"])
    loss = jnp.mean(jnp.sum(jnp.square(qs - target), axis=0))
    return loss, {"critic_loss": loss, "q_data": qs.mean(), "td_error": jnp.abs(qs - target).mean()}


def actor_loss(actor_params, config, state: IQLState, batch, rng=None):
    v = state.value.apply_fn({"params": state.value.params}, batch["observations"])
    q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params},
                                           batch["observations"], batch["actions"]))
    weights = jnp.minimum(jnp.exp(config.temperature * (q - v)), EXP_ADV_MAX)
    dist = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    log_prob = dist.log_prob(batch["actions"], rng)  # rng: the latent head's ELBO noise
    loss = -(weights * log_prob).mean()
    return loss, {"actor_loss": loss, "adv_weight": weights.mean(), "advantage": (q - v).mean()}


def update(config, state: IQLState, batch, rng):
    # Order as in the paper's code: V from the target Q, then the actor and Q from the new V.
    (_, value_info), grads = jax.value_and_grad(value_loss, has_aux=True)(
        state.value.params, config, state, batch)
    state = state.replace(value=state.value.apply_gradients(grads=grads))

    (_, actor_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor.params, config, state, batch, rng)
    actor = state.actor.apply_gradients(grads=grads)

    (_, critic_info), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic.params, config, state, batch)
    critic = state.critic.apply_gradients(grads=grads)

    state = state.replace(
        actor=actor, critic=critic, step=state.step + 1,
        target_critic_params=polyak_update(critic.params, state.target_critic_params, config.tau))
    return state, {**value_info, **actor_info, **critic_info}


def act(config, state: IQLState, observations, rng, deterministic: bool = True):
    del config
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    actions = dist.mode() if deterministic else dist.sample(rng)
    return jnp.clip(actions, -1.0, 1.0)


log_prob = actor_log_prob  # the Gaussian policy's density (importance-sampling OPE)
