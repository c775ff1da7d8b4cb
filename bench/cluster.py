"""`make cluster`: the scaled-out topology of issue 14 on 127.0.0.1 ports.

nginx (load balancer) -> two API replicas (`pourtier serve --workers 2`,
`RUN_WORKERS=false`) -> PgBouncer (transaction pooling) -> the machine's
PostgreSQL, in a database of the cluster's own (migrated and seeded through
the direct URL); a Redis of its own (`redis-server`, nothing saved) for the
shared cache and rate limits, so that a soak may restart it;
two `pourtier worker` processes with `--metrics-port`; one local chain
(`pourtier localnet`) that every process joins through the shared data
directory; Prometheus scraping each replica and worker. Configuration, data
and logs are under `--dir` (default `.pourtier/cluster`).

Importable: `Cluster(Layout(...)).start()` returns once everything answers;
`cluster.services[name]` can be killed and restarted (what `make
cluster-soak` does to inject faults); `cluster.stop()` stops all in reverse.
With `--check` it signs a wallet in through the load balancer, checks every
`/metrics` and Prometheus' targets, prints the results and exits 0 or 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import asyncpg
from cluster_check import check
from cluster_config import Layout, nginx_conf, pgbouncer_ini, prometheus_yml
from cluster_services import (
    HOST,
    PACKAGES,
    START_SECONDS,
    Service,
    StartError,
    chain_healthy,
    http_ok,
    pg_answers,
    redis_answers,
    say,
    system_command,
)

from pourtier.config import Settings

POURTIER = str(Path(sys.executable).with_name("pourtier"))
AUTH_DOMAIN = "cluster.pourtier.local"
PGBOUNCER_POOL_SIZE = 20


@dataclass
class Cluster:
    layout: Layout
    services: dict[str, Service] = field(default_factory=dict)
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    settings: dict[str, str] = field(default_factory=dict)
    """More service settings for every API and worker process (ADMIN_WALLETS)."""

    @property
    def directory(self) -> Path:
        return self.layout.directory

    @property
    def balancer_url(self) -> str:
        return f"http://{HOST}:{self.layout.balancer_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.layout.prometheus_port}"

    def replicas(self) -> list[Service]:
        return [s for n, s in self.services.items() if n.startswith("replica")]

    def workers(self) -> list[Service]:
        return [s for n, s in self.services.items() if n.startswith("worker")]

    def pourtier_env(self) -> dict[str, str]:
        """Every API and worker process's settings: this shell's service
        settings are dropped so that only the cluster's apply."""
        settings = frozenset(Settings.model_fields)
        env = {
            k: v
            for k, v in os.environ.items()
            if k.upper() not in settings and not k.upper().startswith("POURTIER_")
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(
            {
                "ENV": "development",
                "POURTIER_CONFIG": "/nonexistent/pourtier.yaml",
                # Shared: the local chain's state and address, the dev keys.
                "POURTIER_DATA_DIR": str(self.directory / "data"),
                "LOCALNET_PORT": str(self.layout.chain_port),
                "DATABASE_URL": self.layout.pooled_url(),
                "DATABASE_POOLER": "transaction",
                "DATABASE_DIRECT_URL": self.layout.direct_url(),
                "REDIS_URL": self.layout.redis_url,
                "RUN_WORKERS": "false",
                "TRUSTED_PROXIES": '["127.0.0.1/32"]',
                "JWT_SECRET_KEY": self.jwt_secret,
                "AUTH_DOMAIN": AUTH_DOMAIN,
                "AUTH_URI": f"https://{AUTH_DOMAIN}",
                "LOG_LEVEL": "INFO",
                **self.settings,
            }
        )
        return env

    def _add(self, service: Service) -> Service:
        self.services[service.name] = service
        return service

    def _logs(self, name: str) -> Path:
        return self.directory / "logs" / f"{name}.log"

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # start-up

    def start(self) -> None:
        """Everything started and answering; on a failure, whatever started
        is stopped again and StartError names the process."""
        began = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "logs").mkdir(exist_ok=True)
        binaries = {name: system_command(name) for name in PACKAGES}
        self._check_backends()
        self._define(binaries)
        try:
            # The pooler, Redis and the chain start while the schema is migrated.
            first = [self.services[n] for n in ("pgbouncer", "redis", "chain")]
            for service in first:
                service.start()
            self._migrate()
            self._wait(first)
            rest = [s for s in self.services.values() if s not in first]
            for service in rest:
                service.start()
            self._wait(rest)
        except BaseException:
            self.stop()
            raise
        say(f"started in {time.monotonic() - began:.1f} s")

    def _wait(self, services: list[Service]) -> None:
        deadline = time.monotonic() + START_SECONDS
        pending = list(services)
        while pending:
            for service in list(pending):
                if service.probe():
                    pending.remove(service)
                elif not service.alive:
                    raise StartError(service, "exited during start-up")
            if pending and time.monotonic() > deadline:
                raise StartError(pending[0], f"not ready in {START_SECONDS:g} s")
            time.sleep(0.1)

    def _check_backends(self) -> None:
        async def database() -> None:
            admin = await asyncpg.connect(self.layout.postgres_url, timeout=5)
            try:
                name = self.layout.database
                exists = await admin.fetchval(
                    "SELECT 1 FROM pg_database WHERE datname = $1", name
                )
                if not exists:
                    await admin.execute(f'CREATE DATABASE "{name}"')
                    say(f"created database {name}")
            finally:
                await admin.close()

        try:
            asyncio.run(database())
        except (OSError, asyncpg.PostgresError) as error:
            url = self.layout.postgres_url
            raise SystemExit(f"PostgreSQL at {url}: {error}") from None

    def _migrate(self) -> None:
        env = {**self.pourtier_env(), "DATABASE_URL": self.layout.direct_url()}
        log = self._logs("migrate")
        with log.open("ab") as sink:
            done = subprocess.run(  # noqa: S603
                [POURTIER, "legal", "seed"],  # migrates, then seeds
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=120,
            )
        if done.returncode != 0:
            raise SystemExit(f"migration failed:\n{log.read_text(errors='replace')}")

    def _define(self, binaries: dict[str, str]) -> None:
        lay, d = self.layout, self.directory
        env = self.pourtier_env()
        ini = pgbouncer_ini(d / "pgbouncer", lay, PGBOUNCER_POOL_SIZE)
        # It refuses to run as root; it reads its files before becoming nobody.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self._add(
            Service(
                "pgbouncer",
                [binaries["pgbouncer"], *user, str(ini)],
                dict(os.environ),
                self._logs("pgbouncer"),
                lambda: pg_answers(lay.pooled_url()),
                f"postgresql://{HOST}:{lay.pgbouncer_port}/{lay.database}",
                # Its safe shutdown: transactions in flight finish first.
                stop_signal=signal.SIGINT,
            )
        )
        (d / "redis").mkdir(exist_ok=True)
        self._add(
            Service(
                "redis",
                [
                    *(binaries["redis-server"], "--bind", HOST),
                    *("--port", str(lay.redis_port), "--dir", str(d / "redis")),
                    *("--save", "", "--appendonly", "no"),
                ],
                dict(os.environ),
                self._logs("redis"),
                lambda: redis_answers(lay.redis_url),
                lay.redis_url,
            )
        )
        chain_url = f"http://{HOST}:{lay.chain_port}"
        self._add(
            Service(
                "chain",
                [POURTIER, "localnet", "--port", str(lay.chain_port)],
                env,
                self._logs("chain"),
                lambda: chain_healthy(chain_url),
                chain_url,
            )
        )
        for index, port in enumerate(lay.replica_ports, 1):
            name = f"replica{index}"
            url = f"http://{HOST}:{port}"
            metrics = d / name / "metrics"  # one replica's processes share it
            self._add(
                Service(
                    name,
                    [POURTIER, "serve", "--workers", "2", "--port", str(port)],
                    {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                    self._logs(name),
                    http_ok(f"{url}/health"),
                    url,
                )
            )
        for index, port in enumerate(lay.worker_ports, 1):
            name = f"worker{index}"
            url = f"http://{HOST}:{port}"
            self._add(
                Service(
                    name,
                    [POURTIER, "worker", "--metrics-port", str(port)],
                    env,
                    self._logs(name),
                    # Answering is ready: `degraded` (503) until a first pass.
                    http_ok(f"{url}/health", 200, 503),
                    url,
                )
            )
        conf = nginx_conf(d / "nginx", lay)
        self._add(
            Service(
                "nginx",
                [
                    *(binaries["nginx"], "-c", str(conf), "-p", str(d / "nginx")),
                    *("-e", str(d / "nginx" / "error.log"), "-g", "daemon off;"),
                ],
                dict(os.environ),
                self._logs("nginx"),
                # Its own answer: a probe through it would find the replicas
                # still starting and mark them failed for a while.
                http_ok(f"{self.balancer_url}/lb-health"),
                self.balancer_url,
            )
        )
        yml = prometheus_yml(d / "prometheus", lay)
        self._add(
            Service(
                "prometheus",
                [
                    binaries["prometheus"],
                    f"--config.file={yml}",
                    f"--storage.tsdb.path={d / 'prometheus' / 'data'}",
                    f"--web.listen-address={HOST}:{lay.prometheus_port}",
                ],
                dict(os.environ),
                self._logs("prometheus"),
                http_ok(f"{self.prometheus_url}/-/ready"),
                self.prometheus_url,
            )
        )

    def stop(self) -> None:
        """Every process, in the reverse order of the start."""
        for service in reversed(list(self.services.values())):
            service.stop()

    def urls(self) -> list[tuple[str, str]]:
        found = [("load balancer", self.balancer_url)]
        found += [(f"{s.name} (/metrics)", s.url) for s in self.replicas()]
        found += [(f"{s.name} /metrics, /health", s.url) for s in self.workers()]
        found += [("Prometheus", self.prometheus_url)]
        found += [("local chain (JSON-RPC)", self.services["chain"].url)]
        found += [("PgBouncer", self.services["pgbouncer"].url)]
        found += [("PostgreSQL (direct)", self.layout.direct_url())]
        found += [("Redis", self.layout.redis_url)]
        return found


def watch(cluster: Cluster) -> int:
    """Until Ctrl-C or SIGTERM (0), or until a process dies (1)."""
    while True:
        for service in cluster.services.values():
            if not service.alive:
                print(
                    f"{service.name} died; the end of {service.log}:", file=sys.stderr
                )
                print(service.tail(), file=sys.stderr)
                return 1
        time.sleep(1)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(".pourtier/cluster"))
    parser.add_argument(
        "--database", default=os.environ.get("CLUSTER_DATABASE", "pourtier_cluster")
    )
    parser.add_argument("--free-ports", action="store_true", help="any free ports")
    parser.add_argument("--check", action="store_true", help="check, then stop")
    return parser.parse_args()


def main() -> None:
    args = parse()
    backends = {
        "database": args.database,
        "postgres_url": os.environ.get(
            "CLUSTER_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    }
    directory = args.dir.resolve()
    if args.free_ports:
        layout = Layout.free_ports(directory, **backends)
    else:
        layout = Layout(directory, **backends)
    cluster = Cluster(layout)

    def stop_on(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on)
    try:
        cluster.start()
    except StartError as error:
        print(f"{error}{error.service.tail()}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    for name, url in cluster.urls():
        say(f"{name:28} {url}")
    say(f"config, data and logs in {directory}")
    try:
        if args.check:
            sys.exit(0 if check(cluster) else 1)
        say("Ctrl-C stops everything")
        sys.exit(watch(cluster))
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping")
        cluster.stop()
        say("stopped")


if __name__ == "__main__":
    main()
