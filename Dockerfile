FROM python:3.11-slim

WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md alembic.ini ./
COPY schema schema
COPY feeds feeds
COPY betting betting
COPY insights insights
COPY auth auth
COPY store store
COPY resolvers resolvers
COPY gateway gateway
COPY migrations migrations
RUN pip install --no-cache-dir .

ENV ODDSGATE_HOST=0.0.0.0 ODDSGATE_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["oddsgate", "serve"]
