# syntax=docker/dockerfile:1
# node-red-runner: runs a Node-RED engine build under Engine Toolkit.
#   docker build -t node-red-runner .                      # with Engine Toolkit (default target)
#   docker build -t node-red-runner:local --target local . # without it, for a laptop
ARG NODE_IMAGE=node:20-bookworm-slim
ARG TOOLKIT_IMAGE=veritone/aiware-engine-toolkit:latest

# Build: compile the TypeScript.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY core ./core
COPY nodes ./nodes
COPY runner ./runner
COPY simulator ./simulator
COPY scripts ./scripts
RUN npm run build

# The runner without Engine Toolkit: production dependencies, plus the Node-RED it embeds.
FROM ${NODE_IMAGE} AS local
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts \
 && npm install --no-save --ignore-scripts "node-red@$(node -p "require('./package-lock.json').packages['node_modules/node-red'].version")" \
 && npm cache clean --force \
 && mkdir -p /cache/nodered && chown -R node:node /cache
COPY --from=build /src/dist/core ./dist/core
COPY --from=build /src/dist/nodes ./dist/nodes
COPY --from=build /src/dist/runner ./dist/runner
COPY --from=build /src/dist/simulator ./dist/simulator
COPY examples ./examples
COPY runner/main.js ./main.js
# Engine Toolkit passes AIWARE_* variables to the engine only when they are on this list.
ENV AIWARE_ENV_WHITE_LIST=AIWARE_BUILD_RUNTIME,AIWARE_AUTOMATE_SHARE_FOLDER \
    VERITONE_WEBHOOK_PROCESS=http://0.0.0.0:8888/process \
    VERITONE_WEBHOOK_READY=http://0.0.0.0:8888/readyz
USER node
EXPOSE 8888
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD ["node", "-e", "fetch(process.env.VERITONE_WEBHOOK_READY.replace('0.0.0.0','127.0.0.1')).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "main.js"]

FROM ${TOOLKIT_IMAGE} AS toolkit

# The image Engine Toolkit runs: the toolkit binary in front of the runner.
FROM local AS engine
COPY --from=toolkit /opt/aiware/engine /app/engine
ENTRYPOINT ["/app/engine", "node", "main.js"]
