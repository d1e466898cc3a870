"""The landing page: what runs here and where to go next."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from webhooks.extensions import services

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    """A plain page linking the parts of Zhitong that this deployment serves."""
    return render_template("home.html", demo=services().settings.demo)


# The 直 of 直通 on the county's blue: browsers ask every site for an icon, and a 404 there is
# an error in every page's console.
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#1f4e79"/>'
    '<text x="16" y="23" font-size="20" text-anchor="middle" fill="#fff">直</text></svg>'
)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The site icon (SVG; browsers accept it under this name), cached for a day."""
    response = Response(_ICON, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
