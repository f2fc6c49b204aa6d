# Seatmeter's image: one image for the portal (gunicorn), the Celery worker, beat and the one-shot
# migration. Dependencies come from the hash-checked lock (requirements/runtime.txt), so an image
# built today and one built next month hold the same releases. See docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid so volumes and secrets can be granted to it from the host.
RUN groupadd --system --gid 10001 seatmeter \
    && useradd --system --uid 10001 --gid seatmeter --home-dir /app --shell /usr/sbin/nologin seatmeter

WORKDIR /app

# The lock first: this layer is rebuilt only when a dependency changes, not for every code change.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --require-hashes --no-deps -r requirements/runtime.txt

COPY pyproject.toml README.md CHANGELOG.md wsgi.py ./
COPY portal portal
COPY provisioning provisioning
COPY metering metering
COPY migrations migrations
# Editable, so `seatmeter db upgrade` finds migrations/ beside the packages. instance/ holds the
# SQLite files of an unconfigured run and the compose file's generated secret key: the app's to write.
RUN pip install --no-deps -e . \
    && mkdir -p instance \
    && chown seatmeter:seatmeter instance

USER seatmeter:seatmeter
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/login', timeout=4).status != 200)"]

# WEB_CONCURRENCY (gunicorn reads it) sets the number of web processes; the worker and beat
# services of compose.yaml override this command. Forwarded headers are believed through the
# portal's own TRUSTED_PROXIES setting (ProxyFix), not through gunicorn's.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "wsgi:app"]
