"""Double DQN (van Hasselt, Guez & Silver 2016) offline: algos/dqn.py with the next action chosen
by the online network and valued by the target network,
  y = r + gamma (1 - terminal) Q'(s', argmax_a' Q(s', a')),
which removes the max operator's upward bias (d3rlpy's DoubleDQN). The change is `next_value`.
"""
from algos import dqn

ACTIONS = "discrete"


def next_value(config, state, batch, online, target, head):
    return dqn.at_actions(target(), head.greedy(config, online()))


init, act = dqn.init, dqn.act
update = dqn.make_update(next_value=next_value)
