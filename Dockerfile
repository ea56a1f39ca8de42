# The Health Synth worker: Node 20 running the TypeScript sources compiled to JavaScript (scripts/build.mjs),
# plus dbt (dbt-postgres, dbt-redshift) in its own virtualenv for the dbt activity, and the no-show model's
# scikit-learn and skops (ml/requirements.txt) in another for the predict activities.
# Built by docker-compose.yml; configuration comes from the environment (see src/config.ts).
FROM node:20-bookworm

# dbt 1.11 on Debian's Python 3.11; versions match what the project tests against.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3-venv fonts-dejavu-core fontconfig \
  && rm -rf /var/lib/apt/lists/* \
  && python3 -m venv /opt/dbt \
  && /opt/dbt/bin/pip install --no-cache-dir dbt-core==1.11.16 dbt-postgres==1.11.0 dbt-redshift==1.11.1

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

COPY bin ./bin
COPY scripts/ensure-deps.mjs scripts/build.mjs ./scripts/
COPY src ./src
# The CLI and the worker compiled to JavaScript in dist/, with the workflow code bundled ahead: the worker runs on
# plain Node (no TypeScript loader) and starts without webpack. `healthsynth` checks dist/ against src/ at start.
RUN node scripts/build.mjs --workflow-bundles
COPY --chown=node:node dbt ./dbt
COPY ml ./ml
RUN python3 -m venv /opt/ml && /opt/ml/bin/pip install --no-cache-dir -r ml/requirements.txt
RUN mkdir -p /app/.data && chown node:node /app/.data

ENV NODE_ENV=production \
    DBT_BIN=/opt/dbt/bin/dbt \
    ML_PYTHON=/opt/ml/bin/python \
    HEALTHSYNTH_DATA_DIR=/app/.data \
    WORKER_METRICS_PORT=9464 \
    WORKER_METRICS_HOST=0.0.0.0
USER node
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=12 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/metrics').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same command as `npm run worker`: it applies the worker's memory settings itself (WORKER_PROCESS_SETTINGS in
# src/worker-process.ts) and forwards `docker stop`'s SIGTERM to the worker.
CMD ["node", "bin/healthsynth.js", "worker"]
