"""Algorithm registry: the only place names are mapped to modules.

Each module provides `init(config, spec, rng)`, `update(config, state, batch, rng)`,
`act(config, state, obs, rng, deterministic)` and `DISCRETE_ACTIONS`.
"""
from algos import bc, iql, td3_bc

ALGOS = {
    "bc": bc,
    "td3_bc": td3_bc,
    "iql": iql,
}
