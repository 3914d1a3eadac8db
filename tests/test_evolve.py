def test_the_apps_refuse_bad_settings_before_compiling(tmp_path):
    bad = subprocess.run(
        [str(BIN / "qtgjax-evolve"), "search.strategy=bogus", f"out={tmp_path / 'e'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert "qtgjax-evolve: bad config: search.strategy: 'bogus' is not one of" in bad.stderr
    bad = subprocess.run(
        [str(BIN / "qtgjax-league"), "learners=1", f"out={tmp_path / 'l'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert "qtgjax-league: bad config: league.learners: 1 must be at least 2" in bad.stderr
