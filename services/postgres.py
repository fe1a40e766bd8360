"""A throwaway PostgreSQL cluster from the Debian server binaries, on 127.0.0.1.

    with PostgresServer() as pg:
        pg.create_database("studiohub")
        dsn = pg.dsn("studiohub")

The cluster lives in a temporary directory (or a given one), listens on a free loopback
port and its unix socket sits in that directory too. When the current user is root the
server runs as the `postgres` OS user, because initdb refuses to run as root.

Access: TCP connections need a password (scram-sha-256), the unix socket admits only the
server's own OS user (peer). The superuser `postgres` gets a random password at creation,
kept in a libpq password file in the cluster directory (mode 0600); `dsn()` points libpq at
that file (`passfile=`), so the password never appears in a connection string. The cluster
directory is created private (mode 0700); an existing one is used only if it is a real
directory (never a symbolic link) owned by this user or the server's, inside a parent that
others cannot write to (or a sticky one such as /tmp).
`pg_stat_statements` is preloaded (the bottleneck analysis reads it). `stop()` and
`start()` can be called again on the same data directory, e.g. for outage tests.

CLI: `python -m services.postgres run --dir DIR` (foreground, stops on Ctrl-C/SIGTERM),
`start --dir DIR` (detached), `stop --dir DIR`, `dsn --dir DIR [--dbname NAME]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from loadtests.run.child_env import minimal_env
from services.errors import ServiceError

__all__ = ["PostgresError", "PostgresServer", "find_bin_dir", "free_port"]

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
_STATE_FILE = "server.json"
_PASSFILE = "superuser.pgpass"  # libpq password file of the superuser (read by clients only)
_INITDB_PWFILE = "initdb.pw"  # the same password for initdb --pwfile; removed once initdb ran
_COMMAND_TIMEOUT_S = 60


class PostgresError(ServiceError):
    """The cluster could not be created, started or stopped; the message says why."""


def find_bin_dir(version: str | None = None) -> Path:
    """The newest (or the given) /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    if version is not None:
        candidates = [PG_ROOT / version / "bin"]
    else:
        versions = sorted(
            (p for p in PG_ROOT.glob("*") if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
        )
        candidates = [p / "bin" for p in versions]
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise PostgresError(
        f"no PostgreSQL server binaries (initdb, pg_ctl) under {PG_ROOT}"
        + (f"/{version}" if version else "")
        + "; install the Debian package postgresql"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1, created on first `start()`.

    base_dir: directory for the data dir, socket and log (a new temp dir when None;
    removed by `cleanup()` only if it was created here). port: fixed port or a free one.
    settings: extra postgresql.conf settings written at creation (e.g. {"fsync": "off"}).
    """

    def __init__(
        self,
        base_dir: str | Path | None = None,
        *,
        port: int | None = None,
        version: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="odavl-pg-"))
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "postgres.log"
        self.passfile = self.base_dir / _PASSFILE
        self.bin_dir = find_bin_dir(version)
        self._settings = dict(settings or {})
        self._run_as = SUPERUSER if os.geteuid() == 0 else None
        self.port = port if port is not None else self._read_state().get("port") or free_port()
        self.host = "127.0.0.1"
        self.user = SUPERUSER

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster if needed and start it; waits until it accepts connections."""
        self._prepare_base_dir()
        self._check_reachable()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        elif not self.passfile.is_file():
            raise PostgresError(
                f"the cluster in {self.data_dir} has no superuser password file {self.passfile} "
                "(it was created with trust authentication by an older version); stop it and "
                f"remove {self.base_dir}, then start again"
            )
        if self.is_running():
            return self
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log_file), "-o", f"-p {self.port}")
        self._write_state()
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode fast: disconnects clients, rolls back their transactions)."""
        if self.is_running():
            self._pg_ctl("stop", "-w", "-t", "30", "-m", mode)

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._run([str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False)
        return result.returncode == 0

    def cleanup(self) -> None:
        """Stop the server and remove its directory if this object created it."""
        self.stop(mode="immediate")
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # --- connections ------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string of the superuser; libpq reads the password from `passfile`."""
        return (
            f"host={self.host} port={self.port} user={self.user} dbname={dbname} "
            f"passfile={self.passfile} connect_timeout=5"
        )

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}?passfile={self.passfile}"

    @property
    def password(self) -> str:
        """The superuser's password (from the password file written at creation)."""
        try:
            line = self.passfile.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise PostgresError(f"no superuser password file {self.passfile}: start() creates it") from None
        return line.rsplit(":", 1)[1]

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database `name` (optionally as a copy of `template`); returns its DSN."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(statement)
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # --- internals ------------------------------------------------------------------

    def _initdb(self) -> None:
        # TCP needs the password (any local user can reach 127.0.0.1); the socket, in the private
        # cluster directory, admits only the server's OS user. initdb takes the password from a
        # file, so it is neither on a command line nor in a statement the server could log.
        password = secrets.token_urlsafe(24)
        pwfile = self.base_dir / _INITDB_PWFILE
        pwfile.unlink(missing_ok=True)
        _write_private(pwfile, password + "\n", owner=self._server_ids())
        try:
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.passfile.unlink(missing_ok=True)
        _write_private(self.passfile, f"*:*:*:{SUPERUSER}:{password}\n", owner=None)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "password_encryption": "'scram-sha-256'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base_dir}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "'top'",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "max_connections": "200",
        }
        conf.update(self._settings)
        lines = "".join(f"{key} = {value}\n" for key, value in conf.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as handle:
            handle.write("\n# odavl-perf throwaway cluster\n" + lines)

    def _pg_ctl(self, *args: str) -> None:
        self._run([str(self.bin_dir / "pg_ctl"), args[0], "-D", str(self.data_dir), *args[1:]])

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=_COMMAND_TIMEOUT_S,
                cwd=self.base_dir,
                # The server outlives this process: it gets none of the parent's secrets.
                env=minimal_env({}),
                check=False,
                **kwargs,  # type: ignore[arg-type]
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{Path(argv[0]).name} timed out after {_COMMAND_TIMEOUT_S} s") from exc
        if check and result.returncode != 0:
            log_tail = ""
            if self.log_file.exists():
                log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
            raise PostgresError(
                f"{Path(argv[0]).name} {argv[1]} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}\n{log_tail}".rstrip()
            )
        return result

    def _check_reachable(self) -> None:
        """The server user must be able to walk down to base_dir; say so plainly if not."""
        if not self._run_as:
            return
        entry = pwd.getpwnam(self._run_as)
        for parent in reversed(self.base_dir.resolve().parents):
            info = parent.stat()
            if info.st_uid == entry.pw_uid:
                bit = 0o100
            elif info.st_gid == entry.pw_gid:
                bit = 0o010
            else:
                bit = 0o001
            if not info.st_mode & bit:
                raise PostgresError(
                    f"the {self._run_as} OS user cannot enter {parent} (mode {oct(info.st_mode & 0o777)}); "
                    f"put the cluster elsewhere (e.g. under {tempfile.gettempdir()})"
                    f" or run chmod o+x {parent}"
                )

    def _server_ids(self) -> tuple[int, int] | None:
        """(uid, gid) of the OS user the server runs as, when that is not the current user."""
        if not self._run_as:
            return None
        entry = pwd.getpwnam(self._run_as)
        return entry.pw_uid, entry.pw_gid

    def _prepare_base_dir(self) -> None:
        """Create base_dir private, or accept an existing one only if it is safe to hand over.

        Under the shared temp directory anyone can pre-place a symbolic link (or a directory of
        their own) at a predictable path; following it would chown and chmod some other file for
        the server user. So the directory is opened with O_NOFOLLOW and changed through that
        descriptor only, and its parent must be one others cannot rename it in.
        """
        parent = self.base_dir.parent
        parent.mkdir(mode=0o711, parents=True, exist_ok=True)
        _check_parent(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.base_dir, 0o700)
        try:
            fd = os.open(self.base_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise PostgresError(
                f"{self.base_dir} is not a plain directory ({exc.strerror}; a symbolic link is never "
                "followed): remove it or choose another cluster directory"
            ) from None
        try:
            info = os.fstat(fd)
            server = self._server_ids()
            allowed = {os.geteuid()} | ({server[0]} if server else set())
            if info.st_uid not in allowed:
                raise PostgresError(
                    f"{self.base_dir} is owned by uid {info.st_uid}, not by this user or the server's "
                    f"({sorted(allowed)}): refusing to use it; remove it or choose another directory"
                )
            if server:
                os.fchown(fd, *server)
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)

    def _read_state(self) -> dict[str, int]:
        state = self.base_dir / _STATE_FILE
        if state.is_file():
            return json.loads(state.read_text())
        return {}

    def _write_state(self) -> None:
        (self.base_dir / _STATE_FILE).write_text(json.dumps({"port": self.port}))


def _check_parent(parent: Path) -> None:
    """The cluster directory's parent must not let other users replace entries in it."""
    info = os.lstat(parent)
    if stat.S_ISLNK(info.st_mode):
        raise PostgresError(f"{parent} is a symbolic link: refusing to create the cluster directory in it")
    if info.st_uid not in (0, os.geteuid()):
        raise PostgresError(
            f"{parent} is owned by uid {info.st_uid} (neither root nor this user): refusing to create "
            "the cluster directory in it"
        )
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        raise PostgresError(
            f"{parent} is writable by other users (mode {oct(info.st_mode & 0o777)}) and not sticky: "
            "refusing to create the cluster directory in it"
        )


def _write_private(path: Path, text: str, *, owner: tuple[int, int] | None) -> None:
    """Write a new file of mode 0600 (never through a symbolic link), optionally chowned."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if owner:
            os.fchown(fd, *owner)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.postgres", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run", "start", "stop", "dsn"])
    parser.add_argument("--dir", required=True, help="cluster directory (created when missing)")
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--dbname", default="postgres", help="database for the printed DSN")
    parser.add_argument("--create-db", help="create this database if missing, after start")
    args = parser.parse_args(argv)
    try:
        server = PostgresServer(args.dir, port=args.port)
        if args.command == "stop":
            server.stop()
            return 0
        if args.command == "dsn":
            print(server.dsn(args.dbname))
            return 0
        server.start()
        if args.create_db:
            with contextlib.suppress(Exception):
                server.create_database(args.create_db)
        print(json.dumps({"dsn": server.dsn(args.dbname), "port": server.port}), flush=True)
        if args.command == "run":
            stop_event = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop_event.set())
            stop_event.wait()
            server.stop()
        return 0
    except PostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_main())
