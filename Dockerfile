# GovGrid image: web (gunicorn), Celery worker and beat all run from it (see docker-compose.yml).
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json bin/vendor-assets ./
RUN npm install --omit=dev --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    && sh vendor-assets /build /build/vendor

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 GOVGRID_VAR_DIR=/var/lib/govgrid
WORKDIR /app
RUN useradd --system --create-home --home-dir /home/govgrid govgrid \
    && mkdir -p /var/lib/govgrid && chown govgrid /var/lib/govgrid
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
COPY --from=assets /build/vendor static/vendor
# The production static build (hashed names, gzip), with throw-away keys (no data is read):
# tests/project/test_production.py runs this very step.
RUN SECRET_KEY=collectstatic-only GOVGRID_FIELD_KEYS=Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXJlYWwta2U= GOVGRID_HMAC_KEY=collectstatic-only DEBUG=false \
    python manage.py collectstatic --noinput
USER govgrid
EXPOSE 8000
# The same command as docker-compose.yml's web service (migrate, then gunicorn with gunicorn.conf.py).
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn govgrid.wsgi:application --config gunicorn.conf.py"]
