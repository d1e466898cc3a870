"""`GET /healthz`: is the database reachable and the queue alive?"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from cases.db import check_database
from cases.migrate import current_revision, heads
from webhooks.extensions import services
from worker.queue import check_queue

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 with details when everything is up, 503 naming what is not."""
    svc = services()
    database: dict[str, object] = {"ok": True}
    try:
        check_database(svc.engine)
        revision = current_revision(svc.engine)
        database |= {"revision": revision, "up_to_date": revision in heads()}
        database["ok"] = bool(database["up_to_date"])
    except SQLAlchemyError as exc:
        database = {"ok": False, "error": type(exc).__name__}
    queue = check_queue(svc.redis, embedded=not svc.settings.uses_redis).as_dict()
    ok = bool(database["ok"]) and bool(queue["ok"])
    body = {"status": "ok" if ok else "unavailable", "database": database, "queue": queue}
    return jsonify(body), 200 if ok else 503
