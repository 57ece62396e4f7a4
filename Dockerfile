# Spinneret: one image for every service (api, worker, beat, crawler, migrate).
# Build: docker build -t spinneret .   Run: see docker-compose.yml and docs/operations.md.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY matcher ./matcher
COPY crawler ./crawler
COPY worker ./worker
COPY records ./records
COPY notices ./notices
COPY api ./api
COPY runtime ./runtime
COPY spinneret ./spinneret
# Wheels of the package and every dependency (PostgreSQL driver included).
RUN pip wheel --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPINNERET_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/data/cache/numba \
    SPINNERET_API_HOST=0.0.0.0 \
    SPINNERET_API_PORT=8080 \
    SPINNERET_LOG_JSON=true
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels spinneret[postgres] \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 --user-group spinneret \
    && mkdir -p /data \
    && chown spinneret:spinneret /data
USER spinneret
WORKDIR /home/spinneret
VOLUME ["/data"]
EXPOSE 8080
# The API's liveness endpoint; services without an HTTP server turn this off in compose.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
CMD ["spinneret", "serve"]
