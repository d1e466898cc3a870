"""Channel webhooks under a production server: throughput, duplicates, time to first reply.

Three figures from one PostgreSQL database holding the demo county, served by gunicorn with 2
sync workers on loopback, exactly as `docs/operations.md` runs it (settings from ZHITONG_*, the
real Redis, the trained intent model):

1. ``channels.sms_rps_inline`` / ``_queued``: signed Twilio SMS webhooks (every request a new
   MessageSid from a new resident, realistic texts) driven by `wrk`, in both reply modes
   (ZHITONG_SMS_REPLY_MODE), against ``channels.hello_rps``, a hello-world Flask route served
   the same way in the same run. Target: >= 300 requests/s with p99 < 100 ms and >= 25 % of
   hello world.
2. ``channels.duplicates``: 10,000 messages, 10 % of them delivered twice at the same moment
   (Twilio's retry racing the first delivery). Target: 0 lost, 0 duplicated cases or replies.
3. ``channels.first_reply_*``: time from a resident's message to the bot's reply on each text
   channel (the reply comes back in the webhook's own response). Target: < 1 s.

Needs `wrk` (Debian: `apt-get install wrk`). Sizes scale with ZHITONG_BENCH_SCALE.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from redis import Redis
from sqlalchemy import Engine, func, select
from twilio.request_validator import RequestValidator

from bench.fixtures import demo_database, scale
from cases.models import Case, Message
from cases.models.messaging import Direction, MessageStatus
from worker.understanding import cached_project_model

AUTH_TOKEN = "bench-twilio-token"
WECHAT_TOKEN = "benchwechattoken"
REDIS_URL = os.environ.get("ZHITONG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKERS = 2
THREADS = int(os.environ.get("ZHITONG_BENCH_THREADS", "4"))
CONNECTIONS = int(os.environ.get("ZHITONG_BENCH_CONNECTIONS", "4"))
DURATION_SECONDS = int(os.environ.get("ZHITONG_BENCH_DURATION", "20"))

# What residents of the demo county write, first messages of a conversation.
TEXTS = (
    "东澳镇渔港村码头那边的路灯坏了三盏，晚上很黑",
    "青山乡石门村的自来水停了两天了，什么时候能来水",
    "我家门口垃圾好几天没人收了，臭得很，在城关镇东街社区",
    "办低保需要带什么材料",
    "请问新生儿落户要去哪里办，要多久",
    "隔壁工地晚上十二点还在施工，吵得睡不着",
    "村里的路被大车压坏了，坑很多，下雨全是水",
    "我想查一下我反映的事情办得怎么样了",
    "老人高龄补贴怎么申请？我爸今年八十一了",
    "河里有人偷偷排污水，水都变黑了，在渔港村下游",
    "医保卡丢了怎么补办",
    "小区电梯坏了一个星期没人修",
    "有人在山上烧荒，烟很大，怕引起山火",
    "我要办残疾证，能不能让村里代办",
    "农村危房改造补助怎么申请",
    "城关镇菜市场门口占道经营，车都过不去",
    "你好",
    "狗天天在楼道里叫，物业不管",
    "我的养老保险怎么交",
    "退伍军人优待证在哪里办理",
)


def run() -> Iterator[dict[str, Any]]:
    """The three channel figures; raises when wrk is missing."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("this benchmark drives load with wrk: apt-get install wrk")
    model = _model_path()
    with demo_database("postgresql") as engine, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        Redis.from_url(REDIS_URL).flushdb()
        hello = _hello_world(wrk, work)
        yield {
            "name": "channels.hello_rps",
            "value": round(hello["rps"], 1),
            "unit": "requests/s",
            "p99_ms": hello["p99_ms"],
            "server": f"gunicorn -w {WORKERS} --threads {THREADS}",
        }
        for mode in ("inline", "queued"):
            port = _free_port()
            env = _environment(engine, model, port, work, mode)
            with _gunicorn("webhooks.wsgi:app", port, env, work / f"zhitong-{mode}.log"):
                base = f"http://127.0.0.1:{port}"
                _warm_up(base, 40)
                requests_file = _signed_requests(base, scale(30_000), work / f"sms-{mode}.tsv")
                yield _throughput(f"channels.sms_rps_{mode}", _wrk(wrk, base, requests_file), hello)
                if mode == "inline":
                    yield _duplicates(engine, base, scale(10_000))
                    yield from _first_replies(base, min(40, scale(40)))
        Redis.from_url(REDIS_URL).flushdb()


