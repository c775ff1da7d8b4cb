"""`make bench`: the service under real load, beside a bare FastAPI ceiling.

Starts the service as production runs it (`pourtier serve`: uvicorn, no
reload, no access log) on real PostgreSQL and Redis when they are reachable on
127.0.0.1, else on the embedded defaults; starts `bench/bare_app.py` with the
same server settings as the ceiling; drives both with wrk in another process
(installed from Debian's packages if missing) and prints one table, also
written to bench/results/latest.md. Numbers only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from solders.keypair import Keypair
from solders.transaction import Transaction

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
# Where to look for a machine PostgreSQL and Redis (else: the embedded defaults).
PG_SERVER = os.environ.get(
    "BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DATABASE = "pourtier_bench"
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")
AUTH_DOMAIN = "bench.pourtier.local"
AUTH_URI = f"https://{AUTH_DOMAIN}"
DB_QUERIES = "pourtier_db_queries_total"
SLOW_START_SECONDS = 120.0

READ_ROWS: list[tuple[str, str, bool]] = [
    # (label, path, sends the bearer token)
    ("GET /health", "/health", False),
    ("GET /api/users/me", "/api/users/me", True),
    ("GET /api/subscriptions/check", "/api/subscriptions/check", True),
    ("GET /api/legal/documents", "/api/legal/documents", False),
    ("GET /api/escrow/balance", "/api/escrow/balance", True),
]
SCALED_ROWS = ("/api/users/me", "/api/subscriptions/check")


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# --- wrk ---------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    cpu_seconds: float = 0.0
    """CPU time wrk itself used: the load generator shares the machine."""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    def find(pattern: str, default: str | None = None) -> str:
        match = re.search(pattern, output, re.MULTILINE)
        if match:
            return match.group(1)
        if default is None:
            raise ValueError(f"no {pattern!r} in wrk output:\n{output}")
        return default

    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+)", output, re.MULTILINE)
    if done is None:
        raise ValueError(f"no request count in wrk output:\n{output}")
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        rps=float(find(r"^Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)")),
        non_2xx=int(find(r"Non-2xx or 3xx responses: (\d+)", "0")),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing; installing it from Debian's packages")
    apt = ["apt-get", "install", "-y", "-qq", "wrk"]
    if os.geteuid() != 0:
        apt.insert(0, "sudo")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(apt, env=env, check=False).returncode != 0:
        subprocess.run([*apt[:-4], "update", "-qq"], env=env, check=True)
        subprocess.run(apt, env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("could not install wrk")
    return found


@dataclass
class Load:
    wrk: str
    threads: int
    connections: int
    duration: int
    warmup: int
    scrape_overhead: float | None = None

    def run(
        self,
        url: str,
        *,
        token: str | None = None,
        duration: int | None = None,
    ) -> WrkResult:
        command = [
            self.wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{duration or self.duration}s",
            "--latency",
        ]
        env = dict(os.environ)
        if token:
            command += ["-s", str(BENCH / "auth.lua")]
            env["BENCH_TOKEN"] = token
        before = children_cpu_seconds()
        done = subprocess.run(
            [*command, url], env=env, capture_output=True, text=True, check=True
        )
        result = parse_wrk(done.stdout)
        result.cpu_seconds = children_cpu_seconds() - before
        return result

    def batch(
        self, base_url: str, path: str, bodies: Sequence[str], workdir: Path
    ) -> tuple[float, WrkResult, list[tuple[int, dict[str, Any]]]]:
        """POST every body exactly once; (seconds, wrk result, answers)."""
        workdir.mkdir(parents=True, exist_ok=True)
        lines = workdir / "bodies.txt"
        lines.write_text("".join(body + "\n" for body in bodies))
        prefix = workdir / "out"
        threads = min(self.threads, len(bodies))
        command = [
            self.wrk,
            f"-t{threads}",
            f"-c{max(self.connections, threads)}",
            "-d120s",
            "--timeout",
            "60s",
            "--latency",
            "-s",
            str(BENCH / "batch.lua"),
            base_url,
            "--",
            str(lines),
            str(prefix),
            path,
            str(threads),
        ]
        cpu_before = children_cpu_seconds()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        markers = [Path(f"{prefix}.done.{i}") for i in range(1, threads + 1)]
        deadline = time.monotonic() + 115
        while not all(m.exists() for m in markers):
            if process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        if not all(m.exists() for m in markers):
            raise SystemExit(f"wrk batch on {path} did not finish:\n{stdout}{stderr}")
        spans = [m.read_text().split() for m in markers]
        seconds = max(float(s[1]) for s in spans) - min(float(s[0]) for s in spans)
        answers: list[tuple[int, dict[str, Any]]] = []
        for i in range(1, threads + 1):
            for line in Path(f"{prefix}.{i}").read_text().splitlines():
                status, _, body = line.partition(" ")
                answers.append((int(status), json.loads(body)))
        result = parse_wrk(stdout)
        result.cpu_seconds = children_cpu_seconds() - cpu_before
        return seconds, result, answers


# --- what the service runs on --------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


async def _fresh_database() -> str | None:
    try:
        admin = await asyncpg.connect(PG_SERVER, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    finally:
        await admin.close()
    base = PG_SERVER.rsplit("/", 1)[0].split("://", 1)[1]
    return f"postgresql+asyncpg://{base}/{BENCH_DATABASE}"


def _fresh_redis() -> str | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
        client.flushdb()
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return REDIS_URL


def service_environment(data_dir: Path) -> tuple[dict[str, str], str, str]:
    """Environment for the service; also names the database and cache used."""
    env = {
        **os.environ,
        "POURTIER_CONFIG": str(data_dir / "no-config.yaml"),
        # `test` rather than `production`: the same code paths, plus the
        # development faucet that funds the benchmark's escrow on the local chain.
        "ENV": "test",
        "POURTIER_DATA_DIR": str(data_dir),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "AUTH_DOMAIN": AUTH_DOMAIN,
        "AUTH_URI": AUTH_URI,
        "FEE_AUTHORITY_KEYPAIR": str(Keypair()),
        "ACCESS_LOG": "false",
        # One client hammering one account is exactly what the limits refuse.
        "RATE_LIMIT_ENABLED": "false",
        "RUN_WORKERS": "true",
        "LOG_LEVEL": "INFO",
    }
    database_url = asyncio.run(_fresh_database())
    if database_url:
        env["DATABASE_URL"] = database_url
        database = f"PostgreSQL {database_url.split('@', 1)[-1]}"
    else:
        env.pop("DATABASE_URL", None)
        database = "embedded PostgreSQL (pgserver)"
    redis_url = _fresh_redis()
    if redis_url:
        env["REDIS_URL"] = redis_url
        cache = f"Redis {redis_url}"
    else:
        env.pop("REDIS_URL", None)
        cache = "in-process only"
    return env, database, cache


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    health_path: str
    log_path: Path
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        log(f"starting {self.name}: {' '.join(self.command)}")
        with self.log_path.open("ab") as sink:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SLOW_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.health_path, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.name} did not become healthy:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        text = (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        if self.process is None:
            return 0.0
        return process_tree_cpu_seconds(self.process.pid)

    def db_queries(self) -> float | None:
        """The query counter of every worker (any worker answers for all)."""
        try:
            text = httpx.get(self.url + "/metrics", timeout=10).text
        except httpx.HTTPError:
            return None
        queries = re.search(rf"^{DB_QUERIES}\s+(\S+)$", text, re.MULTILINE)
        return None if queries is None else float(queries.group(1))

    def scrape_overhead(self) -> float | None:
        """Queries one scrape makes itself (it refreshes gauges from the DB)."""
        before = self.db_queries()
        after = self.db_queries()
        if before is None or after is None:
            return None
        return after - before


def queries_between(
    before: float | None, after: float | None, overhead: float | None
) -> float | None:
    """Queries the run made: the difference less one scrape's own."""
    if before is None or after is None or overhead is None:
        return None
    return after - before - overhead


