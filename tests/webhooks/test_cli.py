"""The `zhitong` command as an operator uses it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from cases.migrate import heads
from tests.conftest import POSTGRES_ADMIN_URL
from tests.fixtures.nlu import project_model_path
from webhooks.cli import main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose instance folder is private to the test."""
    monkeypatch.setenv("ZHITONG_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("ZHITONG_LOG_FORMAT", "text")
    monkeypatch.delenv("ZHITONG_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZHITONG_REDIS_URL", raising=False)
    return CliRunner()


def test_catalog_check_passes_for_the_project_catalog(runner: CliRunner) -> None:
    """All 41 service and concern intents are in the catalog."""
    result = runner.invoke(main, ["catalog", "check"])
    assert result.exit_code == 0, result.output
    assert "41 items (23 services, 18 concerns)" in result.output


def test_catalog_check_fails_on_a_broken_catalog(runner: CliRunner, tmp_path: Path) -> None:
    """A catalog missing items and naming an unknown code fails with each problem listed."""
    from intents.catalog import CATALOG_PATH

    text_ = CATALOG_PATH.read_text(encoding="utf-8").replace(
        "code: infra_streetlight", "code: infra_streetlamp"
    )
    broken = tmp_path / "catalog.yml"
    broken.write_text(text_, encoding="utf-8")
    result = runner.invoke(main, ["catalog", "check", "--file", str(broken)])
    assert result.exit_code == 1
    assert "infra_streetlamp: not a service or concern intent" in result.output
    assert "infra_streetlight: taxonomy intent missing from the catalog" in result.output


def test_catalog_check_reports_malformed_yaml(runner: CliRunner, tmp_path: Path) -> None:
    """Broken YAML is one clear line and exit 2, not a traceback."""
    broken = tmp_path / "catalog.yml"
    broken.write_text("items: [unclosed", encoding="utf-8")
    result = runner.invoke(main, ["catalog", "check", "--file", str(broken)])
    assert result.exit_code == 2
    assert "not valid YAML" in result.output and "Traceback" not in result.output


def test_db_upgrade_and_current_on_sqlite(runner: CliRunner) -> None:
    """`db upgrade` creates the schema; `db current` says it is up to date."""
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"revision {heads()[0]}" in result.output
    assert "up to date" in runner.invoke(main, ["db", "current"]).output


def test_db_upgrade_on_an_empty_postgresql_database(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`zhitong db upgrade` works on a brand-new PostgreSQL database, and downgrades."""
    name = f"zhitong_cli_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server's absence is reported by require_server
        from tests.conftest import require_server

        require_server("PostgreSQL", exc)
    try:
        monkeypatch.setenv(
            "ZHITONG_DATABASE_URL", POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        )
        upgraded = runner.invoke(main, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert f"revision {heads()[0]}" in upgraded.output
        downgraded = runner.invoke(main, ["db", "downgrade", "base"])
        assert downgraded.exit_code == 0 and "base" in downgraded.output
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_demo_loads_once_and_prints_credentials(runner: CliRunner) -> None:
    """`zhitong demo` loads the county, a second run changes nothing; both print the accounts."""
    first = runner.invoke(main, ["demo"])
    assert first.exit_code == 0, first.output
    assert "loaded" in first.output and "zhitong-demo" in first.output
    second = runner.invoke(main, ["demo"])
    assert "already loaded" in second.output and "supervisor" in second.output


def test_bad_setting_names_the_variable(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad environment value stops the command with the variable's name, exit 2."""
    monkeypatch.setenv("ZHITONG_TIMEZONE", "Mars/Olympus")
    result = runner.invoke(main, ["db", "current"])
    assert result.exit_code == 2
    assert "ZHITONG_TIMEZONE" in result.output and "Traceback" not in result.output


def test_worker_without_redis_explains(runner: CliRunner) -> None:
    """`zhitong worker` in embedded mode says why it is not needed."""
    result = runner.invoke(main, ["worker", "--burst"])
    assert result.exit_code == 2
    assert "ZHITONG_REDIS_URL is not set" in result.output


def test_unreachable_postgres_is_a_clear_error(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database URL nobody answers is one line naming the problem."""
    monkeypatch.setenv("ZHITONG_DATABASE_URL", "postgresql+psycopg://127.0.0.1:1/none")
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "database unreachable" in result.output


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_runs_with_demo_data_and_healthz_green(tmp_path: Path) -> None:
    """`zhitong serve --demo` in a fresh folder serves /healthz green within seconds."""
    port = free_port()
    env = {
        **os.environ,
        "ZHITONG_INSTANCE_PATH": str(tmp_path / "instance"),
        "ZHITONG_NLU_MODEL_PATH": str(project_model_path()),  # trained once per machine
    }
    env.pop("ZHITONG_DATABASE_URL", None)
    env.pop("ZHITONG_REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "webhooks.cli", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    body = json.load(reply)
                    break
            except OSError:
                time.sleep(0.2)
        assert body is not None, "server did not answer"
        assert body["status"] == "ok" and body["queue"]["workers"] == 1
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "zhitong-demo" in output and f"127.0.0.1:{port}" in output
    assert (tmp_path / "instance" / "zhitong.sqlite3").exists()


def test_chat_talks_to_the_bot_through_the_sms_path(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`zhitong chat` answers a greeting and opens a case for a report, then ends on a blank."""
    monkeypatch.setenv("ZHITONG_DEMO", "true")
    monkeypatch.setenv("ZHITONG_NLU_MODEL_PATH", str(project_model_path()))
    result = runner.invoke(main, ["chat"], input="你好\n城关镇东门社区的路灯坏了\n\n")
    assert result.exit_code == 0, result.output
    assert "直通> 您好" in result.output
    assert re.search(r"案件号\d{12}", result.output), result.output


def test_cron_without_redis_explains(runner: CliRunner) -> None:
    """`zhitong cron` in embedded mode says that serve runs the schedule itself."""
    result = runner.invoke(main, ["cron"])
    assert result.exit_code == 2
    assert "runs the schedule itself" in result.output
