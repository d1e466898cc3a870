"""Settings: embedded defaults, strict conversion of ZHITONG_* variables, the secret key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cases.exceptions import ConfigurationError
from cases.settings import Settings, ensure_secret_key, get_settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ZHITONG_* variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("ZHITONG_"):
            monkeypatch.delenv(name)


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """A private instance folder (not yet created)."""
    return tmp_path / "instance"


@pytest.fixture
def embedded(instance: Path) -> Settings:
    """Settings with nothing configured but the instance folder."""
    return load_settings(instance_path=instance)


def test_default_database_is_sqlite_file_in_instance_folder(
    embedded: Settings, instance: Path
) -> None:
    """With no ZHITONG_DATABASE_URL the database is a SQLite file inside the instance folder."""
    expected = f"sqlite:///{(instance / 'zhitong.sqlite3').resolve()}"
    assert embedded.database_url == ""
    assert embedded.effective_database_url == expected


def test_default_instance_folder_is_absolute_in_database_url() -> None:
    """The default relative `instance` folder is resolved, so the URL does not depend on cwd."""
    url = load_settings().effective_database_url
    assert url.startswith("sqlite:////")
    assert url.endswith("/instance/zhitong.sqlite3")


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("redis_url", ""),
        ("uses_redis", False),
        ("demo", False),
        ("timezone", "Asia/Shanghai"),
        ("case_number_prefix", ""),
        ("log_level", "INFO"),
        ("log_format", "json"),
        ("workday_start", "08:30"),
        ("workday_end", "17:30"),
        ("holidays_file", None),
        ("voice_language", "zh-CN"),
        ("secret_key", ""),
    ],
)
def test_embedded_defaults(embedded: Settings, attribute: str, expected: object) -> None:
    """Every setting has the embedded-mode default of docs/configuration.md."""
    assert getattr(embedded, attribute) == expected


def test_default_nlu_model_lives_in_instance_folder(embedded: Settings, instance: Path) -> None:
    """The trained model defaults to instance/nlu/model.joblib."""
    assert embedded.effective_nlu_model_path == instance / "nlu" / "model.joblib"


def test_zone_is_the_configured_time_zone(embedded: Settings) -> None:
    """The zone property gives a ZoneInfo for the configured name."""
    assert embedded.zone.key == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    [
        (
            "ZHITONG_DATABASE_URL",
            "postgresql+psycopg://db/zhitong",
            "database_url",
            "postgresql+psycopg://db/zhitong",
        ),
        ("ZHITONG_REDIS_URL", "redis://cache:6379/0", "uses_redis", True),
        (
            "ZHITONG_PUBLIC_URL",
            "https://zhitong.example.gov.cn/",
            "public_url",
            "https://zhitong.example.gov.cn",
        ),
        ("ZHITONG_RASA_URL", "http://rasa:5005/", "rasa_url", "http://rasa:5005"),
        ("ZHITONG_DEMO", "true", "demo", True),
        ("ZHITONG_DEMO", "0", "demo", False),
        ("ZHITONG_TIMEZONE", "Asia/Urumqi", "timezone", "Asia/Urumqi"),
        ("ZHITONG_CASE_NUMBER_PREFIX", "ZT", "case_number_prefix", "ZT"),
        ("ZHITONG_LOG_LEVEL", "DEBUG", "log_level", "DEBUG"),
        ("ZHITONG_WORKDAY_START", "09:00", "workday_start", "09:00"),
        ("ZHITONG_SECRET_KEY", "s3cret", "secret_key", "s3cret"),
    ],
)
def test_good_values_are_read_from_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, attribute: str, expected: object
) -> None:
    """A well-formed ZHITONG_* variable is read and converted."""
    monkeypatch.setenv(variable, value)
    assert getattr(load_settings(), attribute) == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ZHITONG_DATABASE_URL", "mysql://db/zhitong"),
        ("ZHITONG_REDIS_URL", "http://cache:6379"),
        ("ZHITONG_PUBLIC_URL", "zhitong.example.gov.cn"),
        ("ZHITONG_RASA_URL", "ftp://rasa"),
        ("ZHITONG_DEMO", "maybe"),
        ("ZHITONG_TIMEZONE", "Mars/Olympus_Mons"),
        ("ZHITONG_CASE_NUMBER_PREFIX", "zt"),
        ("ZHITONG_CASE_NUMBER_PREFIX", "ZHITONG"),
        ("ZHITONG_LOG_LEVEL", "LOUD"),
        ("ZHITONG_LOG_FORMAT", "xml"),
        ("ZHITONG_WORKDAY_START", "8:30"),
        ("ZHITONG_WORKDAY_END", "24:00"),
    ],
)
def test_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A malformed ZHITONG_* variable fails loudly with the variable's name."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings()


def test_office_hours_out_of_order_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A working day that ends before it starts names both variables."""
    monkeypatch.setenv("ZHITONG_WORKDAY_START", "18:00")
    with pytest.raises(ConfigurationError, match=r"ZHITONG_WORKDAY_START.*ZHITONG_WORKDAY_END"):
        load_settings()


