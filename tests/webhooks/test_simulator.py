"""The resident simulator: demo only, and it talks through the real SMS path."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cases.settings import load_settings
from tests.fixtures.nlu import project_model
from tests.fixtures.services import services_for
from webhooks.app import create_app
from worker import understanding


def app_client(engine: Engine, tmp_path, *, demo: bool) -> FlaskClient:  # type: ignore[no-untyped-def]
    """An app on the test database, in demo mode or not, without a Twilio account."""
    settings = load_settings(instance_path=tmp_path, secret_key="sim-secret", demo=demo)
    services = services_for(engine, settings)
    return create_app(settings, services).test_client()


@pytest.fixture
def demo_client(demo_session: Session, engine: Engine, tmp_path) -> Iterator[FlaskClient]:  # type: ignore[no-untyped-def]
    """The simulator in demo mode with the real intent model."""
    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    yield app_client(engine, tmp_path, demo=True)
    understanding.use_interpreter(None)


def test_simulator_does_not_exist_outside_demo_mode(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without ZHITONG_DEMO the page and its signing endpoint are 404."""
    client = app_client(engine, tmp_path, demo=False)
    assert client.get("/simulator").status_code == 404
    assert client.post("/simulator/sign", json={"Body": "x"}).status_code == 404


def test_sms_webhook_refuses_everything_without_twilio_outside_demo(
    engine: Engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """With no Twilio token and no demo mode there is no signing key: every request is 403."""
    client = app_client(engine, tmp_path, demo=False)
    response = client.post("/twilio/sms", data={"From": "+8613900123456", "MessageSid": "SM1"})
    assert response.status_code == 403


def test_simulated_message_takes_the_sms_path_and_shows_the_reply(demo_client: FlaskClient) -> None:
    """Sign, post to /twilio/sms as the page does, and read the thread back."""
    assert "群众短信模拟器" in demo_client.get("/simulator").get_data(as_text=True)
    fields = {
        "AccountSid": "ACsimulator",
        "MessageSid": "SMsim1",
        "From": "+8613900123456",
        "To": "+8612345",
        "Body": "你好",
        "NumMedia": "0",
    }
    signature = demo_client.post("/simulator/sign", json=fields).get_json()["signature"]
    response = demo_client.post(
        "/twilio/sms",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200 and "<Message>" in response.get_data(as_text=True)
    thread = demo_client.get("/simulator/messages?phone=%2B8613900123456").get_json()["messages"]
    assert [m["direction"] for m in thread][:2] == ["inbound", "outbound"]
    assert thread[0]["body"] == "你好"


def test_simulator_rejects_bad_requests(demo_client: FlaskClient) -> None:
    """Garbage to the signing endpoint or a bad number is a 400, not a 500."""
    assert demo_client.post("/simulator/sign", data="not json").status_code == 400
    assert demo_client.post("/simulator/sign", json={"Body": 5}).status_code == 400
    assert demo_client.get("/simulator/messages?phone=abc").status_code == 400
