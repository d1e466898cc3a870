"""CSV and XLSX exports: scope, roles, Excel-friendly CSV, no formula injection, masking."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.exceptions import PermissionDeniedError
from cases.models import Agent, Contact
from cases.models.messaging import AddressKind
from tests.conftest import SHANGHAI
from tests.fixtures.api import open_demo_case
from tests.fixtures.console import (
    console_app,
    console_client,
    demo_settings,
    sign_in,
)
from webhooks.exports import HEADER, ExportFilter, export_csv, export_rows, export_xlsx, neutralise

__all__ = ["console_app", "console_client", "demo_settings"]

NOVEMBER = ExportFilter.month("2026-11")


def agent(session: Session, username: str) -> Agent:
    """A demo account."""
    return session.scalars(select(Agent).where(Agent.username == username)).one()


def seed(session: Session, clock: Clock) -> None:
    """Two cases in 城关 (one with a formula-like summary and a phone), one in 东澳."""
    contact = Contact(kind=AddressKind.PHONE, address="+8613800138000", phone="+8613800138000")
    session.add(contact)
    session.flush()
    open_demo_case(session, clock, summary='=HYPERLINK("http://x")', contact_id=contact.id)
    open_demo_case(session, clock, description="路灯不亮")
    open_demo_case(session, clock, place="dongao.yugang", description="渔港垃圾")
    session.commit()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+86", "'+86"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("路灯", "路灯"),
        ("", ""),
    ],
)
def test_neutralise_formula_starts(value: str, expected: str) -> None:
    """Cells a spreadsheet would evaluate get a leading apostrophe; others are untouched."""
    assert neutralise(value) == expected


def test_rows_keep_to_the_agents_scope(demo_session: Session, clock: Clock) -> None:
    """A town worker exports only the town's cases; the supervisor exports all of them."""
    seed(demo_session, clock)
    town = list(
        export_rows(demo_session, agent(demo_session, "town_chengguan"), NOVEMBER, SHANGHAI)
    )
    county = list(export_rows(demo_session, agent(demo_session, "supervisor"), NOVEMBER, SHANGHAI))
    assert town[0] == list(HEADER) and county[0] == list(HEADER)
    assert len(town) == 3 and len(county) == 4
    assert {row[5] for row in town[1:]} == {"城关镇"}


def test_village_proxies_may_not_export(demo_session: Session) -> None:
    """Proxy agents work case by case: an export is refused."""
    with pytest.raises(PermissionDeniedError):
        list(export_rows(demo_session, agent(demo_session, "proxy_dongmen"), NOVEMBER, SHANGHAI))


def test_csv_opens_in_excel_and_is_masked(demo_session: Session, clock: Clock) -> None:
    """UTF-8 with BOM, Chinese header, formula neutralised, phone masked unless asked for."""
    seed(demo_session, clock)
    supervisor = agent(demo_session, "supervisor")
    data = export_csv(demo_session, supervisor, NOVEMBER, SHANGHAI)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "案件编号"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert '\'=HYPERLINK("http://x")' in [row[14] for row in rows]
    assert "138****8000" in [row[15] for row in rows] and "13800138000" not in data.decode(
        "utf-8-sig"
    )
    personal = export_csv(demo_session, supervisor, NOVEMBER, SHANGHAI, personal=True)
    assert "'+8613800138000" in personal.decode("utf-8-sig")


def test_xlsx_has_only_strings(demo_session: Session, clock: Clock) -> None:
    """The workbook's cells are strings: no formula survives."""
    seed(demo_session, clock)
    data = export_xlsx(demo_session, agent(demo_session, "supervisor"), NOVEMBER, SHANGHAI)
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert sheet.max_row == 4 and values[0] == "案件编号"
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row if cell.value)


def test_download_needs_sign_in_and_role(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Anonymous users are sent to sign in; a proxy gets 403; a supervisor gets the file."""
    seed(demo_session, clock)
    anonymous = console_client.get("/console/exports/cases.csv?period=2026-11")
    assert anonymous.status_code in {302, 401}
    sign_in(console_client, "proxy_dongmen")
    assert console_client.get("/console/exports/cases.csv?period=2026-11").status_code == 403
    console_client.get("/console/logout")
    console_client.post("/console/logout")
    other = console_client.application.test_client()
    sign_in(other, "supervisor")
    response = other.get("/console/exports/cases.xlsx?period=2026-11")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert load_workbook(io.BytesIO(response.data)).active.max_row == 4  # type: ignore[union-attr]
    assert other.get("/console/exports/cases.csv?period=nope").status_code == 400
