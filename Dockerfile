# Dockerfile - one image holding all six services; the command names the one to run:
#   docker build -t commerce .        docker run commerce catalog
# Stage 1 builds with the Debian -dev packages (the list of scripts/deps.sh); stage 2 has only
# the runtime libraries, curl for the health checks, the binaries, each service's migrations,
# contracts/ and docs/openapi/ (GET /openapi.yaml; both read relative to WORKDIR /app).

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config librdkafka-dev libmicrohttpd-dev libmariadb-dev \
      libhiredis-dev libcjson-dev libcmocka-dev libssl-dev libcurl4-openssl-dev uuid-dev \
      libargon2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# release build (the same flags as `make`), then /out/app: bin/ (the services, commercectl),
# <svc>-service/migrations/ and contracts/
RUN make -j"$(nproc)" BUILD=/out \
 && mkdir -p /out/app/bin \
 && for d in *-service; do \
      cp "/out/bin/$d" /out/app/bin/ \
      && mkdir -p "/out/app/$d" \
      && cp -r "$d/migrations" "/out/app/$d/"; \
    done \
 && if [ -x /out/bin/commercectl ]; then cp /out/bin/commercectl /out/app/bin/; fi \
 && cp -r contracts /out/app/ \
 && mkdir -p /out/app/docs && cp -r docs/openapi /out/app/docs/ \
 && strip /out/app/bin/*

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libmicrohttpd12 libmariadb3 libhiredis0.14 libcjson1 libssl3 libcurl4 \
      libuuid1 libargon2-1 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 commerce \
 && useradd --system --uid 10001 --gid commerce --home-dir /app --shell /usr/sbin/nologin commerce
COPY --from=build /out/app /app
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /app
USER commerce
# the services listen on 127.0.0.1 unless told otherwise
ENV HTTP_BIND=0.0.0.0
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD []
