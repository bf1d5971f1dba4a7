# syntax=docker/dockerfile:1
# The operator's image (docs/image.md). Build and push with scripts/image; scripts/check-static
# checks that this file builds and copies exactly what scripts/build-static produces.

ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The same script as on a workstation and in scripts/check-static; the crate downloads are cached.
RUN --mount=type=cache,target=/usr/local/cargo/registry scripts/build-static

# distroless/static, not cc: the binary is fully static (glibc, OpenSSL, libgit2 linked in).
# Name resolution needs no NSS modules either: glibc 2.34+ builds the "files" and "dns"
# services into libc itself, so a static binary resolves cluster service names through the
# /etc/hosts and /etc/resolv.conf the kubelet mounts (checked in an empty root, docs/image.md).
# The base brings what remains: the nonroot user (65532), CA certificates, tzdata, /tmp.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/promote-dev/promote"
COPY --from=builder /src/target/x86_64-unknown-linux-gnu/image/promote-operator /promote-operator
# OpenSSL's compiled-in default (/usr/lib/ssl) is the build machine's; name the image's bundle.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/promote-operator"]