def _throughput(name: str, run: dict[str, float], hello: dict[str, float]) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(run["rps"], 1),
        "unit": "requests/s",
        "p50_ms": run["p50_ms"],
        "p99_ms": run["p99_ms"],
        "errors": run["errors"],
        "share_of_hello_world": round(run["rps"] / hello["rps"], 3),
        "connections": CONNECTIONS,
        "server": f"gunicorn -w {WORKERS} --threads {THREADS}, PostgreSQL, Redis",
        "target": ">= 300/s, p99 < 100 ms, >= 25 % of hello world",
        "note": "queued: the webhook commits and hands on; workers (not running here) reply"
        if name.endswith("queued")
        else "inline: the bot runs in the request and the replies come back as TwiML",
    }


def _duplicates(engine: Engine, base: str, count: int) -> dict[str, Any]:
    """`count` messages from as many residents, 10 % sent twice at once; count what went wrong."""
    validator = RequestValidator(AUTH_TOKEN)
    url = f"{base}/twilio/sms"
    rng = random.Random(7)
    batch = uuid.uuid4().hex[:8]
    messages = [
        {
            "MessageSid": f"SM{batch}{index:024d}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"+86137{index + 10_000_000:08d}",
            "To": "+8610690012345",
            "Body": rng.choice(TEXTS),
            "NumMedia": "0",
        }
        for index in range(count)
    ]
    twice = set(rng.sample(range(count), count // 10))
    deliveries = [i for index in range(count) for i in [index] * (2 if index in twice else 1)]
    local = threading.local()

    def post(index: int) -> tuple[int, float, int, str]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        params = messages[index]
        started = time.perf_counter()
        response = session.post(
            url,
            data=params,
            headers={"X-Twilio-Signature": validator.compute_signature(url, params)},
            timeout=30,
        )
        elapsed = time.perf_counter() - started
        return index, elapsed, response.status_code, response.text

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        results = list(pool.map(post, deliveries))
    answered: dict[int, int] = {}
    duplicated_answers = errors = 0
    latencies = sorted(elapsed for _, elapsed, _, _ in results)
    for index, _, status, body in results:
        if status != 200:
            errors += 1
            continue
        replies = body.count("<Message>")
        if replies:
            if index in answered:
                duplicated_answers += 1
            answered[index] = replies
    sids = [m["MessageSid"] for m in messages]
    with engine.connect() as connection:
        stored = dict(
            connection.execute(
                select(Message.status, func.count())
                .where(Message.direction == Direction.INBOUND, Message.provider_id.in_(sids))
                .group_by(Message.status)
            ).all()
        )
        cases_per_contact = connection.execute(
            select(func.count()).select_from(
                select(Case.contact_id)
                .group_by(Case.contact_id)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
        replies_stored = connection.execute(
            select(func.count()).where(
                Message.direction == Direction.OUTBOUND,
                Message.contact_id.in_(
                    select(Message.contact_id).where(Message.provider_id.in_(sids))
                ),
            )
        ).scalar_one()
    processed = int(stored.get(MessageStatus.PROCESSED, 0))
    lost = count - processed
    return {
        "name": "channels.duplicates",
        "value": lost + duplicated_answers + cases_per_contact,
        "unit": "lost + duplicated",
        "messages": count,
        "delivered_twice": len(twice),
        "lost": lost,
        "stored_by_status": {str(status): n for status, n in stored.items()},
        "duplicated_replies": duplicated_answers,
        "unanswered": count - len(answered),
        "replies_stored_vs_answered": [replies_stored, sum(answered.values())],
        "residents_with_two_cases": cases_per_contact,
        "http_errors": errors,
        "first_reply_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "first_reply_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "target": "0 lost, 0 duplicated; first reply < 1 s",
    }


def _first_replies(base: str, count: int) -> Iterator[dict[str, Any]]:
    """Time to the bot's answer for first messages on web chat and WeChat (SMS: above)."""
    session = requests.Session()

    def web_chat(index: int) -> bool:
        response = session.post(
            f"{base}/api/chat",
            json={"text": TEXTS[index % len(TEXTS)], "client_id": f"bench-{uuid.uuid4().hex}"},
            # Residents behind the county's proxy, each from their own address (rate limits).
            headers={"X-Forwarded-For": f"10.9.{index // 250}.{index % 250 + 1}"},
            timeout=30,
        )
        return response.status_code == 200 and bool(response.json().get("replies"))

    def wechat(index: int) -> bool:
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, timestamp, nonce])).encode())
        openid = f"oBench{index:022d}"
        xml = (
            f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{TEXTS[index % len(TEXTS)]}]]></Content>"
            f"<MsgId>{int(timestamp) * 1000 + index}</MsgId></xml>"
        )
        response = session.post(
            f"{base}/wechat",
            params={"signature": signature.hexdigest(), "timestamp": timestamp, "nonce": nonce},
            data=xml.encode(),
            headers={"Content-Type": "text/xml"},
            timeout=30,
        )
        return response.status_code == 200 and "<Content>" in response.text

    for channel, send in (("web_chat", web_chat), ("wechat", wechat)):
        latencies, answered = [], 0
        for index in range(count):
            started = time.perf_counter()
            answered += send(index)
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        yield {
            "name": f"channels.first_reply_{channel}",
            "value": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
            "unit": "ms (p99)",
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "max_ms": round(latencies[-1] * 1000, 1),
            "messages": count,
            "answered_in_response": answered,
            "target": "< 1000 ms",
        }


