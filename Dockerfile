# Lozenets Twin API. The database is not in this image: point DATABASE_URL at a PostGIS server
# (docker-compose.yml starts one). Sources are downloaded from their public URLs at `twin fetch`.
# MapLibre GL JS for /map, from the npm registry (pinned in package-lock.json); no CDN at run time.
FROM node:20-slim AS map
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin twin \
    && mkdir -p /home/twin/.twin && chown twin:twin /home/twin/.twin
WORKDIR /app

# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml README.md requirements/main.lock ./
RUN pip install --require-hashes --no-deps -r main.lock

COPY alembic.ini ./
COPY migrations ./migrations
COPY data ./data
COPY app ./app
COPY twin ./twin
COPY --from=map /build/node_modules/maplibre-gl/dist ./node_modules/maplibre-gl/dist
RUN pip install --no-deps -e .

USER twin
ENV TWIN_HOME=/home/twin/.twin \
    TWIN_HOST=0.0.0.0 \
    TWIN_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["twin", "serve"]
