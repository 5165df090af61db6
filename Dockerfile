# syntax=docker/dockerfile:1
# deltakv-server container image: one region of deltakv.
#
#   docker build -t registry.example.com/deltakv/deltakv-server:0.1.0 .
#
# scripts/image builds it with buildah on a debootstrap base and starts it;
# scripts/image-deps-check checks the runtime stage's packages against the
# binaries' shared libraries (docs/deploy.md, "How the image is checked").
#
# The build stage runs the same scripts as CI and developers (scripts/setup
# installs the Debian packages, scripts/build configures and builds), so the
# image is built the way the tests build. The runtime stage holds only the
# shared libraries the binaries link against (see `ldd deltakv-server`) plus
# lmdb-utils for hot backups (mdb_copy, docs/deploy.md).
#
# Configuration: DELTAKV_* environment variables and, optionally, a TOML file
# named by DELTAKV_CONFIG or --config (Kubernetes mounts one from a
# ConfigMap at /etc/deltakv/config/deltakv.toml, see k8s/base).

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build stage
FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
# scripts/setup only needs apt-get and dpkg-query; it runs as root here.
COPY scripts/setup scripts/setup
RUN DELTAKV_SETUP_NO_BROWSER=1 ./scripts/setup && rm -rf /var/lib/apt/lists/*
COPY . .
ENV CCACHE_DIR=/root/.cache/ccache
# Parallel compile jobs (scripts/build's DELTAKV_JOBS); empty: one per core.
ARG DELTAKV_JOBS=
RUN --mount=type=cache,target=/root/.cache/ccache \
    ./scripts/build build-release -DCMAKE_BUILD_TYPE=Release \
      -DDELTAKV_BUILD_TESTS=OFF -DDELTAKV_BUILD_BENCHMARKS=OFF \
 && strip build-release/gateway/deltakv-server build-release/tools/deltakv

# -------------------------------------------------------------- runtime stage
FROM ${DEBIAN_IMAGE} AS runtime
# Every shared library of the two binaries (ldd) comes from a package listed
# here or from the base image; scripts/image-deps-check checks it on every
# scripts/test, scripts/image builds and starts the image. libzmq5 brings
# libsodium23 (CurveZMQ), libpgm, libnorm and libgssapi-krb5; libtomlplusplus3
# reads the --config file; libstdc++6, libgcc-s1 and libzstd1 are already in
# the base image. libssl3 is the HTTPS of the API (server and CLI);
# ca-certificates is the system CA store the CLI verifies a server with when
# given no --ca-file.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libzmq5 liblmdb0 libspdlog1.10 libfmt9 libtomlplusplus3 libxxhash0 \
      libzstd1 libssl3 ca-certificates lmdb-utils \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 deltakv \
 && useradd --system --uid 10001 --gid deltakv --home-dir /var/lib/deltakv \
      --no-create-home --shell /usr/sbin/nologin deltakv \
 && install -d -o deltakv -g deltakv -m 0750 /var/lib/deltakv \
 && install -d -m 0755 /etc/deltakv
COPY --from=build /src/build-release/gateway/deltakv-server /usr/local/bin/deltakv-server
COPY --from=build /src/build-release/tools/deltakv /usr/local/bin/deltakv

ENV DELTAKV_DATA_DIR=/var/lib/deltakv \
    DELTAKV_HTTP=0.0.0.0:8080 \
    DELTAKV_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/deltakv
VOLUME ["/var/lib/deltakv"]
# 8080 API (HTTPS with --tls-cert-file/--tls-key-file, as the Kubernetes
# manifests run it); 8081 admin listener for /healthz, /readyz and /metrics
# (plain HTTP, with --admin-http / DELTAKV_ADMIN_HTTP, as the manifests run
# it); 7100 replication PUB; 7101 replication catch-up ROUTER.
EXPOSE 8080 8081 7100 7101
# SIGTERM drains in-flight requests, flushes and closes LMDB.
STOPSIGNAL SIGTERM
ENTRYPOINT ["deltakv-server"]
