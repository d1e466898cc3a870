"""An external Rasa server as the intent classifier, used when ``ZHITONG_RASA_URL`` is set.

A county that already runs Rasa can keep it: `RasaHttpInterpreter.parse` calls Rasa's HTTP API
(``POST {base}/model/parse`` with ``{"text": …}``) and returns the same parse shape as the
embedded classifier (`bot.nlu.IntentModel.parse`), so nothing downstream can tell them apart.
Every failure — timeout, refused connection, HTTP error, an answer that is not Rasa's parse
shape — is a `RasaError` naming what went wrong; the caller decides whether to fall back.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from worker.exceptions import RasaError

DEFAULT_TIMEOUT = 3.0
RANKING_SIZE = 10
PARSE_PATH = "/model/parse"


class RasaHttpInterpreter:
    """Client for a Rasa server's ``/model/parse`` endpoint.

    Args:
        base_url: the server's address, e.g. ``http://rasa:5005``; a query string (Rasa's
            ``?token=…`` authentication) is kept on every request.
        timeout: seconds to wait for connection and answer.

    Raises:
        ValueError: `base_url` is not an http(s) URL (a configuration error, caught at start).
    """

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"ZHITONG_RASA_URL must be an http(s) URL, got {base_url!r}")
        self.url = urlunsplit(
            (parts.scheme, parts.netloc, parts.path.rstrip("/") + PARSE_PATH, parts.query, "")
        )
        self.timeout = timeout

    def parse(self, text: str) -> dict[str, Any]:
        """Ask Rasa for the intent of `text`.

        Returns:
            ``{"text", "intent": {"name", "confidence"}, "intent_ranking": [...top 10],
            "entities": [...]}``, as the embedded classifier answers.

        Raises:
            RasaError: no answer in time, connection failed, HTTP error status, or an answer
                that is not JSON of Rasa's parse shape.
        """
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"text": text}, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise RasaError(f"Rasa answered HTTP {exc.code} at {self._where()}") from exc
        except TimeoutError as exc:
            raise RasaError(f"Rasa did not answer within {self.timeout:g} s") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise RasaError(f"Rasa did not answer within {self.timeout:g} s") from exc
            raise RasaError(f"cannot reach Rasa at {self._where()}: {reason}") from exc
        except http.client.HTTPException as exc:  # not HTTP at all, or cut off mid-answer
            raise RasaError(f"Rasa gave a broken HTTP answer ({type(exc).__name__})") from exc
        return read_parse_result(body, text)

    def _where(self) -> str:
        """The endpoint without its query string (which may hold a token)."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def read_parse_result(body: bytes, text: str) -> dict[str, Any]:
    """Check a ``/model/parse`` answer and reduce it to the parse shape Zhitong uses.

    Rasa adds keys of its own (``text_tokens``, ``response_selector``, an intent ``id``); they are
    dropped. A missing ranking becomes the top intent alone; a missing entity list, empty.

    Raises:
        RasaError: the body is not JSON, or the intent part is missing or malformed.
    """
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise RasaError("Rasa answered with something that is not JSON") from exc
    if not isinstance(answer, dict):
        raise RasaError("Rasa's answer is not a JSON object")
    intent = _intent(answer.get("intent"))
    ranking_raw = answer.get("intent_ranking")
    if ranking_raw is None:
        ranking = [intent] if intent["name"] is not None else []
    elif isinstance(ranking_raw, list):
        ranking = [_intent(item) for item in ranking_raw]
    else:
        raise RasaError("Rasa's intent_ranking is not a list")
    entities = answer.get("entities") or []
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise RasaError("Rasa's entities are not a list of objects")
    ranking.sort(key=lambda item: -item["confidence"])
    return {
        "text": answer["text"] if isinstance(answer.get("text"), str) else text,
        "intent": intent,
        "intent_ranking": ranking[:RANKING_SIZE],
        "entities": entities,
    }


def _intent(raw: Any) -> dict[str, Any]:
    """``{"name", "confidence"}`` from one of Rasa's intent objects, checked."""
    if not isinstance(raw, dict):
        raise RasaError("Rasa's answer has no intent object")
    name, confidence = raw.get("name"), raw.get("confidence", 0.0)
    if name is not None and not isinstance(name, str):
        raise RasaError("Rasa's intent name is not a string")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise RasaError("Rasa's intent confidence is not a number")
    if not 0.0 <= confidence <= 1.0:
        raise RasaError(f"Rasa's intent confidence {confidence} is outside 0…1")
    return {"name": name, "confidence": float(confidence)}
