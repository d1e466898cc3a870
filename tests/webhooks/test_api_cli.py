"""`zhitong api token …` and `zhitong report` as an operator uses them (embedded SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from webhooks.cli import main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner on a private instance folder holding the demo county."""
    monkeypatch.setenv("ZHITONG_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("ZHITONG_LOG_FORMAT", "text")
    monkeypatch.delenv("ZHITONG_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZHITONG_REDIS_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["demo"]).exit_code == 0
    return runner


def test_token_create_list_revoke(runner: CliRunner) -> None:
    """The secret is printed once; list never shows it; revoke marks the token revoked."""
    created = runner.invoke(
        main,
        [
            "api",
            "token",
            "create",
            "--name",
            "12345 hotline",
            "--area",
            "chengguan",
            "--scope",
            "cases:read,cases:write",
        ],
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("zt_") and len(secret) > 40
    listed = runner.invoke(main, ["api", "token", "list"])
    assert "12345 hotline" in listed.output and "chengguan" in listed.output
    assert secret not in listed.output and "active" in listed.output
    revoked = runner.invoke(main, ["api", "token", "revoke", secret[:11]])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in runner.invoke(main, ["api", "token", "list"]).output


def test_token_create_refuses_bad_scope_and_area(runner: CliRunner) -> None:
    """Unknown permissions or areas are one clear line and exit 2."""
    bad_scope = runner.invoke(
        main, ["api", "token", "create", "--name", "x", "--area", "qingxi", "--scope", "all"]
    )
    assert bad_scope.exit_code == 2 and "unknown scope" in bad_scope.output
    bad_area = runner.invoke(
        main, ["api", "token", "create", "--name", "x", "--area", "mars", "--scope", "cases:read"]
    )
    assert bad_area.exit_code == 2 and "no area" in bad_area.output
    assert "Traceback" not in bad_scope.output + bad_area.output


def test_report_command_writes_html_and_pdf(runner: CliRunner, tmp_path: Path) -> None:
    """`zhitong report --period 2026-11 --out DIR --pdf` writes both files; a bad period fails."""
    result = runner.invoke(
        main, ["report", "--period", "2026-11", "--out", str(tmp_path / "r"), "--pdf"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "zhitong-report-2026-11.html").exists()
    assert (tmp_path / "r" / "zhitong-report-2026-11.pdf").read_bytes().startswith(b"%PDF")
    bad = runner.invoke(main, ["report", "--period", "November"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
