"""stitch: offline reinforcement learning in JAX (installed editable: `pip install -e .`)."""
from setuptools import setup

setup(
    name="stitch-rl",
    version="0.1.0",
    description="Offline (batch) reinforcement learning in JAX/Flax: pure-function algorithms, "
    "compiled multi-seed training, Minari datasets.",
    python_requires=">=3.10",
    # Flat research-repo layout (as in the IQL paper's code): the top-level packages are
    # installed as they are, and the repo is always installed editable.
    packages=["algos", "configs", "data", "networks"],
    py_modules=["train_offline"],
    install_requires=[
        "jax>=0.4.30",
        "flax>=0.8.5",
        "optax>=0.2.2",
        "chex>=0.1.86",
        "numpy>=1.26",
        "minari[hdf5,hf]>=0.5.1",
        "gymnasium[mujoco]>=1.0.0",
        "absl-py>=2.1.0",
        "ml-collections>=0.1.1",
        "orbax-checkpoint>=0.6.0",
        "tqdm>=4.66",
    ],
    extras_require={
        # The D4RL domains Minari hosts beside MuJoCo locomotion (AntMaze, PointMaze, Adroit,
        # Kitchen) evaluate in gymnasium-robotics' envs; the tests build small AntMaze data with it.
        "robotics": ["gymnasium-robotics>=1.2.4"],
        # Aggregate reports (scripts/report.py): rliable is the field's tool for IQM, bootstrap
        # intervals, profiles and probability of improvement (Agarwal et al. 2021). Its arch < 8
        # does not import under pandas 3 (arch's deprecate_kwarg call), hence the pin.
        "report": ["rliable>=1.2", "pandas<3", "matplotlib"],
        # MinAtar (Young & Tian 2019) is the field's small-Atari testbed for discrete batch RL
        # (scripts/discrete_suite.py's Breakout and SpaceInvaders); its package registers gymnasium envs.
        "minatar": ["minatar>=1.0.15"],
        "test": ["pytest>=8.0", "gymnasium-robotics>=1.2.4", "rliable>=1.2", "pandas<3", "matplotlib", "tensorboard",
                 "minatar>=1.0.15"],
        "extra": ["tensorboard", "wandb", "matplotlib", "rliable>=1.2", "pandas<3"],
    },
)
