"""Typed schemas of every config, registered in Hydra's ConfigStore under `schema/`.

A config file opts in by extending its schema first in its defaults list (Hydra's
"Extending configs" pattern), e.g. conf/agent/dqn.yaml:

    defaults:
      - /schema/agent/dqn@_here_
      - _self_

Hydra then rejects, at composition, a key the schema does not declare and a value that
does not convert to the declared type. A file that names no schema composes untyped.
Each key's allowed values are declared with it (dqnlab.config.schema.rules); dqnlab.config.checks
applies them and the rules across keys.

A new option whose keys differ from every schema's: a dataclass in the group's module
(subclass a schema to add keys), a line in SCHEMAS, and the defaults line in its file.
"""

from hydra.core.config_store import ConfigStore

from dqnlab.config.schema.sweep import (
    HyperbandPrunerConf,
    MedianPrunerConf,
    NopPrunerConf,
    PatientPrunerConf,
    RandomSamplerConf,
    SuccessiveHalvingPrunerConf,
    SweepConfig,
    ThresholdPrunerConf,
    TPESamplerConf,
)
from dqnlab.config.schema.tools import CompareConfig, EvaluateConfig
from dqnlab.config.schema.training import (
    AgentConf,
    BoltzmannConf,
    EpsilonGreedyConf,
    GymEnvConf,
    MLPNetworkConf,
    PrioritizedBufferConf,
    QNetworkConf,
    TrackingConf,
    TrainConfig,
    TrainerConf,
    UniformBufferConf,
)

# ConfigStore path (under schema/) -> schema. A new option's schema is one more line here.
SCHEMAS: dict[str, type] = {
    "train": TrainConfig,
    "sweep": SweepConfig,
    "evaluate": EvaluateConfig,
    "compare": CompareConfig,
    "env/gym": GymEnvConf,
    "network/mlp": MLPNetworkConf,
    "network/nature_cnn": QNetworkConf,
    "buffer/uniform": UniformBufferConf,
    "buffer/prioritized": PrioritizedBufferConf,
    "exploration/epsilon_greedy": EpsilonGreedyConf,
    "exploration/boltzmann": BoltzmannConf,
    "agent/dqn": AgentConf,
    "trainer/default": TrainerConf,
    "tracking/mlflow": TrackingConf,
    "sampler/random": RandomSamplerConf,
    "sampler/tpe": TPESamplerConf,
    "pruner/none": NopPrunerConf,
    "pruner/median": MedianPrunerConf,
    "pruner/patient": PatientPrunerConf,
    "pruner/threshold": ThresholdPrunerConf,
    "pruner/successive_halving": SuccessiveHalvingPrunerConf,
    "pruner/hyperband": HyperbandPrunerConf,
}


def register_schemas() -> None:
    """Store every schema as `schema/<path>` (idempotent)."""
    store = ConfigStore.instance()
    for path, node in SCHEMAS.items():
        group, _, name = f"schema/{path}".rpartition("/")
        store.store(group=group, name=name, node=node)
