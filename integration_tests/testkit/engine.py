"""The container engine behind `python3 dev.py images` and the image tests (standard library only).

Docker is used as it is wherever a daemon answers. Otherwise, on a Debian-like machine (CI: no Docker engine, no
registry), podman is installed from apt and set up the way these machines need it: `runc` (crun fails on hybrid
cgroups), a private containers.conf (CONTAINERS_CONF) with the limits the sandbox allows and this machine's CA bundle
mounted into every build and container (pip reaches PyPI through it), and, when `python:3.11-slim` or `postgres:15`
cannot be pulled, stand-ins built from Debian's packages under those names. The Dockerfiles build unmodified; users'
builds keep `FROM python:3.11-slim`. For the tests, podman's Docker-compatible API service answers on DOCKER_HOST.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".venv" / "engine"  # containers.conf, the docker wrapper; gitignored with the venv
BASE_IMAGE = "docker.io/library/python:3.11-slim"
POSTGRES_IMAGE = "docker.io/library/postgres:15"  # docker-compose.yml's database
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "bookworm"  # python:3.11-slim's Debian, whose python3 is 3.11
APT_PACKAGES = {  # what podman needs here -> the file that shows it is installed
    "podman": "/usr/bin/podman",
    "runc": "/usr/sbin/runc",
    # service names resolve between compose containers on podman's CNI networks
    "golang-github-containernetworking-plugin-dnsname": "/usr/lib/cni/dnsname",
}


@dataclass(frozen=True)
class Image:
    context: Path
    dockerfile: Path
    tags: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.tags[0]


def _field(path: Path, key: str) -> str:
    found = re.search(rf"^\s*{key}:\s*['\"]?([^'\"\s#]+)", path.read_text(), re.M)
    if not found:
        raise SystemExit(f"{path.relative_to(ROOT)}: no {key}")
    return found.group(1)


def images() -> list[Image]:
    """The six images: each connector (tagged as metadata.yaml and acceptance-test-config.yml name it), the
    emulators and the flows runner of docker-compose.yml."""
    found = []
    for metadata in sorted(ROOT.glob("*/metadata.yaml")):
        folder = metadata.parent
        tags = [f"{_field(metadata, 'dockerRepository')}:{_field(metadata, 'dockerImageTag')}"]
        acceptance = folder / "acceptance-test-config.yml"
        if acceptance.exists():
            tags.append(_field(acceptance, "connector_image"))
        found.append(Image(folder, folder / "Dockerfile", tuple(dict.fromkeys(tags))))
    testkit = ROOT / "integration_tests"
    found.append(Image(testkit, testkit / "Dockerfile", ("supportsuite/emulators:dev",)))
    flows = re.search(r"^\s*image:\s*(\S+/flows:\S+)", (ROOT / "docker-compose.yml").read_text(), re.M)
    found.append(Image(ROOT, testkit / "flows.Dockerfile", (flows.group(1) if flows else "supportsuite/flows:dev",)))
    return found


def connector_image(folder: Path) -> str | None:
    """The image the CDK's standard suite of `folder` runs (`connector_image` of acceptance-test-config.yml)."""
    acceptance = folder / "acceptance-test-config.yml"
    return _field(acceptance, "connector_image") if acceptance.exists() else None


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Engine:
    kind: str  # "docker" or "podman"
    env: dict[str, str] = field(default_factory=dict)  # what every child process needs to reach it
    service: subprocess.Popen | None = None
    socket_dir: Path | None = None

    def cli(self, *args: str, check: bool = True, capture: bool = False, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.kind, *args], env={**os.environ, **self.env}, text=True, capture_output=capture, **kwargs
        )
        if check and result.returncode != 0:
            detail = (result.stderr or "").strip()[-2000:] if capture else ""
            raise SystemExit(f"failed ({result.returncode}): {self.kind} {' '.join(args)}\n{detail}".rstrip())
        return result

    def has_image(self, tag: str) -> bool:
        return self.cli("image", "inspect", tag, check=False, capture=True).returncode == 0

    def size_mb(self, tag: str) -> float:
        out = self.cli("image", "inspect", "--format", "{{.Size}}", tag, capture=True).stdout
        return int(out.split()[0]) / 1e6

    def build(self, image: Image) -> None:
        args = ["build", "--file", str(image.dockerfile)]
        if self.kind == "podman":
            args += ["--pull=never", "--network", "host"]
        for tag in image.tags:
            args += ["--tag", tag]
        self.cli(*args, str(image.context), stdout=subprocess.DEVNULL)

    def start_api(self) -> None:
        """podman's Docker-compatible API on a private socket, for the docker CLI and SDK of the tests."""
        if self.kind != "podman" or self.service:
            return
        self.socket_dir = Path(tempfile.mkdtemp(prefix="podman-api-"))
        sock = self.socket_dir / "podman.sock"
        log = (STATE / "service.log").open("w")
        self.service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not _answers(sock):
            if self.service.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"podman system service did not answer; see {STATE / 'service.log'}")
            time.sleep(0.2)
        self.env["DOCKER_HOST"] = f"unix://{sock}"

    def stop(self) -> None:
        if self.service and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()
        self.service = None
        self.env.pop("DOCKER_HOST", None)
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = None

    def describe(self) -> str:
        template = "{{.Server.Version}}" if self.kind == "docker" else "{{.Version}}"
        version = self.cli("version", "--format", template, capture=True, check=False).stdout.strip()
        return f"{self.kind} {version}"


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(2)
            conn.connect(str(sock))
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            return b" 200 " in conn.recv(64)
    except OSError:
        return False


