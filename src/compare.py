"""Rank an experiment's runs: python src/compare.py experiment=dqn-lunarlander [metric=…] …"""

import hydra
from omegaconf import DictConfig

from dqnlab.config.checks import check_compare_config
from dqnlab.config.cli import preflight, report_config_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    """Print the experiment's runs, best first, with their metric and key params."""
    # Loaded after preflight (dqnlab.config.cli).
    from dqnlab.tracking.compare import differing_params, find_runs, ranking_table, render

    runs = report_config_errors(
        lambda: find_runs(
            cfg.experiment,
            cfg.metric,
            ascending=cfg.ascending,
            limit=cfg.limit,
            filter_string=cfg.filter,
            tracking_uri=cfg.tracking.uri,
        )
    )
    params = differing_params(runs) if cfg.params is None else [str(p) for p in cfg.params]
    print(render(ranking_table(runs, cfg.metric, params)))


if __name__ == "__main__":
    preflight("compare", check=check_compare_config)
    main()
