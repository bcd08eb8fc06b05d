"""Run the emulator over real HTTP under uvicorn: :func:`serve` and the ``serve`` command."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from collections.abc import Sequence
from typing import Literal

from ._faults import FaultConfig
from ._handler import EMULATOR_API_KEY, Emulator

__all__ = ["cli_serve", "serve"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    host = "127.0.0.1" if host == "localhost" else host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit TCP_NODELAY: uvicorn's h11 writes headers and body
    # separately, and Nagle + the client's delayed ACK would add ~40 ms to every answer
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    seed: int = 0,
    era: Literal["seed", "current"] = "current",
    latency_ms: float = 0.0,
    faults: FaultConfig | None = None,
    n_leads: int = 50,
    api_key: str = EMULATOR_API_KEY,
    allow_remote: bool = False,
    log_level: str = "warning",
    emulator: Emulator | None = None,
    banner: bool = True,
    fraction_digits: Literal[0, 3, 7] = 3,
    numbers_as_strings: bool | None = None,
    clock_speed: float = 0.0,
) -> None:
    """Serve an emulator over HTTP with uvicorn until Ctrl-C (blocking; returns cleanly).

    Parameters
    ----------
    host, port
        Where to listen. Only loopback hosts unless ``allow_remote``; port 0 picks a free
        port (the banner tells which).
    seed, era, latency_ms, faults, n_leads, api_key
        Passed to :class:`Emulator` (``api_key`` is the one accepted bearer key).
    allow_remote
        Allow a non-loopback ``host`` (the emulator then answers the network).
    log_level
        uvicorn's log level.
    emulator
        Serve this emulator instead of building one from the options above.
    banner
        Print where it listens and the API key to use.
    fraction_digits, numbers_as_strings, clock_speed
        Passed to :class:`Emulator` too; for any other of its options, build the
        :class:`Emulator` and pass it as ``emulator``.

    Examples
    --------
    >>> serve("0.0.0.0", 8080)  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    ValueError: refusing to serve on non-loopback host '0.0.0.0' ...
    """
    import uvicorn

    if not _is_loopback(host) and not allow_remote:
        raise ValueError(
            f"refusing to serve on non-loopback host {host!r}: the emulator is for local use "
            "(pass allow_remote=True / --allow-remote to override)"
        )
    if emulator is None:
        emulator = Emulator(
            seed,
            n_leads,
            era=era,
            latency_ms=latency_ms,
            faults=faults,
            api_keys=(api_key,),
            fraction_digits=fraction_digits,
            numbers_as_strings=numbers_as_strings,
            clock_speed=clock_speed,
        )
    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    if banner:
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        print(
            f"Leadping emulator listening on http://{shown}:{bound_port} "
            f"(seed {emulator.seed}, era {emulator.era}, {emulator.n_leads} leads, "
            f"{emulator.total_events()} events, clock {_clock_text(emulator.clock_speed)})\n"
            f"API key: {emulator.api_keys[0]}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
    config = uvicorn.Config(
        emulator.asgi_app,
        log_level=log_level,
        lifespan="on",
        http="httptools",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises the captured SIGINT
        pass
    finally:
        sock.close()
    if banner:
        print("Leadping emulator stopped.", flush=True)


def _clock_text(speed: float) -> str:
    return "fixed" if not speed else "real" if speed == 1 else f"speed={speed:g}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="leadping-nb serve",
        description="Serve the built-in Leadping emulator over HTTP on loopback (Ctrl-C stops).",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    p.add_argument("--seed", type=int, default=0, help="data seed")
    p.add_argument("--era", choices=("current", "seed"), default="current", help="schema era")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every answer")
    p.add_argument(
        "--faults",
        default="",
        help="e.g. '429=0.05,5xx=0.02,drop=0.01,slow=0.01,truncate=0.01,dup=0.1,"
        "repeat=0.05,empty=0.1,expired=0.01,seed=7'",
    )
    p.add_argument("--leads", type=int, default=50, help="number of leads")
    p.add_argument("--api-key", default=EMULATOR_API_KEY, help="the bearer key to accept")
    p.add_argument("--fraction-digits", type=int, choices=(0, 3, 7), default=3)
    p.add_argument(
        "--numbers-as-strings",
        choices=("auto", "on", "off"),
        default="auto",
        help="emit numbers as strings (auto: the era's default)",
    )
    p.add_argument(
        "--clock",
        default="fixed",
        help="how the world's clock moves: 'fixed' (default: a still world), 'real' (with "
        "wall time) or 'speed=N' (N world seconds per wall second)",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback host")
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    return p


def parse_clock(text: str) -> float:
    """The ``--clock`` option as an emulator ``clock_speed``.

    Examples
    --------
    >>> parse_clock("fixed"), parse_clock("real"), parse_clock("speed=60")
    (0.0, 1.0, 60.0)
    """
    t = text.strip().lower()
    if t == "fixed":
        return 0.0
    if t == "real":
        return 1.0
    if t.startswith("speed="):
        try:
            speed = float(t[6:])
        except ValueError:
            speed = -1.0
        if speed > 0 and speed != float("inf"):
            return speed
    raise ValueError(f"{text!r}: use fixed, real or speed=N with N > 0")


def cli_serve(argv: Sequence[str] | None = None) -> int:
    """The ``leadping-nb serve`` command; returns the exit code (0 after Ctrl-C).

    Examples
    --------
    >>> cli_serve(["--host", "0.0.0.0"])  # doctest: +SKIP
    2
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        faults = FaultConfig.parse(args.faults) if args.faults.strip() else None
    except ValueError as exc:
        print(f"leadping-nb serve: --faults: {exc}", file=sys.stderr)
        return 2
    nas = {"auto": None, "on": True, "off": False}[args.numbers_as_strings]
    try:
        speed = parse_clock(args.clock)
    except ValueError as exc:
        print(f"leadping-nb serve: --clock: {exc}", file=sys.stderr)
        return 2
    try:
        serve(
            args.host,
            args.port,
            seed=args.seed,
            era=args.era,
            latency_ms=args.latency_ms,
            faults=faults,
            n_leads=args.leads,
            api_key=args.api_key,
            allow_remote=args.allow_remote,
            log_level=args.log_level,
            fraction_digits=args.fraction_digits,
            numbers_as_strings=nas,
            clock_speed=speed,
        )
    except (ValueError, OSError) as exc:
        print(f"leadping-nb serve: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(cli_serve())
