# One image for every FDXP process: gateway, relay, simulators, connectors (`fdxp <command>`).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GX_ANALYTICS_ENABLED=false
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY catalog catalog
COPY schemas schemas
COPY connectors connectors
COPY simulators simulators
COPY benchmarks benchmarks
RUN pip install --no-cache-dir . && useradd --create-home fdxp && mkdir -p /data /keys /state \
    && chown fdxp /data /keys /state
USER fdxp
ENTRYPOINT ["fdxp"]
CMD ["run", "--host", "0.0.0.0", "--port", "8000"]
