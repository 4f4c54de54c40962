# fleet as a container: the same daemon as the systemd unit (`fleet run`), as a non-root
# user, with its state in a volume. See docs/deploy.md.
#
#   docker build -t fleet .
#   docker run --init -v fleet-state:/var/lib/fleet -v /srv/fleet:/etc/fleet:ro \
#       -p 8787:8787 fleet
#
# /srv/fleet holds fleet.yaml and settings.yaml. The API listens beyond loopback here, so
# fleet refuses to start unless settings.yaml names a bearer token file
# (`api_token_file: api-token`, relative to settings.yaml).
#
# The base is pinned to a Debian release so that the apt package versions pinned below
# exist; bump them together (`apt-cache policy git openssh-client` in the new base).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fleet ./fleet
# Build fleet's wheel, then install it with its dependencies into a self-contained venv
# that the runtime stage copies as is. pykustomize (in-process Kustomize) declares
# Python >= 3.14 but works on 3.11; see docs/dependencies.
RUN python -m venv /opt/fleet \
    && /opt/fleet/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/fleet/bin/pip install /wheels/fleet_gitops-*.whl \
    && /opt/fleet/bin/pip install --ignore-requires-python pykustomize==0.1.4

FROM ${PYTHON_IMAGE}
# git and openssh-client: ssh-keyscan to fill known_hosts, and git to compact the
# mirrors now and then (`git gc --auto`; fleet itself fetches with libgit2).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        git=1:2.39.5-0+deb12u3 \
        openssh-client=1:9.2p1-2+deb12u10 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fleet \
    && useradd --system --uid 10001 --gid fleet --home-dir /var/lib/fleet \
        --shell /usr/sbin/nologin fleet \
    && install -d -o fleet -g fleet -m 0750 /var/lib/fleet \
    && install -d -m 0755 /etc/fleet
COPY --from=builder /opt/fleet /opt/fleet
ENV PATH=/opt/fleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/fleet \
    FLEET_STATE_DIR=/var/lib/fleet \
    FLEET_API_ADDRESS=0.0.0.0:8787
USER 10001:10001
WORKDIR /var/lib/fleet
VOLUME ["/var/lib/fleet"]
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ['FLEET_API_ADDRESS'].rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
ENTRYPOINT ["fleet"]
CMD ["run", "--config", "/etc/fleet/fleet.yaml", "--settings", "/etc/fleet/settings.yaml"]
