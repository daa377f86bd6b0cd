"""Every field shared by all algorithms, one comment each. `configs/<algo>.py` overrides.

Defaults are the papers' D4RL locomotion protocol: 256x256 networks, batch 256, 1M updates
(SAC-N and EDAC 3M), evaluation every 5k updates with 10 episodes (CORL's). A preset is a set of
overrides chosen with the config file's argument, several joined by commas:
  --config=configs/iql.py:pendulum      the built-in Pendulum dataset, small networks, minutes on a
                                        laptop CPU (what `train_offline.py` runs with no flags)
  --config=configs/rebrac.py:auto       the algorithm's per-task tuning, picked from the dataset id
                                        when the run starts (`resolve_tuning`)
  --config=configs/iql.py:auto,short    the same for a 30k-update run (a short, explicit budget)
  --config=configs/rebrac.py:hopper-medium-replay   one named per-task tuning
"""
import copy
import importlib
import math
import re

import ml_collections

DEFAULT_DATASET = "stitch/pendulum/mixed-v0"  # built on first use by data/collect.py


def get_base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.algo = "bc"                      # key in algos.ALGOS
    c.dataset = DEFAULT_DATASET        # Minari dataset id (local under MINARI_DATASETS_PATH, or remote)
    c.seed = 0                         # base seed; seed i of the vmapped batch uses fold_in(seed, i)
    c.num_seeds = 3                    # independent agents trained in one compiled program (vmap axis)
    c.num_updates = 1_000_000          # gradient steps per seed (the papers' budget)
    c.batch_size = 256                 # transitions per gradient step, sampled on device
    c.log_interval = 1_000             # updates per compiled chunk; metrics reach the host once per chunk
    c.eval_interval = 5_000            # updates between evaluations and checkpoints (multiple of log_interval)
    c.eval_episodes = 10               # evaluation episodes per seed (one vector env of seeds x episodes)
    c.hidden_dims = (256, 256)         # MLP widths of every network
    c.actor_lr = 3e-4                  # actor learning rate (Adam)
    c.critic_lr = 3e-4                 # Q-network learning rate (Adam)
    c.discount = 0.99                  # gamma
    c.tau = 0.005                      # Polyak rate of target networks
    c.observation_transform = "zscore"  # zscore (dataset statistics, train and eval alike) | none | div255 (uint8 pixels)
    c.observation_keys = ""            # Dict observations: keys concatenated, in order ("" = observation, then the rest)
    c.init = "glorot"                  # layer init (networks/inits.py): glorot | orthogonal (IQL's) | pytorch | edac
    c.torso = "mlp"                    # observation torso of every network: mlp (flat vectors) | cnn (MinAtar's 3x3x16 conv) | flatten (any shape, flattened)
    c.compute_dtype = "float32"        # float32 | bfloat16: matmuls in bfloat16, parameters/optimizer/losses float32
    c.reward_transform = "none"        # none | iql_locomotion (x1000 / return range) | scale_shift
    c.reward_scale = 1.0               # for reward_transform=scale_shift: r * scale + shift
    c.reward_shift = 0.0               # for reward_transform=scale_shift
    c.bc_top_fraction = 1.0            # train on the top fraction of episodes by return (%BC); 1.0 = all
    c.checkpoint = True                # write orbax checkpoints at every evaluation, resume from them
    c.checkpoint_interval_s = 600.0    # also checkpoint after any chunk that ends this long after the last one
    c.progress_bar = True              # tqdm progress over updates
    c.tensorboard = True               # also write TensorBoard event files (<workdir>/tensorboard/) when it is installed
    c.wandb_project = ""               # also log to this Weights & Biases project ("" = off; needs wandb)
    c.keep_checkpoints = 2             # evaluation checkpoints kept (0 = all: off-policy model selection over them)
    c.sweep = ""                       # hyperparameter grid on the run axis: "expectile=0.6,0.7 temperature=3,10"
    c.preset = ""                      # the presets the config file applied (configs/<algo>.py:<preset>), recorded
    c.tuning = ""                      # per-task tuning: "" none, "auto" (from the dataset id at run start), or its name
    return c


