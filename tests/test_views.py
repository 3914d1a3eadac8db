"""The live views as a person uses them: ``qtgjax-watch`` under tmux (keys in, screen out)
and ``qtgjax-dash`` in headless Chromium (Selenium), checked against the run's own Parquet.

Debian packages: tmux, chromium, chromium-driver (``.ci/debian-packages.txt``).
"""

from __future__ import annotations

import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from scipy import stats
from views_helpers import (
    Tmux,
    auction_rows,
    chromium,
    free_port,
    keep_screenshot,
    ladder_rows,
    league_values,
    stat_value,
    status,
)

from conftest import SMALL

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
TICKS = 60  # SMALL's: the run is small_result's with depth recorded
RUN = [*SMALL, "record.depth=32"]  # every level of the 32-level grid, every tick
ENV = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "JAX_COMPILATION_CACHE_DIR": str(ROOT / ".jax_cache"),
}
TABLES = ("ticks", "agents", "positions", "family_pnl", "depth")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """``qtgjax-run`` of the small market with per-level depth (all levels, every tick)."""
    out = tmp_path_factory.mktemp("views") / "run"
    cmd = [str(BIN / "qtgjax-run"), *RUN, f"out={out}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def parquet(run_folder) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(run_folder / f"{name}.parquet") for name in TABLES}


def test_run_records_depth_that_adds_up_to_its_quotes_and_depth(parquet):
    depth, ticks = parquet["depth"], parquet["ticks"]
    assert depth.schema == pl.Schema(
        {
            "scenario": pl.Int64,
            "venue": pl.Int32,
            "symbol": pl.Int32,
            "tick": pl.Int64,
            "side": pl.Utf8,
            "level": pl.Int32,
            "price": pl.Float64,
            "lots": pl.Int64,
        }
    )
    assert depth["venue"].unique().to_list() == [0] and depth["lots"].min() > 0
    per_side = depth.group_by("scenario", "symbol", "tick", "side").agg(
        pl.col("lots").sum(), pl.col("price").sort_by("level").first().alias("best")
    )
    for side in ("bid", "ask"):
        joined = ticks.join(
            per_side.filter(pl.col("side") == side), on=["scenario", "symbol", "tick"], how="left"
        )
        assert (joined["lots"].fill_null(0) == joined[f"{side}_depth"]).all()
        assert (joined["best"].is_null() == joined[f"best_{side}"].is_null()).all()
        both = joined.filter(pl.col("best").is_not_null())
        assert np.allclose(both["best"], both[f"best_{side}"])
    ordered = depth.sort("scenario", "symbol", "tick", "side", "level").with_columns(
        pl.col("price").diff().over("scenario", "symbol", "tick", "side").alias("step")
    )
    steps = ordered.filter(pl.col("step").is_not_null())
    assert (steps.filter(pl.col("side") == "bid")["step"] < 0).all()  # bids: best = highest
    assert (steps.filter(pl.col("side") == "ask")["step"] > 0).all()


def test_depth_record_changes_no_other_table(parquet, small_result):
    without = small_result.tables()  # the same run without record.depth
    assert set(without) == set(TABLES) - {"depth"}
    for name, df in without.items():
        assert df.equals(parquet[name]), name


def watch_command(*args: str) -> str:
    env = " ".join(
        f"{k}={shlex.quote(ENV[k])}" for k in ("JAX_PLATFORMS", "JAX_COMPILATION_CACHE_DIR")
    )
    return f"{env} {shlex.quote(str(BIN / 'qtgjax-watch'))} " + " ".join(map(shlex.quote, args))


def price(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def check_panels(screen: str, parquet, symbol: int, tick: int) -> None:
    """The auctions, ladder, stats and league panels show the Parquet's numbers at ``tick``."""
    ticks = parquet["ticks"].filter((pl.col("scenario") == 0) & (pl.col("symbol") == symbol))
    rows = auction_rows(screen)
    assert [r[0] for r in rows] == list(range(tick, tick - 8, -1)), screen
    for t, shown_price, volume, flow in rows:
        want = ticks.filter(pl.col("tick") == t).row(0, named=True)
        assert (shown_price, volume, flow) == (
            price(want["vwap"]),
            want["volume"],
            want["taker_flow"],
        )
    now = ticks.filter(pl.col("tick") == tick).row(0, named=True)
    for name in ("best_bid", "best_ask"):
        assert stat_value(screen, name) == price(now[name])
    assert stat_value(screen, "last") == price(now["close"])
    assert int(stat_value(screen, "bid_depth")) == now["bid_depth"]
    assert f"depth ladder, tick {tick}" in screen
    depth = parquet["depth"].filter(
        (pl.col("scenario") == 0) & (pl.col("symbol") == symbol) & (pl.col("tick") == tick)
    )
    want = {
        (r["side"], r["level"], price(r["price"]), r["lots"]) for r in depth.iter_rows(named=True)
    }
    want = {row for row in want if row[1] <= 10}  # the ladder shows 10 levels per side
    assert set(ladder_rows(screen)) == want and want
    pnl = parquet["family_pnl"].filter((pl.col("scenario") == 0) & (pl.col("tick") == tick))
    expected = {r["family"]: f"{r['pnl_per_agent']:.2f}" for r in pnl.iter_rows(named=True)}
    assert league_values(screen, expected) == expected
    assert f"symbol {symbol}: close and fundamental value" in screen


def test_watch_live_pauses_switches_symbol_and_writes_the_same_run(
    run_folder, parquet, browser, tmp_path
):
    out = tmp_path / "watched"
    tmux = Tmux(watch_command(*RUN, f"out={out}", "--speed", "20"), cwd=tmp_path)
    try:
        tmux.wait_for(r"tick (1[2-9]|[2-5]\d)/60 \| running", timeout=240)
        tmux.send("Space")
        first = status(tmux.settled(r"tick \d+/60 \| PAUSED"))
        time.sleep(1.5)
        screen = tmux.settled(r"PAUSED")
        assert status(screen) == first, "space must stop the tick counter"
        assert "traces 1" in screen, f"the segment function is traced once:\n{screen}"
        check_panels(screen, parquet, symbol=0, tick=first["tick"] - 1)
        tmux.send("Tab")
        check_panels(tmux.settled(r"symbol 1/2"), parquet, symbol=1, tick=first["tick"] - 1)
        tmux.send("Space")
        tmux.wait_for(rf"tick (?!{first['tick']}/)\d+/60 \| (running|finished)")
        for _ in range(len("0123456789ab")):
            tmux.send("+")
        tmux.wait_for(r"speed max")
        tmux.wait_for(r"finished; results:", timeout=120)
        screen = tmux.screen()
        assert status(screen)["tick"] == TICKS and "traces 1" in screen
        tmux.send("s")
        tmux.wait_for(r"screenshot: .*watch\.svg")
        tmux.send("q")
        assert tmux.exit_status() == 0
    finally:
        tmux.close()
    for name in TABLES:  # the live run is qtgjax-run's run, table for table
        assert pl.read_parquet(out / f"{name}.parquet").equals(parquet[name]), name
    browser.get((out / "watch.svg").as_uri())  # Textual's own screenshot, as a PNG
    wait_js(browser, "return document.querySelector('svg') !== null;")
    shot = tmp_path / "watch.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:4] == b"\x89PNG"
    keep_screenshot(shot, "watch.png")


def test_watch_replays_a_run_folder(run_folder, parquet, tmp_path):
    tmux = Tmux(watch_command("--replay", str(run_folder), "--speed", "max"), cwd=tmp_path)
    try:
        tmux.wait_for(r"tick 60/60 \| finished")
        screen = tmux.settled(r"symbol 0: close and fundamental value")
        check_panels(screen, parquet, symbol=0, tick=TICKS - 1)
        agents = parquet["agents"].filter(pl.col("scenario") == 0)
        final = {r["family"]: f"{r['pnl_per_agent']:.2f}" for r in agents.iter_rows(named=True)}
        assert league_values(screen, final) == final
        tmux.send("q")
        assert tmux.exit_status() == 0
    finally:
        tmux.close()


def test_watch_refuses_a_bad_config_before_compiling():
    proc = subprocess.run(
        [str(BIN / "qtgjax-watch"), "market.levels=-2"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == "qtgjax-watch: bad config: market.levels: -2 is out of range 8..8192"
    )


# ---------------------------------------------------------------- qtgjax-dash in Chromium

READ = """
const doc = Bokeh.documents[0];
const m = doc.get_model_by_name(arguments[0]);
if (m === null) return null;
const src = m.data_source !== undefined ? m.data_source : m;
const d = src.data;
const out = {};
for (const k of (d instanceof Map ? d.keys() : Object.keys(d))) {
  const v = d instanceof Map ? d.get(k) : d[k];
  out[k] = (k === 'image') ? Array.from(v[0]).concat([v[0].shape]) : Array.from(v);
}
return out;
"""


class Dash:
    """A ``qtgjax-dash`` server process on a free local port."""

    def __init__(self, *args: str):
        self.port = free_port()
        cmd = [str(BIN / "qtgjax-dash"), *args, "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        line = self.proc.stdout.readline()
        assert "serving http://127.0.0.1" in line, line + self.proc.stdout.read()
        self.url = f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def wait_js(driver, script: str, *args, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = driver.execute_script(script, *args)
        except Exception:  # the page is still loading
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {script[:80]!r}")


def model_data(driver, name: str, timeout: float = 60.0) -> dict:
    ready = "return window.Bokeh !== undefined && Bokeh.documents.length > 0;"
    wait_js(driver, ready, timeout=timeout)
    return wait_js(driver, READ, name, timeout=timeout)


def nan_equal(shown, want) -> bool:
    a = np.array([np.nan if v is None else v for v in shown], float)
    return np.allclose(a, np.asarray(want, float), equal_nan=True)


def click_tab(driver, title: str) -> None:
    script = """
    const find = (root) => {
      for (const el of root.querySelectorAll('*')) {
        if (el.shadowRoot) { const hit = find(el.shadowRoot); if (hit) return hit; }
        if (el.classList && el.classList.contains('bk-tab')
            && el.textContent.trim() === arguments[0]) return el;
      }
      return null;
    };
    const tab = find(document);
    if (tab) { tab.click(); return true; }
    return false;
    """
    wait_js(driver, script, title)


def scrub_handle(driver):
    script = """
    const find = (root) => {
      for (const el of root.querySelectorAll('*')) {
        if (el.classList && el.classList.contains('noUi-handle')) return el;
        if (el.shadowRoot) { const hit = find(el.shadowRoot); if (hit) return hit; }
      }
      return null;
    };
    return find(document);
    """
    return wait_js(driver, script)


def test_dash_book_heatmap_scrub_and_pnl_race(run_folder, parquet, browser, tmp_path):
    from selenium.webdriver import ActionChains

    dash = Dash(str(run_folder))
    try:
        browser.get(dash.url)
        ticks = parquet["ticks"].filter((pl.col("scenario") == 0) & (pl.col("symbol") == 0))
        clearing = model_data(browser, "clearing")
        assert clearing["tick"] == ticks["tick"].to_list()
        assert nan_equal(clearing["price"], ticks["vwap"].fill_null(np.nan))
        depth = parquet["depth"].filter((pl.col("scenario") == 0) & (pl.col("symbol") == 0))
        for side, name in (("bid", "depth_bids"), ("ask", "depth_asks")):
            image = model_data(browser, name)
            shape = image["image"].pop()
            values = np.array(image["image"], float).reshape(shape)
            rows = depth.filter(pl.col("side") == side)
            assert values.sum() == rows["lots"].sum()  # every record, one column per tick
            level = np.rint(rows["price"].to_numpy() / 0.01).astype(int)
            low = int(np.rint(depth["price"].min() / 0.01))
            assert np.array_equal(values[level - low, rows["tick"].to_numpy()], rows["lots"])
        # the book at the last tick, then drag the scrub slider to the left
        book = model_data(browser, "book_data")
        last = depth.filter(pl.col("tick") == TICKS - 1).sort("side", "level")
        assert sorted(book["lots"]) == sorted(last["lots"].to_list())
        handle = scrub_handle(browser)
        ActionChains(browser).click_and_hold(handle).move_by_offset(-300, 0).release().perform()
        moved = wait_js(
            browser,
            """
            const s = Bokeh.documents[0].get_model_by_name('scrub');
            return s.value < s.end ? s.value : null;""",
        )
        assert 0 < moved < TICKS - 1
        want = depth.filter(pl.col("tick") == moved)
        expect = sorted(zip(want["price"].round(2).to_list(), want["lots"].to_list(), strict=True))

        def book_now():
            b = browser.execute_script(READ, "book_data")
            return sorted(zip([round(p, 2) for p in b["price"]], b["lots"], strict=True))

        deadline = time.monotonic() + 30
        while book_now() != expect and time.monotonic() < deadline:
            time.sleep(0.2)
        assert book_now() == expect, "the book follows the scrub slider"
        info = wait_js(
            browser,
            """
            const d = Bokeh.documents[0].get_model_by_name('tick_info');
            return d.text.includes("info_tick'>" + arguments[0] + "<") ? d.text : null;""",
            str(moved),
        )
        row = ticks.filter(pl.col("tick") == moved).row(0, named=True)
        assert f"info_volume'>{row['volume']}<" in info
        shot = tmp_path / "dash.png"
        browser.save_screenshot(str(shot))
        keep_screenshot(shot, "dash.png")
        # P&L race: mean P&L per agent over the scenarios, by family, every tick
        click_tab(browser, "P&L race")
        pnl = parquet["family_pnl"].group_by("family", "tick").agg(pl.col("pnl_per_agent").mean())
        for family in parquet["agents"]["family"].unique():
            shown = model_data(browser, f"pnl_{family}")
            want = pnl.filter(pl.col("family") == family).sort("tick")
            assert shown["tick"] == want["tick"].to_list()
            assert np.allclose(shown["pnl"], want["pnl_per_agent"])
        shot = tmp_path / "dash_pnl.png"
        browser.save_screenshot(str(shot))
        keep_screenshot(shot, "dash_pnl.png")
        click_tab(browser, "Realism")
        checks = wait_js(
            browser,
            """
            const t = Bokeh.documents[0].get_model_by_name('realism_table');
            if (t === null) return null;
            const d = t.source.data;
            return Array.from(d instanceof Map ? d.get('check') : d['check']);""",
            timeout=120,
        )
        assert "fat_tails" in checks and "volatility_clustering" in checks
    finally:
        dash.close()


def fake_study(run_folder: Path, root: Path) -> pl.DataFrame:
    """A hive-partitioned study folder around the run's tables: two points of a swept
    ``half_spread`` with three seeds each, and a metric per scenario."""
    rng = np.random.default_rng(0)
    summary = pl.DataFrame(
        {
            "scenario": np.arange(6),
            "point": np.arange(6) // 3,
            "replicate": np.arange(6) % 3,
            "seed": np.zeros(6, np.int64),
            "half_spread": [1.0, 1.0, 1.0, 3.0, 3.0, 3.0],
            "spread_bp": rng.normal(10, 2, 6),
            "volume_per_tick": rng.normal(50, 5, 6),
        }
    )
    for name in ("ticks", "agents", "summary"):
        table = summary if name == "summary" else pl.read_parquet(run_folder / f"{name}.parquet")
        (root / name / "chunk=0").mkdir(parents=True)
        table.write_parquet(root / name / "chunk=0" / "part-0.parquet")
    manifest = {
        "name": "fake",
        "swept": {"half_spread": {"dtype": "Float64"}},
        "metrics": ["spread_bp", "volume_per_tick"],
    }
    (root / "study.yaml").write_text(yaml.safe_dump(manifest))
    return summary


def test_dash_study_explorer_shows_means_with_confidence_bands(run_folder, browser, tmp_path):
    summary = fake_study(run_folder, tmp_path / "study")
    dash = Dash(str(tmp_path / "study"))
    try:
        browser.get(dash.url)
        click_tab(browser, "Study explorer")
        shown = model_data(browser, "explorer_0")
        assert shown["x"] == [1.0, 3.0]
        for i, x in enumerate((1.0, 3.0)):
            values = summary.filter(pl.col("half_spread") == x)["spread_bp"].to_numpy()
            half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
            assert shown["mean"][i] == pytest.approx(values.mean())
            assert shown["low"][i] == pytest.approx(values.mean() - half)
            assert shown["high"][i] == pytest.approx(values.mean() + half)
    finally:
        dash.close()


def test_dash_live_run_fills_in_and_matches_the_run(run_folder, parquet, browser, tmp_path):
    out = tmp_path / "live"
    dash = Dash("--live", *RUN, f"out={out}", "--refresh", "0.5")
    try:
        browser.get(dash.url)
        wait_js(
            browser,
            """
            const h = Bokeh.documents.length && Bokeh.documents[0].get_model_by_name('header');
            return h && h.text.includes("<span id='n_ticks'>60</span>");""",
            timeout=240,
        )
        ticks = parquet["ticks"].filter((pl.col("scenario") == 0) & (pl.col("symbol") == 0))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            clearing = browser.execute_script(READ, "clearing")
            if clearing and len(clearing["tick"]) == TICKS:
                break
            time.sleep(0.3)
        assert nan_equal(clearing["price"], ticks["vwap"].fill_null(np.nan))
    finally:
        dash.close()
