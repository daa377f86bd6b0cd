"""CQL (Kumar et al. 2020) with the paper code's MuJoCo settings (fixed weight 5, 10 samples)."""
from configs import sac_n
from configs.base import apply_preset


def get_config(preset=None):
    c = sac_n.get_config()
    c.algo = "cql"
    c.num_critics = 2             # twin critics
    c.actor_lr = 1e-4             # the paper's policy learning rate
    c.alpha_lr = 1e-4             # entropy temperature learning rate
    c.backup_entropy = False      # no entropy term in the target (paper's locomotion runs)
    c.observation_transform = "zscore"  # CORL's CQL z-scores observations (SAC-N's config does not)
    c.cql_alpha = 5.0             # weight of the conservative regulariser (min_q_weight)
    c.cql_n_actions = 10          # samples per proposal (uniform, pi(.|s), pi(.|s'))
    c.cql_temperature = 1.0       # logsumexp temperature T
    c.cql_lagrange = False        # tune alpha' so the gap tracks cql_target_action_gap
    c.cql_target_action_gap = 5.0  # target gap of the Lagrange variant
    c.cql_alpha_lr = 3e-4         # learning rate of log alpha' (Lagrange variant)
    c.cql_max_backup = False      # target = max over cql_n_actions policy samples at s'
    return apply_preset(c, preset)