PRESETS = {
    "locomotion": {},  # the papers' D4RL MuJoCo settings: the defaults above
    "pendulum": {      # built-in Pendulum-v1 data: 3-d observations need far smaller networks
        "dataset": DEFAULT_DATASET,
        "hidden_dims": (64, 64),
        "num_updates": 20_000,
        "eval_interval": 5_000,
        "init": "glorot",  # what the built-in job's small networks were calibrated with (BENCHMARKS.md)
    },
    "short": {         # an explicit short budget (30k updates, 3 % of the papers'), e.g. for a quick check
        "num_updates": 30_000,
        "eval_interval": 5_000,
    },
}
AUTO = "auto"  # the preset that defers the per-task tuning to the run's dataset id


LOCOMOTION_TASKS = tuple(f"{env}-{kind}" for env in ("halfcheetah", "hopper", "walker2d")
                         for kind in ("random", "medium", "medium-replay", "medium-expert", "expert"))
ANTMAZE_TASKS = tuple(f"antmaze-{maze}" for maze in ("umaze", "umaze-diverse", "medium-play",
                                                    "medium-diverse", "large-play", "large-diverse"))


def task_table(tasks, common=None, **per_task):
    """{task: fields} for `tasks`: `common` fields for every one, then each task's own
    (keyword names use '_' for '-': hopper_medium_replay={"num_critics": 200})."""
    own = {name.replace("_", "-"): fields for name, fields in per_task.items()}
    unknown = sorted(set(own) - set(tasks))
    if unknown:
        raise ValueError(f"task_table: tasks {unknown} are not among {list(tasks)}")
    return {t: {**(common or {}), **own.get(t, {})} for t in tasks if common is not None or t in own}


def reward_affine(scale, shift):
    """The fields of r -> scale * r + shift (AntMaze's r - 1 of IQL, CQL's centring)."""
    return {"reward_transform": "scale_shift", "reward_scale": scale, "reward_shift": shift}



def add_vae_fields(c):
    """The conditional action VAE's fields (networks/generative.ActionVAE), for the methods that
    model the data's actions with it (BCQ, BEAR): BCQ's and BEAR's code's sizes and rate."""
    c.vae_hidden_dims = (750, 750)  # encoder and decoder widths
    c.vae_latent_dim = 0            # 0: twice the action dimension (the reference codes')
    c.vae_lr = 1e-3                 # Adam's default rate, which the reference VAE optimizers use
    return c



def add_policy_head_fields(c, head="gaussian"):
    """The head of a policy fitted by (weighted) likelihood (networks/policies.likelihood_policy)."""
    c.policy_head = head            # gaussian (one mode) | mixture (num_components Gaussian modes) | latent (a VAE) | diffusion (a DDPM)
    c.num_components = 5            # the mixture head's components
    c.diffusion_steps = 5           # the diffusion head's denoising steps T (IDQL's)
    c.diffusion_sample_steps = 0    # steps when sampling, respaced (0: all T)
    c.diffusion_dropout = 0.1       # dropout in the diffusion head's residual blocks (IDQL's)
    c.beta_schedule = "vp"          # the diffusion head's noise schedule: vp (IDQL) | cosine | linear
    return c



def add_behaviour_fields(c, head, hidden_dims, lr, steps):
    """The fitted behaviour policy's fields (algos/common.fit_behaviour: BRAC, one-step)."""
    c.behaviour_head = head           # gaussian | tanh_gaussian | mixture | latent (networks/policies.likelihood_policy)
    c.behaviour_hidden_dims = hidden_dims  # its MLP widths
    c.behaviour_lr = lr               # its Adam rate
    c.behaviour_steps = steps         # updates of the first phase, which fits it (0: skipped)
    if "num_components" not in c:
        c.num_components = 5          # the mixture head's components
    return c


BEHAVIOUR_CHECKS = {
    "behaviour_head": (lambda v: v in ("gaussian", "tanh_gaussian", "mixture", "latent"),
                       "gaussian, tanh_gaussian, mixture or latent"),
    "behaviour_hidden_dims": (lambda v: len(v) >= 1 and all(isinstance(h, int) and h >= 1 for h in v),
                              "a non-empty tuple of positive integers, e.g. '(200,200)'"),
    "behaviour_lr": (lambda v: v > 0, "a positive float"),
    "behaviour_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0 skips the phase)"),
}

LIKELIHOOD_HEAD_CHECK = {
    "policy_head": (lambda v: v in ("gaussian", "mixture", "latent", "diffusion"), "gaussian, mixture, latent or diffusion"),
    "diffusion_steps": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "diffusion_sample_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: every training step)"),
    "diffusion_dropout": (lambda v: 0 <= v < 1, "a float in [0, 1)"),
    "beta_schedule": (lambda v: v in ("vp", "cosine", "linear"), "vp, cosine or linear"),
}

