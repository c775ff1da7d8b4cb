"""The configuration files of `make cluster`, written into its directory."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from cluster_services import HOST, free_port
from sqlalchemy.engine import make_url


@dataclass
class Layout:
    """Where everything goes: the directory, the database, the ports."""

    directory: Path
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database: str = "pourtier_cluster"
    balancer_port: int = 8080
    replica_ports: tuple[int, ...] = (8081, 8082)
    worker_ports: tuple[int, ...] = (9101, 9102)
    pgbouncer_port: int = 6432
    redis_port: int = 6380
    chain_port: int = 8899
    prometheus_port: int = 9090

    @classmethod
    def free_ports(cls, directory: Path, **kwargs: str) -> Layout:
        """Every port a free one: clusters (and tests) side by side."""
        return cls(
            directory,
            balancer_port=free_port(),
            replica_ports=(free_port(), free_port()),
            worker_ports=(free_port(), free_port()),
            pgbouncer_port=free_port(),
            redis_port=free_port(),
            chain_port=free_port(),
            prometheus_port=free_port(),
            **kwargs,
        )

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

    def direct_url(self) -> str:
        url = make_url(self.postgres_url).set(database=self.database)
        return url.render_as_string(hide_password=False)

    def pooled_url(self) -> str:
        url = make_url(self.direct_url()).set(host=HOST, port=self.pgbouncer_port)
        return url.render_as_string(hide_password=False)


def pgbouncer_ini(directory: Path, layout: Layout, pool_size: int) -> Path:
    """Transaction pooling in front of the cluster's database; trust, as the
    machine's PostgreSQL on 127.0.0.1 is."""
    directory.mkdir(parents=True, exist_ok=True)
    url = make_url(layout.direct_url())
    users = directory / "users.txt"
    users.write_text(f'"{url.username}" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"{url.database} = host={url.host} port={url.port or 5432} "
        f"dbname={url.database}\n\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {layout.pgbouncer_port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {users}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\n"
        "max_client_conn = 1000\n"
    )
    return ini


def nginx_conf(directory: Path, layout: Layout) -> Path:
    """Round robin over the replicas, a failed one skipped for the next; the
    client's address passed on in X-Forwarded-For (nginx is in the replicas'
    TRUSTED_PROXIES)."""
    directory.mkdir(parents=True, exist_ok=True)
    servers = "".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n"
        for port in layout.replica_ports
    )
    temp = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Ignored (with a warning) unless started as root, where it keeps the
    # workers able to use the cluster's own directory.
    user = pwd.getpwuid(os.getuid()).pw_name
    conf = directory / "nginx.conf"
    conf.write_text(
        f"user {user};\n"
        "worker_processes 2;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"{temp}"
        "    upstream pourtier {\n"
        f"{servers}"
        "        keepalive 32;\n"
        # Idle connections closed before uvicorn's keep-alive (5 s) would:
        # else a request may go out on one just as the replica closes it,
        # and a POST that was sent is not sent again (a 502).
        "        keepalive_timeout 2s;\n"
        "    }\n"
        "    server {\n"
        f"        listen 127.0.0.1:{layout.balancer_port};\n"
        '        location = /lb-health { return 200 "ok"; }\n'
        "        location / {\n"
        "            proxy_pass http://pourtier;\n"
        "            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n'
        "            proxy_set_header Host $host;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "            proxy_set_header X-Forwarded-Proto $scheme;\n"
        "            proxy_next_upstream error timeout;\n"
        "            add_header X-Upstream $upstream_addr always;\n"
        "        }\n"
        "    }\n"
        "}\n"
    )
    return conf


def prometheus_yml(directory: Path, layout: Layout) -> Path:
    """One job for the replicas (each answers for all its processes, from
    their shared multiprocess directory), one for the workers."""
    directory.mkdir(parents=True, exist_ok=True)
    api = ", ".join(f"'127.0.0.1:{p}'" for p in layout.replica_ports)
    workers = ", ".join(f"'127.0.0.1:{p}'" for p in layout.worker_ports)
    yml = directory / "prometheus.yml"
    yml.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: pourtier-api\n"
        "    static_configs:\n"
        f"      - targets: [{api}]\n"
        "  - job_name: pourtier-worker\n"
        "    static_configs:\n"
        f"      - targets: [{workers}]\n"
    )
    return yml
