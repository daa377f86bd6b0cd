"""FQE over discrete actions (algos/fqe_discrete.py): configs/fqe.py's settings."""
from configs import fqe


def get_config(preset=None):
    c = fqe.get_config(preset)
    c.algo = "fqe_discrete"
    return c
