"""The Flask application factory: wiring only — no migrations, network calls or waiting."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from cases.settings import Settings, ensure_secret_key, load_settings
from webhooks import (
    api,
    chat,
    console,
    exports,
    health,
    home,
    metrics,
    open311,
    public,
    simulator,
    sms,
    voice,
    wechat,
)
from webhooks.extensions import Services, build_services, init_app


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the web app for `settings` (default: from the environment).

    Args:
        settings: configuration; read from ZHITONG_* variables when omitted.
        services: prebuilt engine/queue/clock (tests share one); built from settings otherwise.
    """
    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.config.update(
        SECRET_KEY=ensure_secret_key(settings),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    init_app(app, services or build_services(settings))
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(sms.bp)
    app.register_blueprint(voice.bp)
    app.register_blueprint(wechat.bp)
    app.register_blueprint(simulator.bp)
    api.init_app(app)
    chat.init_app(app)
    open311.init_app(app)
    app.register_blueprint(exports.bp)
    public.init_app(app)
    console.init_app(app)
    return app
