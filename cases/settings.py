"""All configuration, read once from `ZHITONG_*` environment variables.

Every variable is documented in `docs/configuration.md`. A bad value stops the process at start
with the variable's name, so a county's operator learns of a typo before a resident does.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cases.exceptions import ConfigurationError

ENV_PREFIX = "ZHITONG_"


class Settings(BaseSettings):
    """Zhitong's settings. Defaults are the embedded mode: SQLite, in-process queue, local SMS."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    instance_path: Path = Field(default=Path("instance"))
    database_url: str = ""
    redis_url: str = ""
    # `zhitong worker`: fork a fresh process per job (isolation) or run jobs in the worker
    # process (throughput); `zhitong worker --fork/--no-fork` overrides it.
    worker_fork: bool = False
    public_url: str = ""
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host/-Port/-Prefix
    # (0: trust none). With 1, an nginx in front makes request URLs (signatures) and client
    # addresses (rate limits) the ones the outside world used.
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    secret_key: str = ""
    demo: bool = False
    timezone: str = "Asia/Shanghai"
    case_number_prefix: str = Field(default="", pattern=r"^[A-Z]{0,4}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Office hours of the county's units: a 即办件 is due by `workday_end` of its working day.
    workday_start: str = Field(default="08:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    workday_end: str = Field(default="17:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # Quiet hours (免打扰): non-urgent notifications to residents wait until the end (local time).
    quiet_hours_start: str = Field(default="22:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_hours_end: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    holidays_file: Path | None = None
    nlu_model_path: Path | None = None
    # How SMS/WhatsApp webhooks answer: "inline" runs the bot in the request and replies in the
    # TwiML; "queued" commits the message, hands it to a worker and answers at once (replies go
    # out through Twilio's REST API) — for counties that expect surges (typhoons, outages).
    sms_reply_mode: Literal["inline", "queued"] = "inline"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    # Where the Twilio SDK sends REST requests: Twilio's own API unless a county routes them
    # through an egress gateway (or a test points them at a loopback fake).
    twilio_api_base: str = ""
    wechat_token: str = ""
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_aes_key: str = ""
    # Where the WeChat client calls the official-account API (token, customer-service messages):
    # WeChat's own unless a county routes it through an egress gateway (or a test, a fake).
    wechat_api_base: str = ""
    # Seconds the WeChat webhook waits for the bot before acknowledging and sending the reply
    # later through the customer-service API; WeChat gives up (and retries) after 5 seconds.
    wechat_reply_budget: float = Field(default=4.0, ge=0, le=4.5)
    # A template message for followers outside WeChat's 48-hour window (worker/wechat_template.py):
    # the template's id in the account's admin, and its fields mapped to what Zhitong fills
    # ("character_string1=case_number,thing2=item,phrase3=status,time4=time").
    wechat_template_id: str = ""
    wechat_template_fields: str = ""
    rasa_url: str = ""
    # Web chat limits (flask-limiter notation): messages per conversation and per address, and
    # news polls per conversation and per address. Offices behind one NAT address may need a
    # higher per-address budget.
    chat_rate_limit_token: str = "20 per minute"
    chat_rate_limit_ip: str = "60 per minute"
    chat_poll_rate_limit_token: str = "30 per minute"
    chat_poll_rate_limit_ip: str = "600 per minute"
    # /metrics: allowed from these networks (comma-separated CIDR), or with this bearer token.
    metrics_networks: str = "127.0.0.0/8,::1/128"
    metrics_token: str = ""
    voice_language: str = "zh-CN"
    # The hotline (webhooks/voice.py): the Twilio <Say> voice of its prompts, the queue agents
    # answer calls from (<Enqueue>), and the catalog item of a voicemail case whose transcript
    # names none (agents review every voicemail case and reclassify it).
    voice_tts_voice: str = Field(default="Polly.Zhiyu", pattern=r"^[A-Za-z0-9._-]{0,64}$")
    voice_agent_queue: str = Field(default="zhitong-agents", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    voicemail_item: str = Field(default="infra_road", pattern=r"^[a-z][a-z0-9_]{0,63}$")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator(
        "chat_rate_limit_token",
        "chat_rate_limit_ip",
        "chat_poll_rate_limit_token",
        "chat_poll_rate_limit_ip",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate such as '20 per minute'") from exc
        return value

    @field_validator("wechat_template_fields")
    @classmethod
    def _template_fields(cls, value: str) -> str:
        if value.strip():
            parse_template_fields(value)  # a ValueError: a clear settings error
        return value

    @property
    def wechat_template(self) -> tuple[tuple[str, str], ...]:
        """The template's (field, value name) pairs; empty when no template is configured."""
        fields = self.wechat_template_fields
        return parse_template_fields(fields) if self.wechat_template_id and fields else ()

    @model_validator(mode="after")
    def _template_complete(self) -> Settings:
        if bool(self.wechat_template_id) != bool(self.wechat_template_fields.strip()):
            raise ValueError(
                "ZHITONG_WECHAT_TEMPLATE_ID and ZHITONG_WECHAT_TEMPLATE_FIELDS go together: "
                "set both (the template and what fills its fields) or neither"
            )
        return self

    @field_validator("public_url", "rasa_url", "twilio_api_base", "wechat_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("metrics_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (piece.strip() for piece in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network (CIDR such as 10.0.0.0/8): {part!r}") from exc
        return value

    @field_validator("wechat_aes_key")
    @classmethod
    def _encoding_aes_key(cls, value: str) -> str:
        # The EncodingAESKey the 公众号 console generates: 43 base64 characters (32 bytes).
        if value and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
            raise ValueError("must be the 43-character EncodingAESKey from the WeChat console")
        return value

    @model_validator(mode="after")
    def _hours_in_order(self) -> Settings:
        if self.workday_start >= self.workday_end:
            raise ValueError("ZHITONG_WORKDAY_START must be before ZHITONG_WORKDAY_END")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The county's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the instance folder."""
        return (
            self.database_url or f"sqlite:///{(self.instance_path / 'zhitong.sqlite3').resolve()}"
        )

    @property
    def effective_nlu_model_path(self) -> Path:
        """Where the trained intent model is read from and written to."""
        return self.nlu_model_path or self.instance_path / "nlu" / "model.joblib"

    @property
    def uses_twilio(self) -> bool:
        """True when a Twilio account is configured for outbound messages."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def uses_wechat(self) -> bool:
        """True when an official account's app id and secret are configured for outbound."""
        return bool(self.wechat_app_id and self.wechat_app_secret)

    @property
    def uses_redis(self) -> bool:
        """True in production mode (RQ on Redis), False in embedded mode (in-process queue)."""
        return bool(self.redis_url)


def load_settings(**overrides: object) -> Settings:
    """Read settings from `ZHITONG_*` environment variables, with explicit overrides on top.

    Raises:
        ConfigurationError: a value is invalid; the message names the `ZHITONG_*` variable.
    """
    try:
        given: dict[str, Any] = {
            key: value for key, value in overrides.items() if value is not None
        }
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def ensure_secret_key(settings: Settings) -> str:
    """The secret key: configured, or generated once and kept in the instance folder.

    Production deployments set ZHITONG_SECRET_KEY; the embedded mode keeps a random key in
    `instance/secret_key` so sessions survive restarts without anyone choosing a password.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.instance_path / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    return key


@cache
def get_settings() -> Settings:
    """The process's settings from its environment, read once."""
    return load_settings()


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        name = f"{ENV_PREFIX}{field.upper()}" if error["loc"] else "settings"
        lines.append(f"{name}: {error['msg']}")
    return "invalid configuration: " + "; ".join(lines)


# What a WeChat template field can be filled with (worker/wechat_template.py).
TEMPLATE_VALUES = ("case_number", "item", "status", "time", "unit", "notice")
_TEMPLATE_FIELD = re.compile(r"[a-z_]+[0-9]*")


def parse_template_fields(spec: str) -> tuple[tuple[str, str], ...]:
    """``"character_string1=case_number, thing2=item"`` → ((field, value name), …).

    Raises:
        ValueError: a pair without ``=``, a field name a template would not have, a value
            Zhitong cannot fill (see `TEMPLATE_VALUES`), a field named twice, or no pair at all.
    """
    pairs: list[tuple[str, str]] = []
    for raw in spec.split(","):
        pair = raw.strip()
        if not pair:
            continue
        name, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not _TEMPLATE_FIELD.fullmatch(name):
            raise ValueError(f"{pair!r}: expected field=value, e.g. thing2=item")
        if value not in TEMPLATE_VALUES:
            raise ValueError(f"{pair!r}: the value must be one of {', '.join(TEMPLATE_VALUES)}")
        if any(name == seen for seen, _ in pairs):
            raise ValueError(f"{pair!r}: the field {name} is named twice")
        pairs.append((name, value))
    if not pairs:
        raise ValueError("no field=value pairs")
    return tuple(pairs)
