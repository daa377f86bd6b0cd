"""Algorithm registry: the only place names are mapped to modules.

Each module follows the contract in algos/common.py: `init`, `update`, `act`, and optionally
`ACTIONS`, `SAMPLER`, `PHASES`, `prepare`, `init_memory`, `eval_conditions`.
"""
from algos import (awac, awr, bc, bc_discrete, bcq, bcq_discrete, bear, brac, c51, cql, cql_discrete, crr, dd, ddqn,
                   diffuser, dqn, dt, edac, ensemble_dqn, fqe, fqe_discrete, fqi, idql, iql, kl_control, onestep,
                   qr_dqn, rebrac, rem, sac_n, spibb, td3_bc, tt)
from algos.common import StitchError

ALGOS = {
    "bc": bc,
    "dt": dt,
    "tt": tt,
    "diffuser": diffuser,
    "dd": dd,
    "td3_bc": td3_bc,
    "iql": iql,
    "idql": idql,
    "onestep": onestep,
    "cql": cql,
    "crr": crr,
    "sac_n": sac_n,
    "edac": edac,
    "rebrac": rebrac,
    "awac": awac,
    "awr": awr,
    "bcq": bcq,
    "bear": bear,
    "brac": brac,
    "fqe": fqe,
    "fqe_discrete": fqe_discrete,
    # discrete actions: the offline DQN family and the batch-RL methods built on it
    "dqn": dqn,
    "ddqn": ddqn,
    "qr_dqn": qr_dqn,
    "c51": c51,
    "ensemble_dqn": ensemble_dqn,
    "rem": rem,
    "bc_discrete": bc_discrete,
    "bcq_discrete": bcq_discrete,
    "cql_discrete": cql_discrete,
    "fqi": fqi,
    "kl_control": kl_control,
    "spibb": spibb,
}


def get_algo(name: str):
    if name not in ALGOS:
        raise StitchError(f"Unknown algorithm '{name}'. Fix: use one of "
                          f"{', '.join(sorted(ALGOS))} (--config=configs/<algo>.py).")
    return ALGOS[name]
