"""The emulator over HTTP: the ASGI app through httpx.ASGITransport and a real uvicorn
server on loopback (drops on a raw socket, the official ``leadping`` SDK paging it end to
end), and the ``serve`` command in a subprocess stopped with SIGINT."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from emulator_helpers import reference

from leadping_nb.emulator import EMULATOR_API_KEY, Emulator, FaultConfig

AUTH = {"Authorization": f"Bearer {EMULATOR_API_KEY}"}


# ---- ASGI in-process ------------------------------------------------------------------


def test_asgi_app_through_httpx_asgi_transport() -> None:
    emu = Emulator(seed=4, n_leads=3, heavy_leads=0, latency_ms=30)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=emu.asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            t0 = time.perf_counter()
            ok = await client.post("/events/leads/lead_0001", json={"pageSize": 4}, headers=AUTH)
            elapsed = time.perf_counter() - t0
            assert elapsed >= 0.03  # the latency is awaited by the ASGI app
            unauth = await client.post("/events/leads/lead_0001", json={})
            bad = await client.post("/events/leads/lead_0001", json={"pageSize": 0}, headers=AUTH)
            lead = await client.get("/leads/lead_0002", headers=AUTH)
            nope = await client.get("/nope", headers=AUTH)
            return [ok, unauth, bad, lead, nope]

    ok, unauth, bad, lead, nope = asyncio.run(main())
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("application/json")
    assert ok.json()["items"] == emu.ground_truth("lead_0001")[:4]
    assert int(ok.headers["content-length"]) == len(ok.content)
    assert unauth.status_code == 401
    assert unauth.headers["www-authenticate"].startswith("Bearer")
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "pageSize" in bad.json()["errors"]
    assert lead.json()["id"] == "lead_0002"
    assert nope.status_code == 404


def test_asgi_rate_limit_and_truncation() -> None:
    emu = Emulator(seed=4, n_leads=2, heavy_leads=0, rate_limit=(2, 60.0))
    trunc = Emulator(seed=4, n_leads=2, heavy_leads=0, faults=FaultConfig(rate_truncate=1.0))

    async def main() -> tuple[list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emu.asgi_app), base_url="http://e"
        ) as c:
            rs = [await c.post("/leads/all/my", json={}, headers=AUTH) for _ in range(3)]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=trunc.asgi_app), base_url="http://e"
        ) as c:
            t = await c.post("/events/leads/lead_0001", json={"pageSize": 9}, headers=AUTH)
        return rs, t

    rs, t = asyncio.run(main())
    assert [r.status_code for r in rs] == [200, 200, 429]
    assert int(rs[2].headers["retry-after"]) >= 1
    assert t.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(t.content)


# ---- a real uvicorn server on loopback ----------------------------------------------------


class _Server:
    def __init__(self, emu: Emulator) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            emu.asgi_app, log_level="critical", lifespan="on", http="h11", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def dropping_server() -> Iterator[_Server]:
    emu = Emulator(seed=4, n_leads=2, heavy_leads=0, faults=FaultConfig(rate_drop=1.0))
    with _Server(emu) as s:
        yield s


def test_drop_closes_the_connection_without_a_byte(dropping_server: _Server) -> None:
    body = b"{}"
    request = (
        b"POST /events/leads/lead_0001 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {EMULATOR_API_KEY}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with socket.create_connection(("127.0.0.1", dropping_server.port), timeout=10) as s:
        s.sendall(request)
        received = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received == b""  # closed with nothing sent: not even a status line
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{dropping_server.base_url}/events/leads/lead_0001", json={}, headers=AUTH)


def test_truncated_body_over_real_http() -> None:
    emu = Emulator(seed=4, n_leads=2, heavy_leads=0, faults=FaultConfig(rate_truncate=1.0))
    with _Server(emu) as s:
        r = httpx.post(f"{s.base_url}/events/leads/lead_0001", json={"pageSize": 9}, headers=AUTH)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


# ---- the official SDK -----------------------------------------------------------------------


def _sdk_adapter(base_url: str, http: httpx.AsyncClient) -> Any:
    """The official Kiota request adapter (microsoft-kiota-http) with Kiota's API-key auth
    provider sending the bearer key: no code of ours between the SDK and the emulator."""
    from kiota_abstractions.authentication.api_key_authentication_provider import (
        ApiKeyAuthenticationProvider,
        KeyLocation,
    )
    from kiota_http.httpx_request_adapter import HttpxRequestAdapter

    auth = ApiKeyAuthenticationProvider(
        KeyLocation.Header, f"Bearer {EMULATOR_API_KEY}", "Authorization", ["127.0.0.1"]
    )
    adapter = HttpxRequestAdapter(auth, http_client=http)
    adapter.base_url = base_url
    return adapter


# the generated SDK and Kiota warn about their own deprecated classes at import time
@pytest.mark.filterwarnings("ignore:.*deprecated.*:DeprecationWarning")
def test_official_sdk_pages_the_current_era_end_to_end() -> None:
    from leadping import LeadpingOpenApiClient
    from leadping.models.exact_match_filter import ExactMatchFilter
    from leadping.models.order_by_option import OrderByOption
    from leadping.models.order_by_option_direction import OrderByOption_direction
    from leadping.models.problem_details import ProblemDetails
    from leadping.models.request_data_options import RequestDataOptions

    emu = Emulator(seed=31, n_leads=4, heavy_leads=1)
    lead = max(emu.lead_ids(), key=lambda x: len(emu.ground_truth(x)))
    truth = emu.ground_truth(lead)

    async def fetch(server: _Server) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            client = LeadpingOpenApiClient(_sdk_adapter(server.base_url, http))
            builder = client.events.leads.by_lead_id(lead)
            items: list[Any] = []
            totals: list[int | None] = []
            token = None
            pages = 0
            while True:
                page = await builder.post(
                    RequestDataOptions(page_size=250, include_count=True, continuation_token=token)
                )
                assert page is not None
                pages += 1
                items.extend(page.items or [])
                totals.append(page.total_count)
                token = page.continuation_token
                if token is None:
                    break
            # a filtered, descending query (filter values travel in additional_data)
            flt = ExactMatchFilter(field="direction", additional_data={"value": "Inbound"})
            desc = await builder.post(
                RequestDataOptions(
                    page_size=1000,
                    order_by=[
                        OrderByOption(field="createdAt", direction=OrderByOption_direction.Desc)
                    ],
                    filters=[flt],
                )
            )
            # a 400 surfaces as the SDK's ProblemDetails error
            try:
                await builder.post(RequestDataOptions(page_size=0))
            except ProblemDetails as exc:
                problem = exc
            return {
                "items": items,
                "totals": totals,
                "pages": pages,
                "desc": desc,
                "problem": problem,
            }

    with _Server(emu) as server:
        out = asyncio.run(fetch(server))

    items = out["items"]
    assert out["pages"] > 1
    assert set(out["totals"]) == {len(truth)}
    assert [it.id for it in items] == [t["id"] for t in truth]
    for it, t in zip(items, truth, strict=True):
        assert it.created_at == datetime.fromisoformat(t["createdAt"])
        assert it.retry_count == t["retryCount"]
        assert it.billable_amount == t["billableAmount"]
        assert it.status.value == t["status"]
        assert it.timeline_type.value == t["timelineType"]
        assert it.traffic_type.value == t["trafficType"]
        assert (it.selection_reason.value if it.selection_reason else None) == t.get(
            "selectionReason"
        )
        assert len(it.media or []) == len(t["media"])
        assert not it.additional_data  # every field we send is one the SDK knows
    mms = [it for it in items if it.media]
    assert mms
    assert mms[0].media[0].size > 0
    amounts = [Decimal(str(it.billable_amount)) for it in items if it.billable_amount is not None]
    assert all(a == a.quantize(Decimal("0.0001")) for a in amounts)
    want = reference(
        truth,
        {
            "orderBy": [{"field": "createdAt", "direction": "desc"}],
            "filters": [{"field": "direction", "value": "Inbound"}],
        },
    )
    assert [it.id for it in out["desc"].items] == [t["id"] for t in want]
    assert want
    assert out["problem"].response_status_code == 400
    assert out["problem"].status == 400


# ---- the serve command ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child is POSIX-only")
def test_serve_command_answers_and_stops_cleanly_on_sigint() -> None:
    port = _free_port()
    code = (
        "import sys; from leadping_nb.emulator import cli_serve; sys.exit(cli_serve(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--seed",
            "5",
            "--era",
            "seed",
            "--leads",
            "3",
            "--latency-ms",
            "5",
            "--faults",
            "dup=0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner, banner + (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        )
        assert EMULATOR_API_KEY in proc.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{port}/events/leads/lead_0001",
                    json={"pageSize": "2", "includeCount": True},
                    headers=AUTH,
                    timeout=5,
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert r.status_code == 200
        body = r.json()
        assert body["pageSize"] == "2"  # the seed era's numbers as strings
        assert (
            body["items"] == Emulator(seed=5, n_leads=3, era="seed").ground_truth("lead_0001")[:2]
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        rest = proc.stdout.read()
        assert "stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_serve_clock_moves_the_served_world_with_wall_time() -> None:
    port = _free_port()
    code = (
        "import sys; from leadping_nb.emulator import cli_serve; sys.exit(cli_serve(sys.argv[1:]))"
    )
    args = ["--port", str(port), "--seed", "5", "--leads", "30", "--clock", "speed=86400"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    def count() -> int:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{port}/events/all/my",
                    json={"pageSize": 1, "includeCount": True},
                    headers=AUTH,
                    timeout=5,
                )
                assert r.status_code == 200
                return int(r.json()["totalCount"])
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)

    try:
        first = count()
        time.sleep(2.0)  # two wall seconds: at least two days of this world
        assert count() > first  # (30 leads of seed 5 get new events every day)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        for f in (proc.stdout, proc.stderr):
            if f:
                f.close()


def test_serve_refuses_non_loopback_hosts() -> None:
    from leadping_nb.emulator import cli_serve, serve

    with pytest.raises(ValueError, match="non-loopback"):
        serve("0.0.0.0", 0)
    assert cli_serve(["--host", "10.1.2.3", "--port", "0"]) == 2
    assert cli_serve(["--faults", "bogus=1"]) == 2
    assert cli_serve(["--clock", "speed=0"]) == 2
    assert cli_serve(["--clock", "sometimes"]) == 2


def test_serve_passes_emulator_options_with_the_emulators_defaults() -> None:
    """serve() names the Emulator options it passes on (no ``**kwargs``), each with the
    Emulator's own default and annotation; ``api_key`` becomes ``api_keys=(api_key,)``."""
    import inspect

    from leadping_nb.emulator import serve

    theirs = inspect.signature(Emulator).parameters
    ours = inspect.signature(serve).parameters
    kinds = {p.kind for p in ours.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    passed = ("seed", "n_leads", "era", "latency_ms", "faults", "fraction_digits")
    passed += ("numbers_as_strings", "clock_speed")
    for name in passed:
        assert (ours[name].default, ours[name].annotation) == (
            theirs[name].default,
            theirs[name].annotation,
        ), name
    assert ours["api_key"].default == theirs["api_keys"].default[0]