def service(env: dict[str, str], workers: int, logs: Path) -> Server:
    port = free_port()
    command = [str(BIN / "pourtier"), "serve", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers)]
    return Server(
        f"pourtier (workers={workers})",
        command,
        env,
        port,
        "/health",
        logs / f"pourtier-w{workers}.log",
        workers,
    )


def bare(workers: int, logs: Path) -> Server:
    port = free_port()
    command = [str(BIN / "uvicorn"), "--app-dir", str(BENCH), "bare_app:app"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    # What `pourtier serve` passes to uvicorn.run (see cli.py).
    command += ["--loop", "uvloop", "--http", "httptools", "--no-proxy-headers"]
    command += ["--no-access-log", "--log-level", "warning"]
    command += ["--timeout-worker-healthcheck", "30"]
    return Server(
        f"bare FastAPI (workers={workers})",
        command,
        dict(os.environ),
        port,
        "/hello",
        logs / f"bare-w{workers}.log",
        workers,
    )


def process_tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the user the reads run as ---------------------------------------------------


def sign_in_body(client: httpx.Client, wallet: Keypair) -> dict[str, Any]:
    answer = client.post(
        "/api/auth/nonce", json={"wallet_address": str(wallet.pubkey())}
    )
    answer.raise_for_status()
    message: str = answer.json()["message"]
    return {
        "wallet_address": str(wallet.pubkey()),
        "message": message,
        "signature": str(wallet.sign_message(message.encode())),
    }


def sign_transaction(wallet: Keypair, transaction_b64: str) -> str:
    message = Transaction.from_bytes(base64.b64decode(transaction_b64)).message
    signed = Transaction([wallet], message, message.recent_blockhash)
    return base64.b64encode(bytes(signed)).decode("ascii")


def escrow_step(
    client: httpx.Client, wallet: Keypair, path: str, body: dict[str, Any]
) -> None:
    prepared = client.post(path, json=body)
    prepared.raise_for_status()
    transaction_id = prepared.json()["transaction_id"]
    client.post(
        "/api/escrow/submit",
        json={
            "transaction_id": transaction_id,
            "signed_transaction": sign_transaction(
                wallet, prepared.json()["transaction"]
            ),
        },
    ).raise_for_status()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = client.get(f"/api/escrow/transactions/{transaction_id}").json()
        if found["status"] == "confirmed":
            return
        if found["status"] == "failed":
            raise RuntimeError(f"{path} failed: {found}")
        time.sleep(0.2)
    raise RuntimeError(f"{path} was not confirmed in time")


def set_up_reader(url: str) -> tuple[str, list[str], str]:
    """Register a user, fund its escrow and subscribe; (token, doc ids, notes)."""
    wallet = Keypair()
    with httpx.Client(base_url=url, timeout=60) as client:
        documents = [d["id"] for d in client.get("/api/legal/documents").json()]
        body = {**sign_in_body(client, wallet), "accepted_document_ids": documents}
        registered = client.post("/api/auth/register", json=body)
        registered.raise_for_status()
        token: str = registered.json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        try:
            client.post(
                "/api/dev/faucet",
                json={"wallet_address": str(wallet.pubkey()), "amount": "1000"},
            ).raise_for_status()
            escrow_step(client, wallet, "/api/escrow/initialize", {})
            escrow_step(client, wallet, "/api/escrow/deposit", {"amount": "500"})
            subscribed = client.post(
                "/api/subscriptions/", json={"plan": "basic", "auto_renew": True}
            )
            subscribed.raise_for_status()
            notes = "reader has a funded escrow and a Basic subscription"
        except (httpx.HTTPError, RuntimeError, KeyError) as error:
            notes = f"reader has no funded escrow/subscription ({error})"
        check = client.get("/api/subscriptions/check").json()
        log(f"reader ready: {notes}; check says {check}")
    return token, documents, notes


# --- sign-in -----------------------------------------------------------------------


@dataclass
class SignIn:
    logins_per_second: float
    nonce_seconds: float
    login_seconds: float
    nonce: WrkResult
    login: WrkResult
    failures: int
    count: int


def _nonce_messages(answers: list[tuple[int, dict[str, Any]]]) -> list[str]:
    bad = [a for a in answers if a[0] != 200]
    if bad:
        raise SystemExit(f"{len(bad)} nonce requests failed, e.g. {bad[0]}")
    return [body["message"] for _, body in answers]


def _signed(messages: list[str], wallets: dict[str, Keypair]) -> list[dict[str, Any]]:
    bodies = []
    for message in messages:
        address = message.split("\n")[1]
        signature = wallets[address].sign_message(message.encode())
        bodies.append(
            {"wallet_address": address, "message": message, "signature": str(signature)}
        )
    return bodies


def register_wallets(
    load: Load, url: str, count: int, documents: list[str], workdir: Path
) -> dict[str, Keypair]:
    wallets = {str(k.pubkey()): k for k in (Keypair() for _ in range(count))}
    nonce_bodies = [json.dumps({"wallet_address": a}) for a in wallets]
    _, _, answers = load.batch(url, "/api/auth/nonce", nonce_bodies, workdir / "rn")
    bodies = _signed(_nonce_messages(answers), wallets)
    for body in bodies:
        body["accepted_document_ids"] = documents
    _, _, registered = load.batch(
        url, "/api/auth/register", [json.dumps(b) for b in bodies], workdir / "rr"
    )
    failed = [a for a in registered if a[0] != 201]
    if failed:
        raise SystemExit(f"{len(failed)} registrations failed, e.g. {failed[0]}")
    return wallets


def measure_sign_in(
    load: Load, url: str, wallets: dict[str, Keypair], workdir: Path
) -> SignIn:
    """nonce (wrk) -> sign (here, not timed) -> login (wrk), once per wallet."""
    nonce_bodies = [json.dumps({"wallet_address": a}) for a in wallets]
    nonce_s, nonce_wrk, answers = load.batch(
        url, "/api/auth/nonce", nonce_bodies, workdir / "n"
    )
    bodies = [json.dumps(b) for b in _signed(_nonce_messages(answers), wallets)]
    login_s, login_wrk, logins = load.batch(
        url, "/api/auth/login", bodies, workdir / "l"
    )
    ok = [body for status, body in logins if status == 200]
    sessions = {body["refresh_token"] for body in ok}
    return SignIn(
        logins_per_second=len(ok) / (nonce_s + login_s),
        nonce_seconds=nonce_s,
        login_seconds=login_s,
        nonce=nonce_wrk,
        login=login_wrk,
        failures=len(logins) - len(sessions),
        count=len(wallets),
    )


# --- the table -----------------------------------------------------------------------


@dataclass
class Row:
    label: str
    workers: int
    rps: float
    p50_ms: float
    p99_ms: float
    ceiling: float | None
    queries: float | None
    errors: int
    cpu_us: float | None = None
    wrk_cpu_us: float | None = None
    unit: str = "req/s"

    def cells(self) -> list[str]:
        ratio = f"{self.rps / self.ceiling:.2f}" if self.ceiling else "—"
        queries = "n/a" if self.queries is None else f"{self.queries:.2f}"
        cpu = "n/a" if self.cpu_us is None else f"{self.cpu_us:,.0f}"
        wrk = "n/a" if self.wrk_cpu_us is None else f"{self.wrk_cpu_us:,.0f}"
        return [
            self.label,
            str(self.workers),
            f"{self.rps:,.0f} {self.unit}",
            f"{self.p50_ms:.2f}",
            f"{self.p99_ms:.2f}",
            ratio,
            queries,
            cpu,
            wrk,
            str(self.errors),
        ]


HEADER = ["endpoint", "workers", "throughput", "p50 ms", "p99 ms", "x bare"]
HEADER += ["DB queries/req", "server CPU µs/req", "wrk CPU µs/req", "errors"]


def table(rows: list[Row]) -> str:
    cells = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(HEADER))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join(
        [line(cells[0]) + " |", rule, *(line(r) + " |" for r in cells[1:])]
    )


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        log("  " + " | ".join(row.cells()))

    def find(self, path: str, workers: int) -> Row | None:
        for row in self.rows:
            if row.label.endswith(path) and row.workers == workers:
                return row
        return None

    def targets(self) -> list[str]:
        out = []
        for path in SCALED_ROWS:
            one = self.find(path, 1)
            if one is None or not one.ceiling:
                continue
            ratio = one.rps / one.ceiling
            ok = ratio >= 0.5 and one.p99_ms <= 10
            out.append(
                f"- {path}: {ratio:.2f} x bare (target ≥ 0.50), p99 "
                f"{one.p99_ms:.2f} ms (target ≤ 10): {'met' if ok else 'NOT met'}"
            )
            two = self.find(path, 2)
            if two is not None:
                scale = two.rps / one.rps
                out.append(
                    f"- {path} workers=2: {scale:.2f}x workers=1 (target ≥ 1.6): "
                    f"{'met' if scale >= 1.6 else 'NOT met'}"
                )
        sign_in = self.find("login", 1)
        if sign_in is not None:
            out.append(
                f"- sign-in: {sign_in.rps:,.0f}/s (target ≥ 400/s): "
                f"{'met' if sign_in.rps >= 400 else 'NOT met'}"
            )
            if sign_in.queries is not None:
                few = sign_in.queries <= 3
                out.append(
                    f"- sign-in: {sign_in.queries:.2f} SQL statements "
                    f"(issue 9 target ≤ 3): {'met' if few else 'NOT met'}"
                )
        out += self._lean_targets()
        return out

    def _lean_targets(self) -> list[str]:
        """Issue 9's cached reads: ≥ 0.45 of the ceiling, < 200 µs of server CPU."""
        out = []
        for path in SCALED_ROWS:
            one = self.find(path, 1)
            if one is None or not one.ceiling or one.cpu_us is None:
                continue
            ratio = one.rps / one.ceiling
            ok = ratio >= 0.45 and one.cpu_us < 200
            out.append(
                f"- {path}: {ratio:.2f} x bare (issue 9 target ≥ 0.45), server CPU "
                f"{one.cpu_us:,.0f} µs/req (issue 9 target < 200): "
                f"{'met' if ok else 'NOT met'}"
            )
        return out


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" + uncommitted changes" if dirty else "")


