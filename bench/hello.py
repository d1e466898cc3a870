"""The hello-world baseline of `bench/channels.py`: a Flask route and nothing else."""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> str:
    """Ready."""
    return "ok"


@app.post("/twilio/sms")
def hello() -> Response:
    """Hello world, shaped like the webhook's answer."""
    return Response("<Response><Message>hello</Message></Response>", mimetype="application/xml")