def real_docker() -> str | None:
    """The docker CLI on PATH, past the wrapper of host_network_docker()."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != STATE / "bin")
    return shutil.which("docker", path=path)


def docker_answers() -> bool:
    """A Docker daemon (or an engine the user put behind DOCKER_HOST) answers the docker CLI."""
    docker = real_docker()
    if docker is None:
        return False
    try:
        version = subprocess.run([docker, "--version"], capture_output=True, text=True, timeout=20).stdout
        if "podman" in version.lower():
            return False  # podman-docker's `docker` is the podman CLI, set up below like podman itself
        return subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def podman_possible() -> bool:
    """podman is here, or can be installed from apt by this user."""
    if not sys.platform.startswith("linux"):
        return False
    return shutil.which("podman") is not None or (shutil.which("apt-get") is not None and _root_prefix() is not None)


def _root_prefix() -> list[str] | None:
    if os.geteuid() == 0:
        return []
    return ["sudo", "-n"] if shutil.which("sudo") else None


def apt_install(packages: list[str]) -> None:
    if not packages:
        return
    root = _root_prefix()
    if root is None:
        raise SystemExit(f"the image tests need {', '.join(packages)}: install them (apt) or run as root")
    say(f"installing with apt: {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        # a fresh machine may not have read its package lists yet
        subprocess.run([*root, "apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True)
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise SystemExit(f"apt-get could not install {' '.join(packages)}")


def write_containers_conf() -> Path:
    """Limits the sandbox allows (podman's defaults exceed them), runc, no systemd, the host's CA bundle."""
    nofile = min(20000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    nproc = min(32768, resource.getrlimit(resource.RLIMIT_NPROC)[1])
    volumes = [f"{CA_BUNDLE}:{CA_BUNDLE}:ro"] if CA_BUNDLE.is_file() else []
    text = (
        "# Written by integration_tests/testkit/engine.py for `python3 dev.py images` and the image tests.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        f"volumes = {json.dumps(volumes)}\n"
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    STATE.mkdir(parents=True, exist_ok=True)
    path = STATE / "containers.conf"
    path.write_text(text)
    return path


def connect(install: bool = True) -> Engine | None:
    """Docker if a daemon answers; else podman, installed and configured; None when neither can be had."""
    if docker_answers():
        return Engine("docker")
    if not install or not podman_possible():
        return None
    apt_install([package for package, marker in APT_PACKAGES.items() if not Path(marker).exists()])
    # Docker's image format, as `docker build` and podman's Docker API build: the layer cache is per format, so
    # the builds through the API (test_compose.py) and podman-compose's reuse these layers.
    engine = Engine("podman", {"CONTAINERS_CONF": str(write_containers_conf()), "BUILDAH_FORMAT": "docker"})
    if real_docker() is None:
        # The CDK's image tests call the docker CLI; podman-docker's `docker` is podman under that name.
        apt_install(["podman-docker"])
    return engine


def debian_mirror() -> str:
    """The Debian mirror apt already uses (deb822 .sources or a one-line sources.list)."""
    apt = Path("/etc/apt")
    listed = sorted((apt / "sources.list.d").glob("*.sources")) + [apt / "sources.list"]
    for path in listed + sorted((apt / "sources.list.d").glob("*.list")):
        if not path.is_file():
            continue
        text = path.read_text()
        uris = re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M)
        for uri in uris:
            if uri.rstrip("/").endswith("/debian"):
                return uri
    return "http://deb.debian.org/debian"


def build_python_standin(engine: Engine) -> None:
    """`python:3.11-slim` from Debian's packages: python3 3.11 with pip at /usr/local/bin, as the real one has."""
    apt_install([] if shutil.which("debootstrap") else ["debootstrap"])
    root = _root_prefix() or []
    mirror = debian_mirror()
    say(f"{BASE_IMAGE} is absent and cannot be pulled: building a stand-in with debootstrap from {mirror}")
    workdir = Path(tempfile.mkdtemp(prefix="python-standin-", dir="/var/tmp"))
    rootfs = workdir / "rootfs"
    try:
        packages = "--include=ca-certificates,python3,python3-pip,python3-venv"
        debootstrap = [*root, "debootstrap", "--variant=minbase", packages, SUITE, str(rootfs), mirror]
        subprocess.run(debootstrap, stdout=subprocess.DEVNULL, check=True)
        trim = ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"]
        script = " && ".join(
            [f"find {t} -mindepth 1 -delete" for t in trim]
            + [
                "rm -f usr/lib/python3*/EXTERNALLY-MANAGED",
                "ln -sf /usr/bin/python3 usr/local/bin/python",
                "ln -sf /usr/bin/python3 usr/local/bin/python3",
                "ln -sf /usr/bin/pip3 usr/local/bin/pip",
            ]
        )
        subprocess.run([*root, "sh", "-c", script], cwd=rootfs, check=True)
        tar = subprocess.Popen([*root, "tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        changes = ["--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]']
        engine.cli("import", *changes, "-", BASE_IMAGE, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        tar.stdout.close()
        if tar.wait() != 0:
            raise SystemExit("tar of the stand-in root failed")
    finally:
        subprocess.run([*root, "rm", "-rf", str(workdir)], check=False)


POSTGRES_CONTAINERFILE = """\
FROM docker.io/library/python:3.11-slim
RUN mkdir -p /etc/postgresql-common && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \\
 && apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /var/lib/postgresql/data && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
"""

POSTGRES_ENTRYPOINT = """\
# What the official postgres image's entrypoint does with POSTGRES_PASSWORD, POSTGRES_USER and POSTGRES_DB.
set -eu
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
user="${POSTGRES_USER:-postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  printf '%s\\n' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" > /tmp/pwfile && chown postgres /tmp/pwfile
  as_postgres initdb -D "$PGDATA" -U "$user" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  db="${POSTGRES_DB:-$user}"
  if [ "$db" != postgres ]; then
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    as_postgres psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \\"$db\\"" >/dev/null
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
fi
if [ "$1" = postgres ]; then
  shift
  exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -c listen_addresses='*' "$@"
fi
exec "$@"
"""


def build_postgres_standin(engine: Engine) -> None:
    """`postgres:15` for docker-compose.yml: Debian's PostgreSQL 15 with the official image's variables."""
    say(f"{POSTGRES_IMAGE} is absent and cannot be pulled: building a stand-in from Debian's postgresql-15")
    with tempfile.TemporaryDirectory(prefix="postgres-standin-") as context:
        (Path(context) / "Containerfile").write_text(POSTGRES_CONTAINERFILE)
        (Path(context) / "entrypoint.sh").write_text(POSTGRES_ENTRYPOINT)
        build = ["build", "--pull=never", "--network", "host", "--tag", POSTGRES_IMAGE, context]
        engine.cli(*build, stdout=subprocess.DEVNULL)


def build_all(engine: Engine) -> list[tuple[Image, float]]:
    """Every image, unmodified, with the engine's layer cache; the stand-ins first where podman needs them."""
    if engine.kind == "podman":
        if not engine.has_image(BASE_IMAGE):
            started = time.monotonic()
            build_python_standin(engine)
            say(f"  stand-in {BASE_IMAGE} in {time.monotonic() - started:.0f}s")
        if not engine.has_image(POSTGRES_IMAGE):
            started = time.monotonic()
            build_postgres_standin(engine)
            say(f"  stand-in {POSTGRES_IMAGE} in {time.monotonic() - started:.0f}s")
    built = []
    for image in images():
        started = time.monotonic()
        say(f"building {', '.join(image.tags)} ({image.dockerfile.relative_to(ROOT)})")
        engine.build(image)
        built.append((image, time.monotonic() - started))
        say(f"  {image.name} in {built[-1][1]:.0f}s, {engine.size_mb(image.name):.0f} MB")
    if engine.kind == "podman":
        # Each rebuild leaves the previous image untagged (~0.5 GB). Only those an hour old go: a build running
        # meanwhile (another checkout's dev.py) keeps its fresh intermediate images.
        engine.cli("image", "prune", "--force", "--filter", "until=1h", stdout=subprocess.DEVNULL)
    return built


def host_network_docker() -> Path:
    """A `docker` first on PATH that runs containers on the host's network unless told otherwise.

    The CDK's image tests `docker run` each connector against emulators listening on this machine's loopback
    (their configs say 127.0.0.1:<port>); on the host's network the container reaches them, as Airbyte's own
    acceptance tests run connector images."""
    real = real_docker()
    if real is None:
        raise SystemExit("no docker CLI on PATH")
    folder = STATE / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "docker"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Written by integration_tests/testkit/engine.py: `docker run` on the host's network unless told otherwise.\n"
        'if [ "$1" = run ]; then\n'
        '  for arg in "$@"; do case "$arg" in --network|--network=*|--net|--net=*) exec '
        f'"{real}" "$@";; esac; done\n'
        f'  shift; exec "{real}" run --network host "$@"\n'
        "fi\n"
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return folder
