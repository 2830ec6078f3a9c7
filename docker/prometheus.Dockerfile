# Prometheus from Debian's package (extracted by scripts/prometheus.sh, not installed),
# with the glibc libraries it links, staged by scripts/build-images.sh. No base image:
# there is no registry to pull from.
FROM scratch
COPY rootfs/ /
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=0.0.0.0:9090"]
