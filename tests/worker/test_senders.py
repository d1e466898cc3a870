"""Senders: the real Twilio SDK against a loopback fake, and the local sender."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cases.models.messaging import Channel
from cases.settings import Settings, load_settings
from tests.fixtures.fake_twilio import FakeTwilio, running_fake_twilio
from worker.senders import LocalSender, Outbound, SendError, TwilioSender, make_sender


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A recording Twilio API on loopback."""
    with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
def twilio_settings(tmp_path, fake_twilio: FakeTwilio) -> Settings:  # type: ignore[no-untyped-def]
    """Settings with a Twilio account pointed at the fake."""
    return load_settings(
        instance_path=tmp_path,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="secret-token",
        twilio_from="+8610690000",
        twilio_api_base=fake_twilio.base_url,
    )


def test_twilio_sender_posts_the_message_with_the_sdk(
    twilio_settings: Settings, fake_twilio: FakeTwilio
) -> None:
    """The SDK posts To, From, Body and StatusCallback to the account's Messages resource."""
    result = TwilioSender(twilio_settings).send(
        Outbound(
            "+8613800138000", "您的诉求已受理", status_callback="https://x.gov.cn/twilio/sms/status"
        )
    )
    assert result.provider_id.startswith("SM") and result.status == "queued"
    (request,) = fake_twilio.sent()
    assert request["path"] == f"/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"
    assert request["form"] == {
        "To": "+8613800138000",
        "From": "+8610690000",
        "Body": "您的诉求已受理",
        "StatusCallback": "https://x.gov.cn/twilio/sms/status",
    }
    assert request["auth"].startswith("Basic ")


def test_whatsapp_addresses_get_the_prefix(
    twilio_settings: Settings, fake_twilio: FakeTwilio
) -> None:
    """WhatsApp messages go from and to whatsapp: addresses."""
    TwilioSender(twilio_settings).send(Outbound("+8613800138000", "hi", Channel.WHATSAPP))
    form = fake_twilio.sent()[0]["form"]
    assert form["To"] == "whatsapp:+8613800138000" and form["From"] == "whatsapp:+8610690000"


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (500, None, True),
        (503, None, True),
        (429, 20429, True),
        (400, 21610, False),
        (400, 21211, False),
    ],
)
def test_twilio_errors_are_transient_or_permanent(
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
    status: int,
    code: int | None,
    transient: bool,
) -> None:
    """5xx and 429 may succeed later; an unsubscribed or invalid number never will."""
    fake_twilio.fail_next(status, code)
    with pytest.raises(SendError) as caught:
        TwilioSender(twilio_settings).send(Outbound("+8613800138000", "x"))
    assert caught.value.transient is transient
    assert caught.value.code == str(code or status)


def test_unreachable_twilio_is_transient(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A refused connection is a network error worth retrying."""
    settings = load_settings(
        instance_path=tmp_path,
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="t",
        twilio_from="+8610690000",
        twilio_api_base="http://127.0.0.1:1",
    )
    with pytest.raises(SendError) as caught:
        TwilioSender(settings).send(Outbound("+8613800138000", "x"))
    assert caught.value.transient and caught.value.code == "network"


def test_local_sender_is_the_default_and_logs_masked(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """Without Twilio settings the local sender accepts messages and logs no full number."""
    sender = make_sender(load_settings(instance_path=tmp_path))
    assert isinstance(sender, LocalSender)
    with caplog.at_level("INFO"):
        result = sender.send(Outbound("+8613800138000", "内容"))
    assert result.provider_id.startswith("LOCAL")
    (record,) = [r for r in caplog.records if r.name == "worker.senders"]
    assert record.to == "138****8000"  # type: ignore[attr-defined]
    assert "内容" not in caplog.text and "13800138000" not in caplog.text
