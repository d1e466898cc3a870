"""The landing page: what runs here and where to go next."""

from __future__ import annotations

from flask import Blueprint, render_template

from webhooks.extensions import services

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    """A plain page linking the parts of Zhitong that this deployment serves."""
    return render_template("home.html", demo=services().settings.demo)
