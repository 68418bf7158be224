# The connector's worker. Build: docker build -t air-mparticle .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY config ./config
COPY mappers ./mappers
COPY sinks ./sinks
COPY streams ./streams
COPY ops ./ops
COPY testkit ./testkit
RUN pip install --no-cache-dir -c constraints.txt . \
 && useradd --create-home airmp && mkdir -p /data && chown airmp /data
USER airmp
ENV AIRMP_DATA_DIR=/data
EXPOSE 6066
ENTRYPOINT ["airmp"]
CMD ["worker"]
