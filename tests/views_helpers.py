"""Helpers for tests/test_views.py: tmux sessions, screen parsing, headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = os.environ.get("QTGJAX_DOCS")  # set: copy the screenshots into docs/ (README)


class Tmux:
    """One detached tmux session on a private socket, running ``command`` in a shell; the
    shell writes the command's exit status to ``exit_file``."""

    def __init__(self, command: str, cwd: Path, width: int = 200, height: int = 50):
        self.socket = f"qtgjax-test-{os.getpid()}-{time.monotonic_ns()}"
        self.exit_file = Path(tempfile.mkdtemp()) / "exit"
        # the pane gets its size just after the session starts: let it settle first
        wrapped = f"sleep 0.5; {command}; echo $? > {self.exit_file}; sleep 600"
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(cwd),
            wrapped,
        )

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def send(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "t", key)

    def wait_for(self, pattern: str, timeout: float = 120.0) -> re.Match:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            found = re.search(pattern, screen, re.MULTILINE)
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} on screen after {timeout} s:\n{screen}")

    def settled(self, pattern: str, timeout: float = 60.0) -> str:
        """The screen once it shows ``pattern`` and stops changing (a frame fully drawn)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            screen = self.screen()
            if screen == last and re.search(pattern, screen, re.MULTILINE):
                return screen
            last = screen
            time.sleep(0.4)
        raise AssertionError(f"the screen did not settle on {pattern!r}:\n{self.screen()}")

    def exit_status(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_file.is_file() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text())
            time.sleep(0.2)
        raise AssertionError(f"the command did not exit in {timeout} s:\n{self.screen()}")

    def close(self) -> None:
        self._tmux("kill-server")


def status(screen: str) -> dict:
    found = re.search(r"tick (\d+)/(\d+) \| (\w+) \| speed (\S+)", screen)
    assert found, screen
    return {"tick": int(found[1]), "ticks": int(found[2]), "state": found[3], "speed": found[4]}


def auction_rows(screen: str) -> list[tuple[int, str, int, int]]:
    """(tick, price, volume, taker flow) rows of the last-auctions panel."""
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+|-)\s+(\d+)\s+([+-]\d+)\s", screen, re.MULTILINE)
    return [(int(t), p, int(v), int(f)) for t, p, v, f in rows]


def ladder_rows(screen: str) -> list[tuple[str, int, str, int]]:
    rows = re.findall(r"\b(ask|bid)\s+(\d+)\s+([\d.]+)\s+(\d+)\b", screen)
    return [(s, int(k), p, int(q)) for s, k, p, q in rows]


def league_values(screen: str, families) -> dict[str, str]:
    out = {}
    for family in families:
        # rank, family, value; the rank is a whole number (not the end of another value)
        found = re.search(rf"(?<![\d.])\d{{1,3}}\s+{re.escape(family)}\s+(-?[\d.]+)", screen)
        assert found, f"{family} not in the league panel:\n{screen}"
        out[family] = found[1]
    return out


def stat_value(screen: str, name: str) -> str:
    found = re.search(rf"\b{name}\s+(-?[\d.]+|-)", screen)
    assert found, f"{name} not on screen:\n{screen}"
    return found[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def chromium():
    """Selenium driving Debian's chromium through chromium-driver (no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='qtgjax-chromium-')}")
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver), options=options)


def keep_screenshot(path: Path, name: str) -> None:
    """Copy a screenshot into docs/ when QTGJAX_DOCS is set (the README's pictures)."""
    if DOCS:
        target = ROOT / "docs" / name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, target)
