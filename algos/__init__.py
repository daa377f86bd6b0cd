"""Algorithm registry: the only place names are mapped to modules.

Each module follows the contract in algos/common.py: `init`, `update`, `act`, and optionally
`ACTIONS`, `SAMPLER`, `PHASES`, `prepare`, `init_memory`, `eval_conditions`.
"""
from algos import awac, awr, bc, bcq, bear, brac, cql, crr, dd, diffuser, dt, edac, fqe, fqe_discrete, idql, iql, onestep, rebrac, sac_n, td3_bc, tt
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
}


def get_algo(name: str):
    if name not in ALGOS:
        raise StitchError(f"Unknown algorithm '{name}'. Fix: use one of "
                          f"{', '.join(sorted(ALGOS))} (--config=configs/<algo>.py).")
    return ALGOS[name]