# --- orchestration ------------------------------------------------------------


def measure_read(
    load: Load,
    server: Server,
    label: str,
    path: str,
    token: str | None,
    ceiling: float | None,
    workers: int,
    profile: Path | None,
) -> Row:
    load.run(server.url + path, token=token, duration=load.warmup)
    if load.scrape_overhead is None:
        load.scrape_overhead = server.scrape_overhead()
    before = server.db_queries()
    cpu_before = server.cpu_seconds()
    with profiling(server, profile, label):
        result = load.run(server.url + path, token=token)
    cpu = (server.cpu_seconds() - cpu_before) * 1e6 / max(result.requests, 1)
    made = queries_between(before, server.db_queries(), load.scrape_overhead)
    queries = None if made is None else made / max(result.requests, 1)
    return Row(
        label,
        workers,
        result.rps,
        result.p50_ms,
        result.p99_ms,
        ceiling,
        queries,
        result.non_2xx + result.socket_errors,
        cpu,
        result.cpu_seconds * 1e6 / max(result.requests, 1),
    )


@contextlib.contextmanager
def profiling(server: Server, directory: Path | None, label: str) -> Iterator[None]:
    """py-spy record on the (single-worker) server while the block runs."""
    if directory is None or server.process is None:
        yield
        return
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    recorder = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(server.process.pid),
            "--format",
            "raw",
            "--nonblocking",
            "--rate",
            "250",
            "--output",
            str(directory / f"{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per row")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--logins", type=int, default=3000, help="sign-ins to time")
    parser.add_argument(
        "--only", default="", help="comma-separated substrings of rows to run"
    )
    parser.add_argument("--no-workers2", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks per row here")
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "latest.md")
    parser.add_argument(
        "--source",
        type=Path,
        help="serve the pourtier package of another checkout (for before/after)",
    )
    args = parser.parse_args(argv)
    wanted = [w for w in args.only.split(",") if w]

    def selected(label: str) -> bool:
        return not wanted or any(w in label for w in wanted)

    load = Load(
        ensure_wrk(), args.threads, args.connections, args.duration, args.warmup
    )
    started = time.monotonic()
    report = Report()
    with tempfile.TemporaryDirectory(
        prefix="pourtier-bench-", ignore_cleanup_errors=True
    ) as temp:
        work = Path(temp)
        logs = work / "logs"
        logs.mkdir()
        data_dir = work / "data"
        env, database, cache = service_environment(data_dir)
        report.notes += [f"database: {database}", f"cache: {cache}"]
        if args.source:
            env["PYTHONPATH"] = str(args.source.resolve() / "src")
            report.notes.append(f"service code: {args.source} (--source)")

        ceilings: dict[int, float] = {}
        for workers in (1, 2) if not args.no_workers2 else (1,):
            with running(bare(workers, logs)) as server:
                log(f"bare ceiling, workers={workers}")
                row = measure_read(
                    load,
                    server,
                    "GET /hello (bare FastAPI ceiling)",
                    "/hello",
                    None,
                    None,
                    workers,
                    args.profile if workers == 1 else None,
                )
                row.queries = None
                ceilings[workers] = row.rps
                row.ceiling = row.rps
                report.add(row)

        for command in (["db", "upgrade"], ["legal", "seed"]):
            subprocess.run(
                [str(BIN / "pourtier"), *command], env=env, cwd=ROOT, check=True
            )
        with running(service(env, 1, logs)) as server:
            token, documents, notes = set_up_reader(server.url)
            report.notes.append(notes)
            for label, path, authed in READ_ROWS:
                if not selected(label):
                    continue
                log(label)
                report.add(
                    measure_read(
                        load,
                        server,
                        label,
                        path,
                        token if authed else None,
                        ceilings[1],
                        1,
                        args.profile,
                    )
                )
            if selected("login") or selected("sign-in"):
                log(f"sign-in: registering {args.logins} wallets")
                wallets = register_wallets(
                    load, server.url, args.logins, documents, work / "register"
                )
                log("sign-in: nonce -> sign -> login for each")
                if load.scrape_overhead is None:
                    load.scrape_overhead = server.scrape_overhead()
                before = server.db_queries()
                cpu_before = server.cpu_seconds()
                with profiling(server, args.profile, "sign-in"):
                    sign_in = measure_sign_in(load, server.url, wallets, work / "in")
                cpu = (server.cpu_seconds() - cpu_before) * 1e6 / sign_in.count
                made = queries_between(
                    before, server.db_queries(), load.scrape_overhead
                )
                queries = None if made is None else made / sign_in.count
                report.add(
                    Row(
                        "sign-in: nonce -> sign -> login",
                        1,
                        sign_in.logins_per_second,
                        sign_in.login.p50_ms,
                        sign_in.login.p99_ms,
                        None,
                        queries,
                        sign_in.failures,
                        cpu,
                        (sign_in.nonce.cpu_seconds + sign_in.login.cpu_seconds)
                        * 1e6
                        / sign_in.count,
                        unit="logins/s",
                    )
                )
                report.notes.append(
                    f"sign-in: {sign_in.count} wallets, nonces in "
                    f"{sign_in.nonce_seconds:.2f} s (p50 {sign_in.nonce.p50_ms:.2f} "
                    f"ms), logins in {sign_in.login_seconds:.2f} s; every login a "
                    "fresh ed25519 signature over a single-use nonce, and a new "
                    "session (distinct refresh tokens counted); p50/p99 are the "
                    "login requests'; DB queries are per sign-in (both requests)"
                )
        if not args.no_workers2:
            with running(service(env, 2, logs)) as server:
                for label, path, _ in READ_ROWS:
                    if path not in SCALED_ROWS or not selected(label):
                        continue
                    log(f"{label}, workers=2")
                    load.run(server.url + path, token=token, duration=args.warmup)
                    report.add(
                        measure_read(
                            load, server, label, path, token, ceilings[1], 2, None
                        )
                    )
            report.notes.append(
                "workers=2 rows: ratio still to the 1-worker ceiling; DB queries "
                "summed over the workers' own counters"
            )

    elapsed = time.monotonic() - started
    text = render(report, load, elapsed)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    log(f"written to {args.output} in {elapsed:.0f} s")
    return 0


def render(report: Report, load: Load, elapsed: float) -> str:
    uvicorn_version = subprocess.run(
        [str(BIN / "python"), "-c", "import uvicorn; print(uvicorn.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    lines = [
        "# Pourtier benchmark (`make bench`)",
        "",
        f"- when: {datetime.now(UTC).isoformat(timespec='seconds')}, "
        f"revision {git_revision()}",
        f"- machine: {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, uvicorn {uvicorn_version} (uvloop, httptools, "
        "no proxy headers, no access log), both apps alike",
        f"- load: wrk -t{load.threads} -c{load.connections} -d{load.duration}s "
        f"--latency after {load.warmup} s warm-up, on the same machine",
        *(f"- {note}" for note in report.notes),
        f"- whole run: {elapsed:.0f} s",
        "",
        table(report.rows),
        "",
        "Targets:",
        "",
        *report.targets(),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
