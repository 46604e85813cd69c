# mathlabel Airflow image: the official Airflow 3.3 image plus the pinned requirements and this project.
# Used by every Airflow service in docker-compose.yaml (api-server, scheduler, dag-processor, triggerer,
# Celery workers, init) and built and pushed by the GitLab `build` job:
#   docker build -f docker/airflow.Dockerfile -t mathlabel-airflow:dev .
# Build context: the project root (.dockerignore keeps .venv, var/, .git and caches out).
FROM apache/airflow:3.3.2-python3.11

# libgomp1: OpenMP runtime needed by the FalkorDB module and torch's CPU kernels; Tesseract with Korean data reads
# problem images, fonts-nanum renders synthetic training pages, poppler-utils rasterises PDFs (the Makefile's list).
USER root
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libgomp1 fonts-nanum tesseract-ocr tesseract-ocr-kor poppler-utils \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

USER airflow
WORKDIR /opt/airflow

# Dependencies first, so that a code change does not re-install them. requirements.txt pins
# apache-airflow==3.3.2 (the base image's version), so pip cannot move Airflow itself.
COPY --chown=airflow:0 requirements.txt /opt/airflow/mathlabel-src/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/mathlabel-src/requirements.txt

# The project itself, installed without dependencies (they are all in requirements.txt).
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/mathlabel-src/
COPY --chown=airflow:0 mathlabel/ /opt/airflow/mathlabel-src/mathlabel/
COPY --chown=airflow:0 labeling/ /opt/airflow/mathlabel-src/labeling/
COPY --chown=airflow:0 training/ /opt/airflow/mathlabel-src/training/
COPY --chown=airflow:0 graph_seed/ /opt/airflow/mathlabel-src/graph_seed/
COPY --chown=airflow:0 stores/ /opt/airflow/mathlabel-src/stores/
COPY --chown=airflow:0 review/ /opt/airflow/mathlabel-src/review/
COPY --chown=airflow:0 operators/ /opt/airflow/mathlabel-src/operators/
COPY --chown=airflow:0 plugins/ /opt/airflow/mathlabel-src/plugins/
RUN pip install --no-cache-dir --no-deps /opt/airflow/mathlabel-src

# What Airflow parses and loads.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

# mathlabel's data folder; in production the stores are S3, Neo4j, MongoDB and MLflow (see docker-compose.yaml),
# so this holds only scratch files. An absolute path: the installed package has no project root.
ENV MATHLABEL_VAR_DIR=/opt/airflow/var
RUN mkdir -p /opt/airflow/var
