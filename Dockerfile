# syntax=docker/dockerfile:1
# amagent's container image. Stage 1 builds the binary with cargo; stage 2 is a slim Debian with
# what the agent needs at runtime: buildah (vfs storage, chroot isolation: no daemon, no
# privileged mounts) to build service images, git, CA certificates, and curl for the health check.
#
#   docker build -t amagent .                      # or: buildah bud --format docker -t amagent .
#   scripts/container-image                        # buildah, with base images made locally (docs/container.md)
#
# The base images are build arguments so the same file builds from locally made bases where
# Docker Hub is out of reach. RUST_IMAGE needs Rust >= 1.94 (Cargo.toml rust-version), gcc and
# apt; RUNTIME_IMAGE must be Debian-like (apt).
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-trixie
ARG RUNTIME_IMAGE=docker.io/library/debian:trixie-slim

FROM ${RUST_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# libgit2 and libz-sys link the system zlib (found through pkg-config).
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config zlib1g-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# benches/ only because Cargo.toml declares the bench targets (cargo reads them; nothing builds them).
COPY benches benches
COPY agent agent
# Crates come from crates.io (--locked: exactly Cargo.lock). The registry and target directories
# are cache mounts, so a rebuild after a source change recompiles only amagent itself; the binary is
# copied out of the cache in the same step.
RUN --mount=type=cache,id=amagent-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=amagent-target,target=/src/target \
    CARGO_HOME=/usr/local/cargo cargo build --profile dist --locked --bin amagent \
 && install -m 0755 target/dist/amagent /usr/local/bin/amagent

FROM ${RUNTIME_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
ARG VERSION=dev
ARG REVISION=
ARG SOURCE=
LABEL org.opencontainers.image.title="amagent" \
      org.opencontainers.image.description="GitOps deployment agent for AWS ECS: environments repo in, health-gated rolling deploys out" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# buildah builds the services' images (vfs + chroot: works without a daemon or overlay mounts);
# uidmap gives it the subordinate ids it maps when running as a non-root user; git clones the
# environments and source repos; curl is the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends buildah uidmap git ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
# AMAGENT_LISTEN: `amagent run` has no default listen address; the image serves the webhook,
# /healthz and /metrics on 8080 (what EXPOSE and the HEALTHCHECK below expect).
ENV STORAGE_DRIVER=vfs \
    BUILDAH_ISOLATION=chroot \
    AMAGENT_LISTEN=0.0.0.0:8080

# Non-root, with a fixed numeric id (Kubernetes runAsNonRoot checks it) and subordinate ids for
# buildah. Home holds the source cache (~/.cache/amagent), buildah's storage
# (~/.local/share/containers) and, as the working directory, the journal (.amagent/journal).
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/amagent \
        --shell /usr/sbin/nologin amagent \
 && echo "amagent:100000:65536" > /etc/subuid \
 && echo "amagent:100000:65536" > /etc/subgid
COPY --from=build /usr/local/bin/amagent /usr/local/bin/amagent

USER 10001:10001
WORKDIR /home/amagent
EXPOSE 8080
# `amagent run` serves GET /healthz on its --listen address (AMAGENT_LISTEN, set above).
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["amagent"]
CMD ["run"]
