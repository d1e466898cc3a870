"""The public progress page (公示): figures, places, recent concerns, nothing personal, cached."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from cases.clock import Clock
from tests.fixtures.api import api_app, client, open_demo_case, resolve
from webhooks.public import PageCache, page_cache

__all__ = ["api_app", "client"]


def seed(session: Session, clock: Clock) -> None:
    """A resolved streetlight in 东门, garbage in 渔港, a 低保 application, a family dispute."""
    now = dt.datetime.now(dt.UTC)
    light = open_demo_case(
        session,
        clock,
        when=now - dt.timedelta(hours=3),
        description="张三家门口路灯坏了，电话13800138000，住东门路8号",
    )
    resolve(session, light, clock, now - dt.timedelta(hours=1))
    open_demo_case(
        session,
        clock,
        item="env_garbage",
        place="dongao.yugang",
        when=now - dt.timedelta(hours=2),
        description="渔港垃圾没人清",
    )
    open_demo_case(
        session,
        clock,
        item="social_minimum_living",
        when=now - dt.timedelta(hours=2),
        description="李四申请低保",
    )
    open_demo_case(
        session,
        clock,
        item="dispute_family",
        when=now - dt.timedelta(hours=2),
        description="王五家庭纠纷",
    )
    session.commit()


def test_county_page_lists_towns_figures_and_concerns(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """The county page is Chinese, links the towns, shows figures and the recent concerns."""
    seed(demo_session, clock)
    response = client.get("/public/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="zh-CN"' in html
    assert "清溪县民情办理公示" in html and "/public/chengguan/" in html
    assert "路灯" in html and "已办结" in html and "东澳镇渔港社区" in html
    assert "受理量" in html and "办结率" in html and "满意率" in html


def test_no_personal_data_or_free_text_is_shown(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """No names, numbers, addresses or descriptions; services are counted, not listed."""
    seed(demo_session, clock)
    for url in ("/public/", "/public/chengguan/", "/public/chengguan/chengguan.dongmen/"):
        html = client.get(url).get_data(as_text=True)
        for secret in (
            "张三",
            "13800138000",
            "138****8000",
            "东门路8号",
            "李四",
            "低保",
            "家庭纠纷",
            "王五",
            "渔港垃圾没人清",
        ):
            assert secret not in html, (url, secret)


def test_town_and_village_pages(client: FlaskClient, demo_session: Session, clock: Clock) -> None:
    """A town page lists its villages and only its own concerns; a village page its own."""
    seed(demo_session, clock)
    town = client.get("/public/chengguan/").get_data(as_text=True)
    assert "城关镇民情办理公示" in town and "/public/chengguan/chengguan.dongmen/" in town
    assert "渔港" not in town.split("最新公共事务诉求")[1]
    village = client.get("/public/chengguan/chengguan.dongmen/").get_data(as_text=True)
    assert "东门社区民情办理公示" in village and "路灯" in village


def test_unknown_places_are_404_in_chinese(client: FlaskClient) -> None:
    """An unknown town, or a village under the wrong town, is a plain Chinese 404."""
    for url in (
        "/public/nowhere/",
        "/public/dongao/chengguan.dongmen/",
        "/public/chengguan.dongmen/",
    ):
        response = client.get(url)
        assert response.status_code == 404 and "没有找到" in response.get_data(as_text=True)


def test_pages_are_cached_with_headers(
    api_app: Flask, client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Cache-Control and ETag are set; a second request within the TTL is served from memory."""
    first = client.get("/public/")
    assert "max-age=" in first.headers["Cache-Control"] and first.headers["ETag"]
    seed(demo_session, clock)
    assert client.get("/public/").data == first.data  # still the cached page
    again = client.get("/public/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    with api_app.app_context():
        page_cache().clear()
    assert "路灯" in client.get("/public/").get_data(as_text=True)


def test_page_cache_expires() -> None:
    """A cached page is rendered again after its time to live."""
    moments = iter([0.0, 10.0, 200.0])
    cache = PageCache(120, clock=lambda: next(moments))
    renders = iter(["one", "two"])
    assert [cache.get_or_render("k", lambda: next(renders)) for _ in range(3)] == [
        "one",
        "one",
        "two",
    ]


def test_no_external_assets(client: FlaskClient) -> None:
    """The page loads nothing from elsewhere: no external scripts, styles, fonts or images."""
    html = client.get("/public/").get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "<script" not in html
