"""Nothing lost, nothing silently wrong (issue #20): run folders that are locked and keep
what is not theirs, runs refused before compiling when they cannot fit, chunked runs that
stream to disk, prices stuck at the exact-money limits counted and reported, the auction's
inputs checked, one-line errors naming the path, and the small things (unknown keys, string
overrides, partial configs, file modes, .gitignore).

Every run here uses the small market of ``conftest.SMALL`` (one compile, shared with the
``small_result`` fixture); the refusals happen before anything compiles.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest
from omegaconf import OmegaConf
from polars.testing import assert_frame_equal

import qtgjax
from conftest import SMALL
from qtgjax.config.build import ConfigError, build
from qtgjax.io.atomic import write_parquet, write_text
from qtgjax.sim.chunk import plan_chunks

# What these tests import from modules that issue #20 added is imported inside each test,
# so that on the code before it each test fails on its own assertion, not at collection.

ROOT = Path(__file__).resolve().parents[1]
LOW, HIGH = 1, 2**15 - 2  # the exact-money price limits (qtgjax.io.price_limits)
RUN = str(Path(sys.executable).parent / "qtgjax-run")
ENV = os.environ | {"JAX_PLATFORMS": "cpu"}
TABLES = ("ticks", "agents", "positions")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RUN, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=ENV
    )


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The refusal is exit status 2 and one line on stderr (no traceback) with ``needles``."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- 3. run folders


def test_run_refuses_to_overwrite_files_no_run_wrote(tmp_path, small_config, small_result):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.yaml").write_text("my own notes\n")
    with pytest.raises(ValueError, match=r"mine/config.yaml: exists and was not written"):
        small_result.write(out)
    assert (out / "config.yaml").read_text() == "my own notes\n"
    assert not (out / "ticks.parquet").exists()
    from qtgjax.io.runfolder import FolderError
    from qtgjax.io.runs import run_to_folder

    with pytest.raises(FolderError, match=r"mine/config.yaml: exists and was not written"):
        run_to_folder(small_config, out)
    # overwrite=true replaces it; the files equal the in-memory run's tables
    run_to_folder({**small_config, "overwrite": True}, out)
    for name, df in small_result.tables().items():
        assert_frame_equal(pl.read_parquet(out / f"{name}.parquet"), df, check_exact=True)
    # a second run into the folder replaces what the first wrote ...
    run_to_folder(small_config, out)
    small_result.write(out)
    # ... but not a table that someone changed since
    pl.read_parquet(out / "agents.parquet").head(1).write_parquet(out / "agents.parquet")
    with pytest.raises(FolderError, match="agents.parquet: exists and was not written"):
        run_to_folder(small_config, out)


def test_second_writer_into_a_locked_folder_fails_at_once(tmp_path, small_result):
    """A sweep holds the folder's lock (the lock is shared by qtgjax-run, -sweep, -train):
    a run into it fails at once, in this process and from the command line."""
    from qtgjax.sweep.store import StudyLock

    out = tmp_path / "busy"
    with StudyLock(out):
        with pytest.raises(RuntimeError, match=r"busy: qtgjax-sweep \(pid \d+ on .*\) is writing"):
            small_result.write(out)
        proc = run_cli(*SMALL, f"out={out}", cwd=tmp_path)
    one_line_error(proc, f"{out}: qtgjax-sweep (pid {os.getpid()}", "is writing there")
    assert not (out / "ticks.parquet").exists()


def test_cli_refuses_a_users_file_and_an_unwritable_out_in_one_line(tmp_path):
    out = tmp_path / "users"
    out.mkdir()
    (out / "ticks.parquet").write_bytes(b"not mine to replace")
    one_line_error(
        run_cli(*SMALL, f"out={out}", cwd=tmp_path),
        f"{out / 'ticks.parquet'}: exists and was not written by a qtgjax run",
        "overwrite=true",
    )
    assert (out / "ticks.parquet").read_bytes() == b"not mine to replace"
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    one_line_error(run_cli(*SMALL, f"out={blocker}/sub", cwd=tmp_path), f"{blocker}/sub")
    # a section replaced by a number breaks the interpolations that read it: named, no trace
    one_line_error(
        run_cli(*SMALL, "costs=5", f"out={tmp_path / 'c'}", cwd=tmp_path),
        "bad config: families.",
        "costs",
    )


# ---------------------------------------------------------------- 4. memory


def test_run_that_cannot_fit_is_refused_before_compiling(small_config):
    built = build(small_config)
    per = plan_chunks(built.static, built.params, 60, 3, budget_bytes=2**40).bytes_per_scenario
    with pytest.raises(ValueError, match=r"^ticks: one scenario of 60 ticks needs ~"):
        plan_chunks(built.static, built.params, 60, 3, budget_bytes=per - 1)
    assert plan_chunks(built.static, built.params, 60, 3, budget_bytes=2 * per).chunk == 2
    # a billion ticks: refused with the estimate, in seconds (eval_shape only, no compile)
    with pytest.raises(ValueError, match=r"1,000,000,000 ticks needs ~[\d,.]+ GiB"):
        qtgjax.simulate(small_config, overrides=["ticks=1000000000"])


def test_sweep_and_run_plan_with_one_memory_model(small_config):
    from qtgjax.sweep import make_plan, parse_sweep

    built = build(small_config)
    overrides = [o for o in SMALL if not o.startswith("scenarios=")]
    spec = parse_sweep({"overrides": overrides}, "s.yaml", "s")
    per = plan_chunks(built.static, built.params, 60, 3, budget_bytes=2**40).bytes_per_scenario
    assert make_plan(spec).groups[0].scenario_bytes == per
    from qtgjax.sim.chunk import scenario_bytes
    from qtgjax.sweep.plan import group_bytes

    model = scenario_bytes(built.static, built.params, built.run.ticks)
    assert per == model.peak("cpu", tables=True) == model.device + model.tables
    assert model.peak("gpu") == model.device
    with pytest.raises(ValueError, match=r"s.yaml: chunk_memory: one scenario of 60 ticks"):
        group_bytes(spec, built, model.peak() - 1)


def test_chunked_run_streams_each_chunk_to_disk(tmp_path, small_config, small_result, monkeypatch):
    """6 scenarios in chunks of 3 (the small market's compiled shape): each chunk's tables
    are on disk before the next chunk runs, and the joined files hold exactly the rows of
    the scenarios, in the unchunked order (scenarios 0-2 equal the 3-scenario run)."""
    import qtgjax.io.runs as runs

    seen = []
    tables_of = runs.all_tables

    def spy(static, out, tick_size, first_scenario=0):
        parts = sorted(p.name for p in (tmp_path / "out" / ".parts" / "ticks").glob("*"))
        seen.append((first_scenario, np.shape(out.records.close)[0], parts))
        return tables_of(static, out, tick_size, first_scenario)

    monkeypatch.setattr(runs, "all_tables", spy)
    result = runs.run_to_folder({**small_config, "scenarios": 6, "chunk_size": 3}, tmp_path / "out")
    assert result.plan.n_chunks == 2
    assert seen == [(0, 3, []), (3, 3, ["part-000000.parquet"])]
    assert not (tmp_path / "out" / ".parts").exists()
    for name, df in small_result.tables().items():
        got = pl.read_parquet(tmp_path / "out" / f"{name}.parquet")
        assert got.height == 2 * df.height
        assert_frame_equal(got.filter(pl.col("scenario") < 3), df, check_exact=True)
        rest = got.filter(pl.col("scenario") >= 3)["scenario"]
        assert rest.unique().sort().to_list() == [3, 4, 5]


def test_simulate_refuses_what_cannot_fit_in_host_memory(small_config, monkeypatch):
    import psutil

    class Tiny:
        available = 10_000

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny)
    with pytest.raises(ValueError, match="^scenarios: 3 scenarios' records and tables"):
        qtgjax.simulate({**small_config, "chunk_memory": "1GiB"})


# ---------------------------------------------------------------- 5. price limits


def test_price_limit_rule_counts_both_edges():
    from qtgjax.io.price_limits import at_price_limit, limit_counts

    close = np.array([[[LOW, 500], [2, HIGH], [LOW, HIGH + 1]]])  # (B=1, T=3, S=2)
    assert at_price_limit(close).tolist() == [[[True, False], [False, True], [True, True]]]
    low, high = limit_counts(close)
    assert low.tolist() == [2, 0] and high.tolist() == [0, 2]


def test_prices_stuck_at_the_limits_are_counted_and_warned(small_config, tmp_path):
    """The issue's runaway fundamental, in the small market: symbol 0 starts near the top
    of the exact-money range and symbol 1 near its bottom."""
    cfg = OmegaConf.merge(
        OmegaConf.create(small_config),
        OmegaConf.from_dotlist(
            [
                "market.initial_price=[32700,17]",
                "fundamentals.news_rate=0.5",
                "fundamentals.news_size=1.0",
                "fundamentals.growth=0.019",
            ]
        ),
    )
    cfg = OmegaConf.to_container(cfg)
    with pytest.warns(UserWarning, match="prices stuck at the exact-money limits") as rec:
        result = qtgjax.simulate(cfg)
    message = str(rec[0].message)
    assert f"symbol 0 at the top ({HIGH} ticks)" in message
    assert f"symbol 1 at the bottom ({LOW} tick)" in message
    ticks = result.tables()["ticks"]
    stuck = ticks.group_by("symbol").agg(pl.col("at_price_limit").sum()).sort("symbol")
    assert stuck["at_price_limit"].to_list()[0] > 0 and stuck["at_price_limit"].to_list()[1] > 0
    tick_size = small_config["market"]["tick_size"]
    flagged = ticks.filter(pl.col("at_price_limit"))
    assert (
        ((flagged["close"] / tick_size).round() <= LOW)
        | ((flagged["close"] / tick_size).round() >= HIGH)
    ).all()
    # the small market's normal run has none, and says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert not qtgjax.simulate(small_config).tables()["ticks"]["at_price_limit"].any()


# ---------------------------------------------------------------- 6. the auction's inputs

BOOK = dict(level=[5, 4, 3, 4], qty=[10, 5, 8, 4], is_buy=[True, True, False, False])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"qty": [2**31 - 1] * 4}, r"qty: 8,589,934,588 lots on the grid; one book must hold"),
        ({"qty": [2**25, 2**25, 1, 1]}, r"fewer than 67,108,864 \(2\*\*26\) lots"),
        ({"qty": [10, -5, 8, 4]}, r"qty\[1\]: -5 is negative"),
        ({"qty": [10, 2**32, 8, 4]}, r"qty\[1\]: 4294967296 is outside int32"),
        ({"qty": [10.0, 5.5, 8.0, 4.0]}, r"qty: expected integers, got float64"),
        ({"qty": np.array([1, 2, 3, 4], np.float32)}, r"qty: expected integers, got float32"),
        ({"level": [5.0, 4.0, 3.0, 4.0]}, r"level: expected integers"),
        ({"level": [5, 4, 3]}, r"one entry per order: level\[3\], qty\[4\], is_buy\[4\]"),
        ({"age": [0, 1]}, r"one entry per order: .*age\[2\]"),
        ({"age": [0, -1, 0, 0]}, r"age\[1\]: -1 is negative"),
        ({"is_buy": [1, 2, 0, 0]}, r"is_buy\[1\]: 2 is not a side"),
        ({"qty": [[10, 5, 8, 4]]}, r"qty: expected a 1-D array of orders, got shape \(1, 4\)"),
        ({"n_levels": 0}, r"n_levels: expected a Python int >= 1"),
        ({"n_levels": 8.0}, r"n_levels: expected a Python int >= 1"),
    ],
)
def test_clear_batch_auction_refuses_inputs_it_cannot_clear_exactly(change, message):
    kwargs = {**BOOK, "n_levels": 8, **change}
    with pytest.raises(ValueError, match=message):
        qtgjax.clear_batch_auction(**kwargs)


def test_auction_input_checks_keep_valid_and_traced_calls_working():
    """Valid books pass the checks (off-grid orders stay allowed: they take no part), and
    traced calls check shapes and n_levels only. (eval_shape: the checks run, nothing
    compiles; the numbers are tests/test_auction.py's.)"""
    off_grid = {**BOOK, "level": [5, 4, 3, 40], "qty": [10, 5, 8, 2**30]}
    for book in (BOOK, off_grid):
        out = jax.eval_shape(lambda b=book: qtgjax.clear_batch_auction(**b, n_levels=8))
        assert out.filled.shape == (4,)

    def f(lv, q, b):
        return qtgjax.clear_batch_auction(lv, q, b, n_levels=8)

    args = [jnp.asarray(BOOK[k]) for k in ("level", "qty", "is_buy")]
    assert jax.eval_shape(f, *args).filled.shape == (4,)
    assert jax.eval_shape(jax.vmap(f), *(jnp.stack([a, a]) for a in args)).filled.shape == (2, 4)
    with pytest.raises(ValueError, match="one entry per order"):
        jax.eval_shape(f, args[0][:3], args[1], args[2])


# ---------------------------------------------------------------- 7. I/O failures


def test_report_of_a_corrupt_parquet_names_the_file(tmp_path, small_result, capsys):
    from qtgjax.cli.report import cli as report_cli

    run = tmp_path / "run"
    small_result.write(run)
    ticks = run / "ticks.parquet"
    ticks.write_bytes(ticks.read_bytes()[: ticks.stat().st_size // 2])
    assert report_cli([str(run), "--no-realism"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"qtgjax-report: {ticks}: not a readable Parquet file")
    assert "\n" not in err
    # garbled in the middle (the footer still reads): found when the data is decoded
    garbled = tmp_path / "garbled"
    small_result.write(garbled)
    data = bytearray((garbled / "ticks.parquet").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 200] = bytes(200)
    (garbled / "ticks.parquet").write_bytes(bytes(data))
    assert report_cli([str(garbled), "--no-realism"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"qtgjax-report: {garbled / 'ticks.parquet'}: not a readable Parquet")
    nowhere = tmp_path / "nowhere"
    assert report_cli([str(nowhere), "--no-realism"]) == 2
    assert capsys.readouterr().err.strip() == f"qtgjax-report: {nowhere}: no such folder"
    assert report_cli([str(ticks), "--no-realism"]) == 2
    assert capsys.readouterr().err.strip().startswith(f"qtgjax-report: {ticks}: not a folder")


def test_report_refuses_a_run_killed_while_writing(tmp_path, small_result, capsys):
    from qtgjax.cli.report import cli as report_cli

    MARKER = ".qtgjax-run.json"  # qtgjax.io.runfolder.MARKER
    run = tmp_path / "run"
    small_result.write(run)
    marker = (run / MARKER).read_text().replace('"complete": true', '"complete": false')
    (run / MARKER).write_text(marker)
    assert report_cli([str(run), "--no-realism"]) == 2
    assert "did not finish" in capsys.readouterr().err


def test_report_to_an_unwritable_folder_is_one_line(tmp_path, small_result, capsys):
    from qtgjax.cli.report import cli as report_cli

    run = tmp_path / "run"
    small_result.write(run)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert report_cli([str(run), "--no-realism", "--out", str(blocker / "report")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"qtgjax-report: {blocker / 'report'}") and "\n" not in err


# ---------------------------------------------------------------- 8. the small things


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+foo=1", "^foo: unknown key"),
        ("+costs.tax_bps=1", r"^costs.tax_bps: unknown key"),
        ("chunk_size=0", r"^chunk_size: 0 is out of range 1\.\."),
        ("chunk_size=-3", r"^chunk_size: -3 is out of range 1\.\."),
        ("chunk_memory=lots", r"^chunk_memory: 'lots' is not a memory size"),
        ("overwrite=maybe", r"^overwrite: expected true or false"),
        ("families.noise.params=5", r"^families.noise.params: expected a mapping"),
    ],
)
def test_unknown_keys_and_bad_run_settings_are_refused(override, message):
    cfg = qtgjax.load_config([*SMALL, override])
    with pytest.raises(ConfigError, match=message):
        build(cfg)
        from qtgjax.io.runs import run_options

        run_options(cfg)


def test_simulate_takes_one_override_string_and_refuses_other_types(small_config):
    with pytest.raises(TypeError, match="config: expected a mapping"):
        qtgjax.simulate("scenarios=1")
    with pytest.raises(TypeError, match="overrides: expected key=value strings"):
        qtgjax.simulate(small_config, overrides=["scenarios"])
    from qtgjax.api import resolve_config

    assert resolve_config(small_config, "ticks=61")["ticks"] == 61
    assert resolve_config(None, "scenarios=1")["scenarios"] == 1


def test_partial_config_is_merged_onto_the_defaults(small_config, small_result):
    partial = OmegaConf.to_container(OmegaConf.from_dotlist(SMALL))
    assert "families" in partial and "fundamentals" in partial and "seed" not in partial
    result = qtgjax.simulate(partial)
    for name, df in small_result.tables().items():
        assert_frame_equal(result.tables()[name], df, check_exact=True)
    from qtgjax.api import resolve_config

    assert resolve_config(partial) == small_config
    # costs given alone still reach every family (the defaults are merged unresolved)
    fees = resolve_config({"costs": {"taker_bps": 1.5}})
    assert fees["families"]["noise"]["taker_bps"] == 1.5


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("repeats=0", "repeats: expected an integer >= 1"),
        ("chunk=0", "chunk: expected an integer >= 1"),
        ("memory_fraction=0", r"memory_fraction: expected a share in \(0, 1\]"),
        ("memory_fraction=2", r"memory_fraction: expected a share in \(0, 1\]"),
        ("memory_mb=-5", "memory_mb: expected a positive number of MiB"),
    ],
)
def test_bench_settings_out_of_range_are_refused(setting, message):
    from qtgjax.cli.bench import BENCH_CONF, check_settings

    cfg = OmegaConf.merge(
        OmegaConf.load(BENCH_CONF / "config.yaml"), OmegaConf.from_dotlist([setting])
    )
    with pytest.raises(ConfigError, match=message):
        check_settings(cfg)


def test_cluster_sizes_below_one_are_refused():
    from qtgjax.sweep.cluster import ClusterError, check_cluster

    check_cluster({"kind": "local", "n_workers": None, "processes": False})
    for key in ("n_workers", "threads_per_worker"):
        with pytest.raises(ClusterError, match=f"cluster.{key}: expected an integer >= 1"):
            check_cluster({"kind": "local", key: 0})


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_results_are_readable_by_the_group(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_parquet(pl.DataFrame({"a": [1]}), tmp_path / "t.parquet")
        write_text("x", tmp_path / "c.yaml")
    finally:
        os.umask(old)
    for name in ("t.parquet", "c.yaml"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_build_outputs_are_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(
        ["git", "check-ignore", "build/lib/x.py", "dist/qtgjax-0.1.0.whl"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.stdout.split() == ["build/lib/x.py", "dist/qtgjax-0.1.0.whl"]