def _hello_world(wrk: str, work: Path) -> dict[str, float]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with _gunicorn("bench.hello:app", port, env, work / "hello.log"):
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/healthz")
        return _wrk(wrk, base, _signed_requests(base, 2_000, work / "hello.tsv"))


def _signed_requests(base: str, count: int, path: Path) -> Path:
    """A file of signed webhook requests (signature TAB form body), one per line."""
    validator = RequestValidator(AUTH_TOKEN)
    url = f"{base}/twilio/sms"
    rng = random.Random(11)
    batch = uuid.uuid4().hex[:8]
    with path.open("w") as out:
        for index in range(count):
            params = {
                "MessageSid": f"SM{batch}{index:024d}",
                "AccountSid": "AC" + "0" * 32,
                "From": f"+86139{rng.randrange(10**8):08d}",
                "To": "+8610690012345",
                "Body": rng.choice(TEXTS),
                "NumMedia": "0",
            }
            signature = validator.compute_signature(url, params)
            out.write(f"{signature}\t{urllib.parse.urlencode(params)}\n")
    return path


_WRK_SCRIPT = """
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  requests = {}
  count = 0
  local threads = tonumber(args[2])
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % threads == id then
      local signature, body = line:match("([^\\t]*)\\t(.*)")
      count = count + 1
      requests[count] = wrk.format("POST", "/twilio/sms", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature}, body)
    end
    line_number = line_number + 1
  end
  index = 0
end
function request()
  index = index + 1
  if index > count then index = 1 end
  return requests[index]
end
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.timeout))
end
"""


def _wrk(wrk: str, base: str, requests_file: Path) -> dict[str, float]:
    script = requests_file.with_suffix(".lua")
    script.write_text(_WRK_SCRIPT)
    threads = 2
    output = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{CONNECTIONS}",
            f"-d{DURATION_SECONDS}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            base,
            "--",
            str(requests_file),
            str(threads),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    summary = json.loads(output.strip().splitlines()[-1])
    return {
        "rps": summary["requests"] / (summary["duration_us"] / 1e6),
        "p50_ms": round(summary["p50_us"] / 1000, 1),
        "p99_ms": round(summary["p99_us"] / 1000, 1),
        "errors": summary["errors"],
    }


def _environment(engine: Engine, model: Path, port: int, work: Path, mode: str) -> dict[str, str]:
    return {
        "ZHITONG_SMS_REPLY_MODE": mode,
        "ZHITONG_TRUSTED_PROXIES": "1",
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "ZHITONG_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "ZHITONG_REDIS_URL": REDIS_URL,
        "ZHITONG_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ZHITONG_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "ZHITONG_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "ZHITONG_WECHAT_TOKEN": WECHAT_TOKEN,
        "ZHITONG_WECHAT_APP_ID": "wxbench0000000000",
        "ZHITONG_WECHAT_APP_SECRET": "bench-secret",
        "ZHITONG_NLU_MODEL_PATH": str(model),
        "ZHITONG_INSTANCE_PATH": str(work),
        "ZHITONG_LOG_LEVEL": "WARNING",
    }


@contextmanager
def _gunicorn(app: str, port: int, env: dict[str, str], log: Path) -> Iterator[None]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        str(THREADS),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "256",
        app,
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(f"http://127.0.0.1:{port}/healthz", process)
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait(url: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within 60 s")


def _warm_up(base: str, count: int) -> None:
    """Load the model in every worker before measuring (a server is warm in production)."""
    validator = RequestValidator(AUTH_TOKEN)
    url = f"{base}/twilio/sms"
    for index in range(count):
        params = {
            "MessageSid": f"SMwarm{uuid.uuid4().hex}",
            "From": f"+86135{index:08d}",
            "Body": TEXTS[index % len(TEXTS)],
        }
        requests.post(
            url,
            data=params,
            headers={"X-Twilio-Signature": validator.compute_signature(url, params)},
            timeout=30,
        )


def _model_path() -> Path:
    """The project's model, trained once per training-data version and kept in /tmp."""
    return cached_project_model(Path(tempfile.gettempdir()))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
