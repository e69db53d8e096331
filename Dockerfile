# syntax=docker/dockerfile:1.7
#
# tickflow: one image for every tickflow service of compose.yaml (tickflow-init, tickflow-ingest, tickflow-process, tickflow-paper,
# tickflow-backtest). Multi-stage: a pinned Rust toolchain builds the release binary (librdkafka
# is compiled from the bundled sources, hence cmake/make/g++), a pinned Debian slim runs it as
# a non-root user.
#
#   docker build -t tickflow/tickflow:0.1.0 .
#   docker run --rm tickflow/tickflow:0.1.0 --help
#
# Base images are pinned to exact versions: rust 1.94.1 on Debian 12 "bookworm" (the workspace
# needs rust >= 1.91), and Debian 12.15 "bookworm" slim (same glibc as the builder).

############################ builder ############################
FROM rust:1.94.1-bookworm AS builder

RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the workspace build needs (see .dockerignore): manifests, lockfile, member crates.
COPY Cargo.toml Cargo.lock ./
COPY model ./model
COPY operators ./operators
COPY strategies ./strategies
COPY connectors ./connectors
COPY topology ./topology

# Cache mounts keep the registry and target dir between builds (BuildKit, the default builder
# of Docker >= 23). The binary is copied out of the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p tickflow --bin tickflow \
 && install -D -m 0755 target/release/tickflow /out/tickflow \
 && strip --strip-debug /out/tickflow

############################ runtime ############################
FROM debian:12.15-slim AS runtime

# ca-certificates: TLS to the venues' REST/WebSocket endpoints; curl: the compose healthcheck
# (GET /healthz on the metrics port); zlib1g: librdkafka's compression (already in slim).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl zlib1g \
 && rm -rf /var/lib/apt/lists/*

ARG TICKFLOW_UID=10001
ARG TICKFLOW_GID=10001
RUN groupadd --system --gid "${TICKFLOW_GID}" tickflow \
 && useradd --system --uid "${TICKFLOW_UID}" --gid tickflow --home-dir /var/lib/tickflow \
      --no-create-home --shell /usr/sbin/nologin tickflow \
 && mkdir -p /var/lib/tickflow /etc/tickflow \
 && chown tickflow:tickflow /var/lib/tickflow

COPY --from=builder /out/tickflow /usr/local/bin/tickflow
# Default run configs; compose mounts ./deploy/tickflow over /etc/tickflow read-only.
COPY deploy/tickflow/ /etc/tickflow/

ENV TICKFLOW_LOG=info \
    TICKFLOW_LOG_JSON=true

# Data written by the services (bar/late CSVs, backtest reports). A named volume mounted here
# starts out owned by the tickflow user (no VOLUME instruction: it would give the one-shot
# services anonymous volumes).
WORKDIR /var/lib/tickflow
EXPOSE 9464

USER ${TICKFLOW_UID}:${TICKFLOW_GID}
ENTRYPOINT ["tickflow"]
CMD ["--help"]
