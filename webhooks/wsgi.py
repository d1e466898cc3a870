"""WSGI entry point for production servers: `gunicorn 'webhooks.wsgi:app'`.

Settings come from ZHITONG_* variables. The schema must already be current (`zhitong db
upgrade`); jobs run in separate `zhitong worker` processes on ZHITONG_REDIS_URL.
"""

from __future__ import annotations

from cases.logs import configure_logging
from cases.settings import get_settings
from webhooks.app import create_app

configure_logging(get_settings())
app = create_app(get_settings())
