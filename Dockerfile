# tcpplay in a container: a static-ish release build, run as a non-root user.
#   docker build -t tcpplay .
#   docker run --rm -p 12345:12345 -v tcpplay-data:/data tcpplay
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tcpplay

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home tcpplay
COPY --from=build /src/target/release/tcpplay /usr/local/bin/tcpplay
USER tcpplay
WORKDIR /data
VOLUME /data
EXPOSE 12345 9100
ENV TCPPLAY_SERVE__LOG_FORMAT=json TCPPLAY_SERVE__QUIET=true
# Health: `tcpplay check` connects to the chat port and reads the server's
# hello. /metrics, /healthz and /readyz are on 9100 (bound on all addresses
# inside the container; publish 9100 only to your monitoring network).
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD ["tcpplay", "--no-input", "check", "127.0.0.1:12345"]
ENTRYPOINT ["tcpplay", "--no-input"]
CMD ["serve", "--bind", "0.0.0.0", "--history", "/data/history.sqlite3", "--metrics", "0.0.0.0:9100"]