VAE_CHECKS = {
    "vae_hidden_dims": (lambda v: len(v) >= 1 and all(isinstance(h, int) and h >= 1 for h in v),
                        "a non-empty tuple of positive integers, e.g. '(750,750)'"),
    "vae_latent_dim": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: 2 x action_dim)"),
    "vae_lr": (lambda v: v > 0, "a positive float"),
}

def apply_preset(config, preset, dataset_presets=None, variants=None):
    """Apply presets, several joined by commas (None or "" = the defaults), left to right.

    Three kinds: a domain preset from PRESETS above; one of the algorithm's per-task tunings
    (`dataset_presets`, e.g. configs/rebrac.py's "hopper-medium-replay": the hyperparameters the
    paper or its reference code uses on that D4RL task); and "auto", which defers the tuning to
    the run's dataset id (`resolve_tuning`, called by the trainer once command-line overrides
    are in). A tuning sets hyperparameters only, never `dataset`, so it applies to any copy of
    that task's data:
    --config=configs/rebrac.py:hopper-medium-replay --config.dataset=bench/hopper/medium-replay-v0
    `variants`: an algorithm's own named presets (CQL's "authors" and "corl"); one named like a
    domain preset adds to it (applied after it).
    """
    variants = variants or {}
    presets = {**PRESETS, **(dataset_presets or {}), **variants}
    names = [p.strip() for p in (preset or "").split(",") if p.strip()]
    if names:
        config.preset = ",".join(names)
    for name in names:
        if name == AUTO:
            config.tuning = AUTO
            continue
        if name not in presets:
            raise ValueError(f"Unknown config preset '{name}'; use one of {sorted(presets) + [AUTO]} "
                             f"(e.g. --config=configs/iql.py:pendulum or :auto).")
        # ConfigDict.update adds unknown keys silently, so a misspelt preset field would be dead.
        fields = {**PRESETS.get(name, {}), **(dataset_presets or {}).get(name, {}), **variants.get(name, {})}
        unknown = sorted(set(fields) - set(config.keys()))
        if unknown:
            raise ValueError(f"Config preset '{name}' sets unknown field(s) {unknown}; fix the "
                             f"preset's field names (configs/base.py or configs/<algo>.py).")
        config.update(fields)
        if name in (dataset_presets or {}):
            config.tuning = name
    return config


def resolve_tuning(config, keep=()):
    """Resolve `config.tuning == "auto"`: apply the algorithm's tuning for the dataset's task.

    The task is `dataset_preset_name(config.dataset)`, the table `DATASET_PRESETS` of
    configs/<algo>.py (or `VARIANT_DATASET_PRESETS[v]` when the config applied variant v). A field the user set is never overwritten: those in `keep` (the
    command line's overrides), those a domain preset named with it sets (`:auto,short` keeps
    short's budget), and those whose value differs from configs/<algo>.py's default.
    Returns (config, note): a copy with the tuning applied and `tuning` set to the task's name
    (or "none"), and what happened, which the trainer prints and records in results.json
    ({"task", "tuning", "applied", "kept", "warning"}). Other configs come back unchanged with
    note None.
    """
    if config.get("tuning", "") != AUTO:
        return config, None
    try:
        module = importlib.import_module(f"configs.{config.algo}")
    except ModuleNotFoundError:  # an algorithm registered without a config file of its own
        module = None
    presets = getattr(module, "DATASET_PRESETS", {})
    # A variant preset that follows another reference (CQL's "corl") brings that reference's tuning.
    variant_tables = getattr(module, "VARIANT_DATASET_PRESETS", {})
    chosen = [p for p in config.preset.split(",") if p in variant_tables]
    if chosen:
        presets = variant_tables[chosen[-1]]
    task = dataset_preset_name(config.dataset)
    config = copy.deepcopy(config)
    note = {"task": task, "tuning": None, "applied": {}, "kept": {}, "warning": None}
    if task not in presets:
        config.tuning = "none"
        if presets:  # the algorithm tunes per task, but not for this one
            note["warning"] = (
                f"{config.algo} tunes its hyperparameters per task, but configs/{config.algo}.py has "
                f"no tuning for '{task}' (dataset {config.dataset}): running with its defaults. Fix: "
                f"name the nearest task's tuning, --config=configs/{config.algo}.py:<task> (one of "
                f"{', '.join(sorted(presets))}), or set its fields on the command line.")
        return config, note
    named = [p for p in config.preset.split(",") if p != AUTO]
    default = module.get_config(",".join(named))
    # A domain preset's fields (`short`'s budget, `pendulum`'s sizes) are the user's choice too;
    # an algorithm's variant (CQL's "corl") gives way to its own per-task table.
    chosen_fields = {f for p in named for f in PRESETS.get(p, {})}
    for field, value in presets[task].items():
        user_set = field in keep or field in chosen_fields or _differs(config[field], default[field])
        if user_set and _differs(config[field], value):
            note["kept"][field] = _plain(config[field])
        else:
            config[field] = value
            note["applied"][field] = _plain(value)
    config.tuning = note["tuning"] = task
    return config, note


