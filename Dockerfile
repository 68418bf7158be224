# The connector's image: `airmp worker` by default, every other `airmp` command beside it.
#   make image                      # docker build -t air-mparticle:dev . (with the labels' values)
#   docker run air-mparticle:dev    # the worker; AIRMP_ variables configure it (README)
# Two stages: the builder installs the app into a venv, the final stage copies only that venv
# onto a fresh base, so no compiler, pip cache or source tree ships. The base is an argument
# so a platform team can pin its own (a digest, a hardened python:3.11 image).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
WORKDIR /src
# The dependency pins first, then the code, so a code change re-uses nothing it should not.
COPY pyproject.toml constraints.txt README.md ./
COPY config ./config
COPY mappers ./mappers
COPY sinks ./sinks
COPY streams ./streams
COPY ops ./ops
COPY testkit ./testkit
# Not editable: the packages land in the venv's site-packages and /src is left behind.
# pip and setuptools go afterwards: nothing installs at run time.
RUN /opt/venv/bin/pip install -c constraints.txt . \
 && /opt/venv/bin/pip uninstall -y -q pip setuptools \
 && /opt/venv/bin/airmp --help >/dev/null

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="air-mparticle" \
      org.opencontainers.image.description="Eagle Eye AIR <-> mParticle connector: a Faust stream processor on Kafka (airmp worker)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
# A fixed uid, so a volume or a Kubernetes securityContext (runAsUser, fsGroup) can name it.
RUN groupadd --gid 10001 airmp \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin airmp \
 && mkdir -p /data && chown airmp:airmp /data
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRMP_DATA_DIR=/data
# The worker writes nothing outside /data (RocksDB tables, the local endpoints' --record files):
# mount a volume there to keep the tables across restarts (no VOLUME here, so one-off
# commands such as `airmp lag` leave no anonymous volume behind).
WORKDIR /data
USER 10001:10001
EXPOSE 6066
# airmp is PID 1: Faust's worker handles SIGTERM itself (docker stop, a pod's termination),
# finishing deliveries within AIRMP_DELIVERY_GRACE_SECONDS.
ENTRYPOINT ["airmp"]
CMD ["worker"]
