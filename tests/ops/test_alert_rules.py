"""The alert rules under Prometheus's own tool: `promtool check rules` on alerts.yml, and
`promtool test rules` on ops/monitoring/prometheus/tests/, which holds a firing case for
every alert. Skipped (with the reason) where promtool is not installed; .ci/run installs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.test_monitoring import ALERTS, alert_rules, load_yaml

RULE_TESTS = ALERTS.parent / "tests"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not on PATH (Debian/Ubuntu: apt-get install prometheus)")
    return found


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS.glob("*.yml"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_rules() -> None:
    done = run(promtool(), "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_promtool_rule_tests_pass() -> None:
    files = rule_test_files()
    done = run(promtool(), "test", "rules", *map(str, files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(files), done.stdout


def test_every_alert_has_a_test_where_it_fires() -> None:
    fired: set[str] = set()
    for path in rule_test_files():
        test_file = load_yaml(path)
        assert test_file["rule_files"] == ["../alerts.yml"], path.name
        for case in test_file["tests"]:
            for check in case["alert_rule_test"]:
                if check["exp_alerts"]:
                    fired.add(check["alertname"])
    assert fired == {rule["alert"] for rule in alert_rules()}