def describe_tuning(note) -> str:
    """One line for the console: which tuning a run applied, what it kept, or the warning."""
    if note["warning"]:
        return "warning: " + note["warning"]
    if note["tuning"] is None:
        return f"tuning: the algorithm has no per-task tuning; '{note['task']}' runs with its defaults."
    applied = ", ".join(f"{k}={v}" for k, v in note["applied"].items()) or "its defaults"
    kept = "; kept your " + ", ".join(f"{k}={v}" for k, v in note["kept"].items()) if note["kept"] else ""
    return f"tuning: applied '{note['tuning']}' (from the dataset id): {applied}{kept}."


def _differs(a, b) -> bool:
    return _plain(a) != _plain(b)


def _plain(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def dataset_preset_name(dataset_id: str) -> str:
    """'<env>-<kind>' of a Minari id, the key of the per-dataset tunings.

    bench/hopper/medium-replay-v0 and mujoco/hopper/medium-replay-v0 -> hopper-medium-replay.
    """
    parts = dataset_id.split("/")
    return re.sub(r"-v\d+$", "", "-".join(parts[-2:]))


REWARD_TRANSFORMS = ("none", "iql_locomotion", "scale_shift")
OBSERVATION_TRANSFORMS = ("zscore", "none", "div255")
TORSOS = ("mlp", "cnn", "flatten")
INITS = ("glorot", "orthogonal", "pytorch", "edac")  # networks/inits.py
COMPUTE_DTYPES = ("float32", "bfloat16")

# field -> (check, what a valid value is). Checked when the field exists in the config.
_CHECKS = {
    "seed": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (environment resets need it)"),
    "reward_scale": (lambda v: True, "a finite float"),
    "reward_shift": (lambda v: True, "a finite float"),
    "num_seeds": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "num_updates": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "log_interval": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "eval_interval": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "eval_episodes": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0 disables evaluation)"),
    "checkpoint_interval_s": (lambda v: v > 0, "a positive number of seconds"),
    "policy_index": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (one of target_actions' policies)"),
    "target_actions": (lambda v: isinstance(v, str) and (v == "" or v.endswith(".npz")),
                       'the path of an .npz of target actions (scripts/ope.py), or "" for the behaviour policy'),
    "keep_checkpoints": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0 keeps every one)"),
    "wandb_project": (lambda v: isinstance(v, str), 'a W&B project name, or "" for none'),
    "hidden_dims": (lambda v: len(v) >= 1 and all(isinstance(h, int) and h >= 1 for h in v),
                    "a non-empty tuple of positive integers, e.g. '(256,256)'"),
    "actor_lr": (lambda v: v > 0, "a positive float"),
    "critic_lr": (lambda v: v > 0, "a positive float"),
    "value_lr": (lambda v: v > 0, "a positive float"),
    "discount": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "tau": (lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    "reward_transform": (lambda v: v in REWARD_TRANSFORMS, f"one of {REWARD_TRANSFORMS}"),
    "observation_transform": (lambda v: v in OBSERVATION_TRANSFORMS, f"one of {OBSERVATION_TRANSFORMS}"),
    "torso": (lambda v: v in TORSOS, f"one of {TORSOS}"),
    "init": (lambda v: v in INITS, f"one of {INITS} (networks/inits.py)"),
    "compute_dtype": (lambda v: v in COMPUTE_DTYPES, f"one of {COMPUTE_DTYPES}"),
    "sweep": (lambda v: isinstance(v, str), 'a string like "expectile=0.6,0.7 temperature=3,10"'),
    "bc_top_fraction": (lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    "policy_head": (lambda v: v in ("deterministic", "gaussian", "mixture", "latent", "diffusion"),
                    "deterministic, gaussian, mixture, latent or diffusion (BC's policy)"),
    "num_components": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1 (the mixture head's modes)"),
    "expectile": (lambda v: 0.0 < v < 1.0, "in (0, 1) (IQL uses 0.7 for locomotion)"),
    "temperature": (lambda v: v > 0, "a positive float (IQL's beta; 3.0 for locomotion)"),
    "alpha": (lambda v: v > 0, "a positive float (TD3+BC uses 2.5)"),
    "policy_noise": (lambda v: v >= 0, "a float >= 0"),
    "noise_clip": (lambda v: v >= 0, "a float >= 0"),
    "policy_delay": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "num_critics": (lambda v: isinstance(v, int) and v >= 2,
                    "an integer >= 2 (the ensemble's minimum needs two critics)"),
    "alpha_lr": (lambda v: v > 0, "a positive float"),
    "eta": (lambda v: v >= 0, "a float >= 0 (EDAC's diversity weight; 0 gives SAC-N)"),
    "cql_alpha": (lambda v: v >= 0, "a float >= 0 (0 turns the regulariser off)"),
    "cql_n_actions": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "cql_temperature": (lambda v: v > 0, "a positive float"),
    "cql_alpha_lr": (lambda v: v > 0, "a positive float"),
    "bc_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: no warm-up)"),
    "observation_keys": (lambda v: isinstance(v, str), 'a comma-separated string like "observation,desired_goal"'),
    "preset": (lambda v: isinstance(v, str), "a string: the config file's presets"),
    "tuning": (lambda v: isinstance(v, str), 'a string: "", "auto" or a task name like "hopper-medium"'),
    "actor_bc_coef": (lambda v: v >= 0, "a float >= 0"),
    "critic_bc_coef": (lambda v: v >= 0, "a float >= 0"),
    "awac_lambda": (lambda v: v > 0, "a positive float (AWAC's advantage temperature)"),
}


def budget_warnings(config) -> list:
    """Valid but probably unintended budgets: a warm-up as long as the run (CQL's authors' 40k BC
    steps under a short budget), or no evaluation before the last update."""
    out, n = [], config.get("num_updates", 0)
    if config.get("bc_steps", 0) and n and config.bc_steps >= n:
        out.append(f"config.bc_steps={config.bc_steps} >= config.num_updates={n}: the whole run is the "
                   f"behaviour-cloning warm-up. Fix: --config.bc_steps=0 (or fewer), or more updates.")
    if n and config.get("eval_episodes", 0) and config.get("eval_interval", 0) > n:
        out.append(f"config.eval_interval={config.eval_interval} > config.num_updates={n}: the run is "
                   f"evaluated only at its end. Fix: --config.eval_interval=<a multiple of "
                   f"log_interval below {n}>.")
    return out


def algorithm_checks(config) -> dict:
    """The checks of the fields an algorithm adds: `CHECKS` of configs/<algo>.py, {name: (check,
    what a valid value is)}, like _CHECKS above (which holds the shared and older fields)."""
    if not config.get("algo"):
        return {}
    try:
        module = importlib.import_module(f"configs.{config.algo}")
    except ImportError:
        return {}
    return getattr(module, "CHECKS", {})


def validate(config) -> list:
    """Return a list of problems (empty when the config is valid)."""
    problems = []
    for name, (check, valid) in {**_CHECKS, **algorithm_checks(config)}.items():
        if name not in config:
            continue
        value = config[name]
        try:
            ok = bool(check(value)) and not (isinstance(value, float) and not math.isfinite(value))
        except TypeError:
            ok = False
        if not ok:
            problems.append(f"config.{name}={value!r} is invalid: it must be {valid}. "
                            f"Fix it with --config.{name}=<value>.")
    ignored_affine = "reward_transform" in config and config.reward_transform != "scale_shift" and (
        config.reward_scale != 1.0 or config.reward_shift != 0.0)
    if not problems and ignored_affine:
        problems.append(
            f"config.reward_scale={config.reward_scale} / config.reward_shift={config.reward_shift} "
            f"only apply with reward_transform=scale_shift, but config.reward_transform="
            f"{config.reward_transform!r}. Fix: add --config.reward_transform=scale_shift, or drop "
            f"the scale and shift.")
    if not problems and config.eval_interval % config.log_interval:
        problems.append(
            f"config.eval_interval={config.eval_interval} must be a multiple of "
            f"config.log_interval={config.log_interval} (evaluation happens between compiled chunks).")
    return problems
