# Quartermaster services in one image: the binaries and the few glibc libraries they
# link, staged by scripts/build-images.sh. No base image: there is no registry to pull from.
FROM scratch
COPY rootfs/ /
ENV QM_NATS_URL=nats://nats:4222
ENTRYPOINT ["/bin/qm"]
