# The kcp image: `docker build -t kcp:<version> .` from the repository root
# (the version `kcp version` prints; the Deployment that `kcp create-asset
# replicator` writes runs `kcp:<version>`). See docs/replicator.md#the-image.
#
# No container engine runs where kcp is developed: no image has been built
# from this file there. tests/cli/image.rs runs this file's build commands
# outside a container (same command line, same features) on every test run,
# runs the binary they make, and checks that the runtime image below carries
# every shared library it links, so that this file cannot rot unseen.
#
# Both base images are pinned by version and digest. The digests were taken
# from public Dockerfiles that pin the same tags, not pulled here (no
# registry was reachable); refresh them with
#   docker buildx imagetools inspect rust:1.95.0-trixie
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian13:nonroot
# and keep the Debian release of both stages the same.

# Build: the full Rust image (Debian 13) has what the build needs: a C
# compiler, make and perl for librdkafka (built from source and linked
# statically, as zstd is), and OpenSSL's and zlib's headers.
FROM rust:1.95.0-trixie@sha256:0861191076afc8e2dfcf0bec6ad6c2dec8494b3a1e9249729e1989690afed5ec AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kcp

# Run: distroless cc (Debian 13) has glibc, libgcc, OpenSSL 3 (libssl3t64),
# zlib and the CA certificates, and no shell or package manager. kcp links
# OpenSSL and zlib from there rather than vendoring them, so a refreshed
# base digest brings Debian's security fixes without rebuilding kcp.
FROM gcr.io/distroless/cc-debian13:nonroot@sha256:54df941ed0d06a1bd95ef5e0ce391fd8d9f94b64782dc9a60062727849ee3f97
COPY --from=build /src/target/release/kcp /usr/local/bin/kcp
# librdkafka (through OpenSSL) and rustls both read the CA bundle from here.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# `nonroot` in distroless; numeric, so that Kubernetes' runAsNonRoot can
# check it (the generated Deployment runs as the same uid and gid).
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/kcp"]
CMD ["--help"]
