# The shell runner with all four connectors, for the one-shot flow services of docker-compose.yml.
# Build context: the repository root (the runner starts each connector from its folder).
FROM python:3.11-slim
WORKDIR /app
COPY source-pylon ./source-pylon
COPY source-planhat ./source-planhat
COPY destination-dust ./destination-dust
COPY destination-postgres-support ./destination-postgres-support
COPY integration_tests ./integration_tests
RUN pip install --no-cache-dir ./source-pylon ./source-planhat ./destination-dust \
        ./destination-postgres-support ./integration_tests \
    && useradd --create-home --uid 1000 runner && mkdir -p /state && chown runner /state
USER runner
WORKDIR /app/integration_tests
ENTRYPOINT ["python", "-m", "flows"]
CMD ["list"]
