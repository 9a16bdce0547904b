# syntax=docker/dockerfile:1
# amagent's container image (docs/container.md). Build stages: `deps` compiles the dependencies
# only (a layer that stays cached until Cargo.toml or Cargo.lock changes), `build` compiles
# amagent on top of it. Final stages, each a slim Debian with the binary, CA certificates and
# libssl (git2's https transport), running as a non-root user:
#
#   full (default)   + buildah (vfs storage, chroot isolation: no daemon, no privileged mounts)
#                    for `amagent build` in the container
#   slim             no buildah: for agents whose images are built elsewhere (e.g. CodeBuild)
#
#   docker build -t amagent .                      # or: buildah bud --layers --format docker -t amagent .
#   docker build --target slim -t amagent:slim .
#   scripts/container-image                        # buildah, with base images made locally (docs/container.md)
#
# The base images are build arguments so the same file builds from locally made bases where
# Docker Hub is out of reach. RUST_IMAGE needs Rust >= 1.94 (Cargo.toml rust-version), gcc and
# apt; RUNTIME_IMAGE must be Debian trixie-like (apt, libssl3t64).
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-trixie
ARG RUNTIME_IMAGE=docker.io/library/debian:trixie-slim

FROM ${RUST_IMAGE} AS deps
ARG DEBIAN_FRONTEND=noninteractive
# libgit2 and libz-sys link the system zlib (found through pkg-config), git2's https transport
# the system OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config zlib1g-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV CARGO_HOME=/usr/local/cargo
# The Cargo profile of the shipped binary (Cargo.toml [profile.dist]).
ARG CARGO_PROFILE=dist
COPY Cargo.toml Cargo.lock ./
# Every target Cargo.toml declares as a stub, so cargo builds the dependencies alone: this layer
# is reused while the manifest and lock file stay the same, whatever the sources do. The stub
# main panics, so a stub that survived into the image would fail the smoke test; its artefacts
# are removed anyway. Crates come from crates.io (--locked: exactly Cargo.lock); the registry is
# a cache mount (downloads reused across builds), target/ is in the layer (what is cached).
RUN --mount=type=cache,id=amagent-cargo-registry,target=/usr/local/cargo/registry \
    mkdir -p agent benches \
 && : > agent/lib.rs \
 && echo 'fn main() { panic!("dependency-layer stub") }' > agent/main.rs \
 && for b in $(awk '/^\[\[bench\]\]/ {b = 1; next} /^\[/ {b = 0} b && $1 == "name" {gsub(/"/, "", $3); print $3}' Cargo.toml); do \
      cp agent/main.rs "benches/$b.rs"; \
    done \
 && cargo build --profile "$CARGO_PROFILE" --locked --bin amagent \
 && rm -rf agent "target/$CARGO_PROFILE/.fingerprint/amagent-"* "target/$CARGO_PROFILE/deps/"*amagent* \
      "target/$CARGO_PROFILE/amagent"*

FROM deps AS build
# Only this stage reruns after a source change: it compiles amagent and links it (LTO) against
# the dependencies compiled above. (An ARG does not carry over into the next stage.)
ARG CARGO_PROFILE=dist
# The example configuration is compiled in (include_str!: `amagent demo`, `doctor`, config tests).
COPY environments environments
COPY pipelines pipelines
COPY agent agent
RUN --mount=type=cache,id=amagent-cargo-registry,target=/usr/local/cargo/registry \
    cargo build --profile "$CARGO_PROFILE" --locked --bin amagent \
 && install -m 0755 "target/$CARGO_PROFILE/amagent" /usr/local/bin/amagent

# What both final stages share; no layer here depends on the sources or the version, so a
# rebuild after a source change reuses them (and the buildah layer on top).
FROM ${RUNTIME_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# ca-certificates: the TLS roots of the AWS SDK, GitHub and registry clients; libssl3t64: git2's
# https transport. (No git: clones and fetches go through libgit2 in the binary.) apt's caches go
# too: a base without Docker Hub's docker-clean apt setting would keep the .debs and package
# caches (about 130 MB after the buildah install below).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3t64 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/*
# Non-root, with a fixed numeric id (Kubernetes runAsNonRoot checks it). Home holds the source
# cache (~/.cache/amagent), buildah's storage (~/.local/share/containers) and, as the working
# directory, the journal (.amagent/journal).
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/amagent \
        --shell /usr/sbin/nologin amagent
# AMAGENT_LISTEN: `amagent run` has no default listen address; the image serves the webhook,
# /healthz and /metrics on 8080 (what EXPOSE and the HEALTHCHECK below expect).
ENV AMAGENT_LISTEN=0.0.0.0:8080
WORKDIR /home/amagent
EXPOSE 8080
# `amagent run` serves GET /healthz on its listen address. bash (in every Debian image) speaks
# the request itself: curl and its libraries would add about 10 MB for this one line.
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["amagent"]
CMD ["run"]

FROM runtime AS slim
ARG VERSION=dev
ARG REVISION=
ARG SOURCE=
COPY --from=build /usr/local/bin/amagent /usr/local/bin/amagent
USER 10001:10001
LABEL org.opencontainers.image.title="amagent" \
      org.opencontainers.image.description="GitOps deployment agent for AWS ECS (without buildah: images are built elsewhere)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

FROM runtime AS full
ARG DEBIAN_FRONTEND=noninteractive
# buildah builds the services' images (vfs + chroot: works without a daemon or overlay mounts);
# uidmap gives it the subordinate ids it maps when running as a non-root user. Named so apt picks
# the smaller of each alternative buildah's dependencies allow: gpg (what libgpgme needs) rather
# than all of gnupg (dirmngr, gpgsm, gpg-agent, GnuTLS, LDAP), and netavark (17 MB) rather than
# containernetworking-plugins (55 MB, plus iptables) as the container network stack. The dpkg
# filter leaves out Debian's /usr/libexec/buildah: buildah's test programs (tutorial, copy,
# imgtype, serve, inet, testreport: 95 MB), which buildah itself never runs.
RUN echo 'path-exclude /usr/libexec/buildah/*' > /etc/dpkg/dpkg.cfg.d/amagent-buildah \
 && apt-get update \
 && apt-get install -y --no-install-recommends buildah uidmap gpg netavark \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/* \
 && echo "amagent:100000:65536" > /etc/subuid \
 && echo "amagent:100000:65536" > /etc/subgid
ENV STORAGE_DRIVER=vfs \
    BUILDAH_ISOLATION=chroot
ARG VERSION=dev
ARG REVISION=
ARG SOURCE=
COPY --from=build /usr/local/bin/amagent /usr/local/bin/amagent
USER 10001:10001
LABEL org.opencontainers.image.title="amagent" \
      org.opencontainers.image.description="GitOps deployment agent for AWS ECS: environments repo in, health-gated rolling deploys out" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