def test_explicit_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyword overrides take precedence; None overrides are ignored."""
    monkeypatch.setenv("ZHITONG_LOG_FORMAT", "text")
    monkeypatch.setenv("ZHITONG_DEMO", "true")
    settings = load_settings(log_format="json", demo=None)
    assert (settings.log_format, settings.demo) == ("json", True)


def test_settings_are_frozen(embedded: Settings) -> None:
    """Settings cannot be changed after start."""
    with pytest.raises(ValueError, match="frozen"):
        embedded.demo = True  # type: ignore[misc]


@pytest.fixture
def fresh_get_settings() -> Iterator[None]:
    """get_settings() with its per-process cache emptied before and after the test."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_get_settings")
def test_get_settings_reads_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's settings are read once; later changes to the environment are not seen."""
    monkeypatch.setenv("ZHITONG_CASE_NUMBER_PREFIX", "ZT")
    first = get_settings()
    monkeypatch.setenv("ZHITONG_CASE_NUMBER_PREFIX", "QX")
    assert get_settings() is first
    assert first.case_number_prefix == "ZT"


def test_generated_secret_key_is_kept_with_private_permissions(
    embedded: Settings, instance: Path
) -> None:
    """Without ZHITONG_SECRET_KEY a random key is written to instance/secret_key, mode 0600."""
    key = ensure_secret_key(embedded)
    path = instance / "secret_key"
    assert len(key) == 64 and int(key, 16) >= 0
    assert path.read_text(encoding="utf-8") == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_generated_secret_key_survives_restart(instance: Path) -> None:
    """A second process with the same instance folder gets the same key."""
    first = ensure_secret_key(load_settings(instance_path=instance))
    second = ensure_secret_key(load_settings(instance_path=instance))
    assert first == second


def test_generated_secret_keys_differ_between_instances(tmp_path: Path) -> None:
    """Two instance folders never share a generated key."""
    one = ensure_secret_key(load_settings(instance_path=tmp_path / "one"))
    two = ensure_secret_key(load_settings(instance_path=tmp_path / "two"))
    assert one != two


def test_configured_secret_key_is_used_and_nothing_written(instance: Path) -> None:
    """ZHITONG_SECRET_KEY wins and no key file is created."""
    settings = load_settings(instance_path=instance, secret_key="from-environment")
    assert ensure_secret_key(settings) == "from-environment"
    assert not (instance / "secret_key").exists()


def test_wechat_template_fields_are_parsed() -> None:
    """The template's fields map to what Zhitong fills, in order; spaces are forgiven."""
    settings = load_settings(
        wechat_template_id="tplX",
        wechat_template_fields=" character_string1=case_number ,thing2=item,time3=time,",
    )
    assert settings.wechat_template == (
        ("character_string1", "case_number"),
        ("thing2", "item"),
        ("time3", "time"),
    )
    assert load_settings().wechat_template == ()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"wechat_template_id": "tplX"}, "go together"),
        ({"wechat_template_fields": "thing2=item"}, "go together"),
        ({"wechat_template_id": "tplX", "wechat_template_fields": "thing2"}, "field=value"),
        ({"wechat_template_id": "tplX", "wechat_template_fields": "thing2=name"}, "one of"),
        ({"wechat_template_id": "tplX", "wechat_template_fields": "Thing 2=item"}, "field=value"),
        (
            {"wechat_template_id": "tplX", "wechat_template_fields": "thing2=item,thing2=status"},
            "named twice",
        ),
    ],
)
def test_a_half_or_wrong_template_setting_is_refused(values: dict[str, str], message: str) -> None:
    """A template without fields, fields without a template, or a field Zhitong cannot fill
    stops the start with a clear message."""
    with pytest.raises(ConfigurationError, match=message):
        load_settings(**values)


def test_chat_rate_limits_are_settings() -> None:
    """The web chat's limits come from ZHITONG_CHAT_*; a malformed one stops the start."""
    assert load_settings(chat_rate_limit_ip="200 per minute").chat_rate_limit_ip == "200 per minute"
    with pytest.raises(ConfigurationError, match="CHAT_RATE_LIMIT_IP"):
        load_settings(chat_rate_limit_ip="lots")
