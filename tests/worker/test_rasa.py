"""Tests for worker.rasa: the Rasa HTTP client against a loopback server speaking Rasa's API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from worker.exceptions import RasaError, WorkerError
from worker.rasa import RasaHttpInterpreter, read_parse_result

# What Rasa 3 answers on POST /model/parse (its documented response, extra keys included).
RASA_ANSWER = {
    "text": "我想申请低保",
    "intent": {"id": -1234, "name": "social_minimum_living", "confidence": 0.91},
    "entities": [
        {"entity": "person", "start": 0, "end": 1, "value": "我", "extractor": "DIETClassifier"}
    ],
    "text_tokens": [[0, 1], [1, 2]],
    "intent_ranking": [
        {"id": 1, "name": "social_pension", "confidence": 0.05},
        {"id": -1234, "name": "social_minimum_living", "confidence": 0.91},
    ]
    + [{"id": i, "name": f"other_{i}", "confidence": 0.001} for i in range(12)],
    "response_selector": {"all_retrieval_intents": []},
}


class RasaHandler(BaseHTTPRequestHandler):
    """Answers like Rasa, or misbehaves as the test asks through `mode`."""

    mode: ClassVar[str] = "ok"
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        """Record the request, then answer according to `mode`."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        RasaHandler.received.append(
            {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": body}
        )
        if self.mode == "slow":
            time.sleep(0.5)
        if self.mode == "broken_http":
            self.wfile.write(b"this is not HTTP\r\n\r\n")
            return
        status, payload = {
            "ok": (200, json.dumps(RASA_ANSWER).encode()),
            "slow": (200, json.dumps(RASA_ANSWER).encode()),
            "error": (500, b'{"version": "3.6.0", "status": "failure", "reason": "ParsingError"}'),
            "not_found": (404, b"Not Found"),
            "garbage": (200, b"<html>proxy error</html>"),
            "no_intent": (200, b'{"text": "x", "entities": []}'),
            "bad_confidence": (200, b'{"intent": {"name": "a", "confidence": "high"}}'),
        }[self.mode]
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def rasa_url() -> Iterator[str]:
    """A Rasa-speaking server on 127.0.0.1 on a free port, for one test."""
    RasaHandler.mode = "ok"
    RasaHandler.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RasaHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_parse_posts_rasa_request_and_returns_parse_shape(rasa_url: str) -> None:
    """The client POSTs {"text"} as JSON to /model/parse and returns the embedded shape."""
    result = RasaHttpInterpreter(rasa_url, timeout=2).parse("我想申请低保")
    request = RasaHandler.received[0]
    assert request["path"] == "/model/parse"
    assert request["content_type"] == "application/json"
    assert json.loads(request["body"]) == {"text": "我想申请低保"}
    assert set(result) == {"text", "intent", "intent_ranking", "entities"}
    assert result["intent"] == {"name": "social_minimum_living", "confidence": 0.91}
    assert result["intent_ranking"][0] == result["intent"]
    assert len(result["intent_ranking"]) == 10
    assert result["entities"][0]["entity"] == "person"


def test_base_path_and_token_query_are_kept(rasa_url: str) -> None:
    """A base URL with a path and ?token=… keeps both on the parse request."""
    RasaHttpInterpreter(f"{rasa_url}/rasa/?token=secret", timeout=2).parse("你好")
    assert RasaHandler.received[0]["path"] == "/rasa/model/parse?token=secret"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "HTTP 500"),
        ("not_found", "HTTP 404"),
        ("garbage", "not JSON"),
        ("no_intent", "no intent object"),
        ("bad_confidence", "confidence is not a number"),
        ("broken_http", "broken HTTP answer"),
    ],
)
def test_bad_answers_raise_rasa_error(rasa_url: str, mode: str, message: str) -> None:
    """Error statuses and answers that are not Rasa's shape are a RasaError naming the problem."""
    RasaHandler.mode = mode
    with pytest.raises(RasaError, match=message):
        RasaHttpInterpreter(rasa_url, timeout=2).parse("你好")


def test_timeout_raises_rasa_error(rasa_url: str) -> None:
    """A server slower than the timeout is a RasaError, a WorkerError."""
    RasaHandler.mode = "slow"
    with pytest.raises(RasaError, match=r"did not answer within 0\.1 s") as caught:
        RasaHttpInterpreter(rasa_url, timeout=0.1).parse("你好")
    assert isinstance(caught.value, WorkerError)


def test_unreachable_server_raises_rasa_error() -> None:
    """A refused connection is a RasaError that does not leak the token."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    probe.close()  # the port was free a moment ago and nothing listens on it now
    with pytest.raises(RasaError, match="cannot reach Rasa") as caught:
        RasaHttpInterpreter(f"{closed}?token=secret", timeout=1).parse("你好")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("url", ["", "rasa:5005", "ftp://rasa", "http://"])
def test_bad_url_is_a_configuration_error(url: str) -> None:
    """A URL that is not http(s) fails at construction with the variable's name."""
    with pytest.raises(ValueError, match="ZHITONG_RASA_URL"):
        RasaHttpInterpreter(url)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"intent": {"name": "a", "confidence": 1}}, [{"name": "a", "confidence": 1.0}]),
        ({"intent": {"name": None, "confidence": 0.0}, "intent_ranking": []}, []),
    ],
)
def test_missing_parts_get_defaults(answer: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    """No ranking means the top intent alone; no entities an empty list; text falls back."""
    result = read_parse_result(json.dumps(answer).encode(), "原文")
    assert result["intent_ranking"] == expected
    assert result["entities"] == []
    assert result["text"] == "原文"


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'{"intent": {"name": 3, "confidence": 0.5}}',
        b'{"intent": {"name": "a", "confidence": 1.5}}',
        b'{"intent": {"name": "a", "confidence": true}}',
        b'{"intent": {"name": "a", "confidence": 0.5}, "intent_ranking": {}}',
        b'{"intent": {"name": "a", "confidence": 0.5}, "entities": ["x"]}',
    ],
)
def test_malformed_answers_are_refused(body: bytes) -> None:
    """Each way an answer can break Rasa's shape is a RasaError."""
    with pytest.raises(RasaError):
        read_parse_result(body, "x")
