"""The built wheel works outside the clone: configs as package data, a user's config folder,
a run, the Python API, a sweep and a report, from a fresh virtualenv in a folder that is not
the clone.

The virtualenv gets the wheel with ``--no-deps``; its dependencies come from the test's own
environment through a ``.pth`` line (no download, no resolver run: the test stays fast; the
clone's editable install is not visible there, because ``.pth`` files of an added folder are
not processed). The persistent compile cache is shared, so the second run of a market does
not compile again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


EXAMPLE = REPO / "examples" / "qtgjax-example"


def build_wheel(dest: Path, project: Path = REPO) -> Path:
    """``pip wheel --no-deps`` of ``project`` into ``dest``; the wheel's path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(project)],
        check=True,
        capture_output=True,
        text=True,
    )
    name = "qtgjax_example" if project == EXAMPLE else "qtgjax"
    (wheel,) = dest.glob(f"{name}-*.whl")
    return wheel


def fresh_venv(root: Path, *wheels: Path) -> Path:
    """A new virtualenv at ``root`` with ``wheels`` installed (no deps) and this
    environment's site-packages as its dependencies; its ``bin`` folder."""
    venv.EnvBuilder(with_pip=False).create(root)
    bin_dir = root / "bin"
    py = bin_dir / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(site, "_qtgjax_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
         *map(str, wheels)],
        check=True, capture_output=True, text=True,
    )
    return bin_dir


def env_for(bin_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        JAX_PLATFORMS="cpu",
        JAX_COMPILATION_CACHE_DIR=str(REPO / ".jax_cache"),
        **extra,
    )
    return env


def run(cmd, cwd, env, ok=True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "dist")
    example = build_wheel(root / "dist_example", EXAMPLE)
    bin_dir = fresh_venv(root / "venv", wheel, example)
    work = root / "work"  # not the clone
    work.mkdir()
    return wheel, bin_dir, work


def test_wheel_holds_configs_and_no_top_level_modules(installed):
    import zipfile

    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "qtgjax/conf/config.yaml" in names
    assert "qtgjax/conf/agents/noise.yaml" in names and "qtgjax/sweeps/smoke.yaml" in names
    tops = {n.split("/")[0] for n in names}
    assert tops == {"qtgjax", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}


def test_run_simulate_sweep_report_outside_the_clone(installed):
    _, bin_dir, work = installed
    env = env_for(bin_dir)
    where = run([str(bin_dir / "python"), "-c", "import qtgjax, qtgjax.paths as p; "
                 "print(qtgjax.__file__); print(p.CONF_DIR)"], work, env).stdout.split()
    assert str(REPO) not in where[0] and str(REPO) not in where[1], where
    assert where[1].endswith("qtgjax/conf")

    proc = run(["qtgjax-run", "scenarios=1", "ticks=50", "out=X"], work, env)
    assert "cash error 0, share error 0" in proc.stdout
    assert {"agents.parquet", "ticks.parquet"} <= {p.name for p in (work / "X").iterdir()}

    code = ("import qtgjax; r = qtgjax.simulate(overrides=['scenarios=1','ticks=50']); "
            "print(r.tables()['ticks'].height)")
    assert int(run([str(bin_dir / "python"), "-c", code], work, env).stdout.split()[-1]) > 0

    (work / "tiny.yaml").write_text(textwrap.dedent("""\
        description: two points of a small market
        overrides: [ticks=20, market.symbols=1, "market.initial_price=[1000]",
                    "market.sectors=[0]", market.levels=32, market.recentre=8,
                    families.noise.n_agents=20, families.fundamental.n_agents=4,
                    families.momentum.n_agents=4, families.market_maker.n_agents=2]
        grid:
          fundamentals.news_rate: [0.0, 0.05]
        seeds: 1
        chunk_size: 2
        """))
    run(["qtgjax-sweep", "sweep=tiny.yaml", "out=S", "cluster=inprocess", "progress=false"],
        work, env)
    assert (work / "S" / "summary").is_dir()
    run(["qtgjax-report", "X", "--no-realism"], work, env)
    assert (work / "X" / "report" / "index.html").is_file()


