"""``qtgjax-train``: PPO on a task, evaluated against its baselines on held-out episodes.

    qtgjax-train task=execution out=runs/exec
    qtgjax-train task=market_making ppo.total_timesteps=2000000 ppo.num_seeds=2 out=runs/mm
    qtgjax-train task=market_making +env.n_learners=2 ppo.shared_policy=false out=runs/mm2

Writes ``learning_curve.parquet``, ``evaluation.parquet``, ``params.npz``, ``policy.json``,
``summary.json`` and ``config.yaml`` into ``out`` (see :mod:`qtgjax.train.run`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from qtgjax.api import CONF_DIR, to_plain
from qtgjax.cli.agent_files import hydra_args
from qtgjax.cli.errors import check_out_arg, os_error_line, user_errors
from qtgjax.config.build import ConfigError
from qtgjax.io.runfolder import RunFolder
from qtgjax.train.run import TrainResult, train_and_evaluate


def report(result: TrainResult) -> str:
    """A few lines for the terminal: speed, and each comparison with its 95% CI."""
    s = result.summary
    t = s["timing"]
    lines = [
        f"qtgjax-train {s['task']}: {t['env_steps']:,} env steps in {t['train_s']:.1f} s "
        f"({t['env_steps_per_s']:,.0f} steps/s; compile {t['compile_s']:.1f} s, "
        f"evaluation {t['eval_s']:.1f} s)"
    ]
    for c in s["comparisons"]:
        low, high = c["ci95"]
        lines.append(
            f"  seed {c['train_seed']} vs {c['baseline']}: {c['metric']} {c['mean_policy']:.4f} "
            f"vs {c['mean_baseline']:.4f}, difference {c['mean_difference']:.4f} "
            f"[{low:.4f}, {high:.4f}] over {c['episodes']} episodes"
            f" -> {'better' if c['policy_better'] else 'not better'}"
        )
    lines.append(f"results: {result.folder}")
    return "\n".join(lines)


TRAIN_FILES = (
    "config.yaml",
    "learning_curve.parquet",
    "params.npz",
    "policy.json",
    "evaluation.parquet",
    "summary.json",
)


def run(cfg: DictConfig) -> TrainResult:
    folder = Path(HydraConfig.get().runtime.output_dir)
    plain = to_plain(cfg)
    overwrite = plain.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"overwrite: expected true or false, got {overwrite!r}")
    with RunFolder(folder, TRAIN_FILES, overwrite=overwrite, holder="qtgjax-train") as out:
        out.start()
        result = train_and_evaluate(plain, folder)
        for name in TRAIN_FILES:
            out.record(name)
        out.finish()
    print(report(result))
    return result


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except user_errors() as err:
        bad = "bad config: " if isinstance(err, ConfigError) else ""
        print(f"qtgjax-train: {bad}{err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        print(f"qtgjax-train: {os_error_line(err)}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    check_out_arg("qtgjax-train", sys.argv[1:])
    sys.argv[1:] = hydra_args(sys.argv[1:], "qtgjax-train")
    _app()


if __name__ == "__main__":
    main()
