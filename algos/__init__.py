"""Algorithm registry: the only place names are mapped to modules.

Each module provides `init(config, spec, rng)`, `update(config, state, batch, rng)`,
`act(config, state, obs, rng, deterministic)` and `DISCRETE_ACTIONS`.
"""
from algos import awac, bc, cql, edac, iql, rebrac, sac_n, td3_bc

ALGOS = {
    "bc": bc,
    "td3_bc": td3_bc,
    "iql": iql,
    "cql": cql,
    "sac_n": sac_n,
    "edac": edac,
    "rebrac": rebrac,
    "awac": awac,
}
