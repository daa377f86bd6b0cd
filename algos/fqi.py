"""Fitted Q iteration (Ernst, Geurts & Wehenkel 2005) with a neural regressor, as NFQ (Riedmiller
2005): iteration k regresses Q onto the frozen targets of the last iterate over the whole dataset,
  Q_{k+1} = argmin_Q E_(s,a,r,s')~D [(Q(s, a) - r - gamma (1 - terminal) max_a' Q_k(s', a'))^2],
by `target_update_interval` minibatch steps of squared error (configs/fqi.py: long enough for the
regression to converge), then Q_k <- Q_{k+1}. It is algos/dqn.py's update with a squared loss and
the target network as the iterate: num_updates / target_update_interval iterations.
"""
from algos import dqn

ACTIONS = "discrete"
init, update, act = dqn.init, dqn.update, dqn.act
