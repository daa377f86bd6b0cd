"""A toy algorithm that uses every optional part of the contract (tests only).

Two phases: "pretrain" (its own step field, the mc_returns sampler, no evaluation, a learning
rate that decays to 0 over that phase) then "train" (the default sampler); `prepare` computes
the data's mean reward on the host and `init` stores it; `init_memory` gives the policy a step
counter that evaluation must carry from step to step.
"""
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from flax.training.train_state import TrainState

from configs.bc import get_config as bc_config
from algos.common import Phase, create_train_state, make_optimizer, network_inputs
from data import samplers
from networks import DeterministicPolicy

ACTIONS = "continuous"


class ToyState(struct.PyTreeNode):
    policy: TrainState
    pretrain_policy: TrainState
    mean_reward: jnp.ndarray
    pretrain_steps: jnp.ndarray
    step: jnp.ndarray


def prepare(config, data, info):
    return {"mean_reward": np.float32(np.mean(np.asarray(data["rewards"])))}


def init(config, spec, rng, aux):
    obs, _, torso = network_inputs(config, spec)
    net = DeterministicPolicy(spec.action_dim, tuple(config.hidden_dims), torso=torso)
    policy = create_train_state(net, rng, (obs,), make_optimizer(config.actor_lr))
    pretrain = create_train_state(net, rng, (obs,),
                                  make_optimizer(config.actor_lr, decay_steps=config.pretrain_updates))
    zero = jnp.zeros((), jnp.int32)
    return ToyState(policy, pretrain, jnp.asarray(aux["mean_reward"]), zero, zero)


def _bc_step(train_state, batch):
    loss_fn = lambda p: jnp.mean(jnp.square(train_state.apply_fn({"params": p}, batch["observations"])
                                            - batch["actions"]))
    loss, grads = jax.value_and_grad(loss_fn)(train_state.params)
    return train_state.apply_gradients(grads=grads), loss


def pretrain(config, state, batch, rng):
    pretrain_policy, loss = _bc_step(state.pretrain_policy, batch)
    return (state.replace(pretrain_policy=pretrain_policy, pretrain_steps=state.pretrain_steps + 1),
            {"pretrain_loss": loss, "mc_return": batch["mc_returns"].mean()})


def update(config, state, batch, rng):
    policy, loss = _bc_step(state.policy, batch)
    return state.replace(policy=policy, step=state.step + 1), {"actor_loss": loss}


PHASES = (Phase("pretrain", pretrain, steps="pretrain_updates", sampler=samplers.mc_returns,
                evaluate=False),
          Phase("train", update))


def init_memory(config, spec, num_envs):
    return {"t": jnp.zeros((num_envs,), jnp.int32)}


def act(config, state, observations, rng, deterministic=True, memory=None):
    actions = state.policy.apply_fn({"params": state.policy.params}, observations)
    return actions, {"t": memory["t"] + 1}


def get_config():
    c = bc_config("pendulum")
    c.algo = "toy"
    c.pretrain_updates = 20
    return c
