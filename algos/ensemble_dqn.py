"""Ensemble-DQN (Agarwal, Schuurmans & Norouzi 2020): algos/dqn.py with K Q-heads on one trunk,
each regressed onto its own target, y_k = r + gamma (1 - terminal) max_a' Q'_k(s', a'), and
acting greedily in their mean. The change is `num_heads` (configs/ensemble_dqn.py: batch_rl's
multi_head_dqn.gin, 200 heads); dqn.SCALAR already backs up each head on its own.
"""
from algos import dqn

ACTIONS = "discrete"
init, update, act = dqn.init, dqn.update, dqn.act
