# syntax=docker/dockerfile:1
# node-red-runner: runs a Node-RED engine build under Engine Toolkit.
#   docker build -t node-red-runner .                      # with Engine Toolkit (default target)
#   docker build -t node-red-runner:local --target local . # without it, for a laptop
# The image is the runner package's production install, nothing else: Node-RED is there because
# the runner depends on it. test/packages.test.ts replays the install command of the local stage.
# Node 24 (LTS): the Node the repository is tested on (its devDependency `node`; test/dockerfile.test.ts).
ARG NODE_IMAGE=node:24-bookworm-slim
ARG TOOLKIT_IMAGE=veritone/aiware-engine-toolkit:latest

# Build: compile the packages and pack the two the image installs.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json tsconfig.pack.json ./
COPY runner/package.json runner/tsconfig.json ./runner/
COPY simulator/package.json simulator/tsconfig.json ./simulator/
RUN npm ci --ignore-scripts
COPY core ./core
COPY nodes ./nodes
COPY scripts ./scripts
COPY runner ./runner
COPY simulator ./simulator
COPY examples ./examples
COPY README.md LICENSE ./
RUN npm run build:packages \
 && node dist/scripts/pack.js /packs pack runner

# The runner without Engine Toolkit: the runner package and the pack, production dependencies only.
FROM ${NODE_IMAGE} AS local
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /packs /packs
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund /packs/*.tgz \
 && rm -rf /packs \
 && npm cache clean --force \
 && mkdir -p /cache/nodered && chown -R node:node /cache
# Engine Toolkit passes AIWARE_* variables to the engine only when they are on this list.
ENV AIWARE_ENV_WHITE_LIST=AIWARE_BUILD_RUNTIME,AIWARE_AUTOMATE_SHARE_FOLDER \
    VERITONE_WEBHOOK_PROCESS=http://0.0.0.0:8888/process \
    VERITONE_WEBHOOK_READY=http://0.0.0.0:8888/readyz
USER node
EXPOSE 8888
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD ["node", "-e", "fetch(process.env.VERITONE_WEBHOOK_READY.replace('0.0.0.0','127.0.0.1')).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
# Node's flags are RUNNER_NODE_FLAGS (runner/node-flags.ts), the ones the simulator and the bench
# start the runner with: test/dockerfile.test.ts fails when the two disagree.
ENTRYPOINT ["node", "--initial-old-space-size=128", "node_modules/@aiware-nodered/node-red-runner/main.js"]

FROM ${TOOLKIT_IMAGE} AS toolkit

# The image Engine Toolkit runs: the toolkit binary in front of the runner.
FROM local AS engine
COPY --from=toolkit /opt/aiware/engine /app/engine
ENTRYPOINT ["/app/engine", "node", "--initial-old-space-size=128", "node_modules/@aiware-nodered/node-red-runner/main.js"]