def test_user_config_folder_on_the_search_path(installed):
    """``QTGJAX_CONFIG_PATH`` and ``--config-dir``: a user's agents file composes as
    ``+agents@families.NAME=FILE`` with no file added to qtgjax."""
    _, bin_dir, work = installed
    mine = work / "myconf" / "agents"
    mine.mkdir(parents=True)
    (mine / "my_noise.yaml").write_text(
        (REPO / "conf" / "agents" / "noise.yaml").read_text().replace("9000", "7")
    )
    code = ("import json, qtgjax; c = qtgjax.load_config(['+agents@families.mine=my_noise']); "
            "print(json.dumps(c['families']['mine']['n_agents']))")
    env = env_for(bin_dir, QTGJAX_CONFIG_PATH=str(work / "myconf"))
    assert json.loads(run([str(bin_dir / "python"), "-c", code], work, env).stdout) == 7
    cfg = run(["qtgjax-run", "--config-dir", str(work / "myconf"), "--cfg", "job",
               "+agents@families.mine=my_noise"], work, env_for(bin_dir)).stdout
    assert "mine:" in cfg and "n_agents: 7" in cfg
    bad = run([str(bin_dir / "python"), "-c", "import qtgjax; qtgjax.load_config()"], work,
              env_for(bin_dir, QTGJAX_CONFIG_PATH=str(work / "nowhere")), ok=False)
    assert bad.returncode != 0 and "QTGJAX_CONFIG_PATH" in bad.stderr and "nowhere" in bad.stderr


SMALL_RUN = ["scenarios=1", "ticks=30", "market.symbols=1", "market.initial_price=[1000]",
             "market.sectors=[0]", "market.levels=32", "market.recentre=8",
             "families.noise.n_agents=30", "families.fundamental.n_agents=4",
             "families.momentum.n_agents=4", "families.market_maker.n_agents=2"]
TINY_TRAIN = [
    "progress=false", "ppo.num_envs=4", "ppo.num_steps=10", "ppo.total_timesteps=80",
    "ppo.num_minibatches=2", "network.hidden=[16]", "eval.episodes=4", "+env.horizon=10",
    "+env.warmup=5",
    "+env.market=['~agents@families.momentum','~agents@families.fundamental',"
    "'~agents@families.market_maker','families.noise.n_agents=40',"
    "'families.avellaneda_stoikov.n_agents=4']",
]


def test_example_project_by_entry_points(installed):
    """The example's family and task, installed next to qtgjax, run through qtgjax-run and
    qtgjax-train, and its own tests run check_family over its family."""
    import shutil

    import polars as pl

    _, bin_dir, work = installed
    env = env_for(bin_dir)
    proc = run(["qtgjax-run", *SMALL_RUN, "+agents@families.fade=ema_fade",
                "families.fade.n_agents=5", "out=E"], work, env)
    assert "cash error 0, share error 0" in proc.stdout
    agents = pl.read_parquet(work / "E" / "agents.parquet")
    fade = agents.filter(pl.col("family") == "fade")
    assert fade["kind"].to_list() == ["ema_fade"] and fade["volume"].sum() > 0

    proc = run(["qtgjax-train", "task=coarse_trading", *TINY_TRAIN, "out=T"], work, env)
    summary = json.loads((work / "T" / "summary.json").read_text())
    assert summary["task"] == "coarse_trading"
    assert {c["baseline"] for c in summary["comparisons"]} == {"random"}

    shutil.copytree(EXAMPLE / "tests", work / "example_tests")
    run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "example_tests"], work, env)


def test_broken_plugins_are_named_before_compiling(installed, tmp_path):
    """A plugin that fails to import, or takes a kind already registered: one line naming
    the package and the entry point, exit 2, before anything compiles."""
    _, bin_dir, work = installed
    site = tmp_path / "site"
    for name, body, target in [
        ("broken", "raise ImportError('no such thing: talib_extra')", "broken:Fam"),
        ("clash", "from qtgjax.agents.families.noise import NoiseParams, NoiseTrader\n"
                  "from qtgjax.agents.types import Family\n"
                  "class Fam(Family):\n    kind = 'noise'\n    Params = NoiseParams\n"
                  "    act = NoiseTrader.act", "clash:Fam"),
    ]:
        pkg = site / name
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(body + "\n")
        dist = site / f"{name}_plugin-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-plugin\n"
                                       "Version: 0.1\n")
        kind = "ema_fade2" if name == "broken" else "noise"
        (dist / "entry_points.txt").write_text(
            f"[qtgjax.families]\n{kind} = {target}\n"
        )
        env = env_for(bin_dir, PYTHONPATH=str(site))
        proc = run(["qtgjax-run", *SMALL_RUN, "out=B"], work, env, ok=False)
        assert proc.returncode == 2, proc.stderr[-2000:]
        line = proc.stderr.strip().splitlines()[-1]
        assert f"plugin {name}-plugin (qtgjax.families: {kind} = {target})" in line, line
        want = "failed to import: ImportError" if name == "broken" else "registered twice"
        assert want in line and "Traceback" not in proc.stderr
        shutil_rm(site)


def shutil_rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path)
