# l7proxy image: `docker build -t l7proxy:0.1.0 .`
# Stage 1 compiles the TypeScript, the native transparent-socket addon (binding.gyp) and re2
# from source; stage 2 is a slim runtime on the same Node major with the interception tools.
# test/integration/kubernetes/image.test.ts checks that every path copied here exists.

ARG NODE_MAJOR=20

FROM node:${NODE_MAJOR}-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# node-gyp uses the headers of the image's own Node instead of downloading them.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp ./
COPY src/intercept/native/ src/intercept/native/
# Install without running package scripts, then build both native modules from source:
# re2's install script would otherwise fetch a prebuilt binary.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && (cd node_modules/re2 && npx --no-install node-gyp rebuild -j max) \
 && npx --no-install node-gyp rebuild
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
# The Star Wars demo and its network-namespace cluster serve a source checkout, the tests and
# the benchmarks, not a node: the image leaves them out (`l7proxy demo` then says so).
# dist/netns/exec.js stays: the rule installer runs nft, ip and iptables through it.
RUN npx --no-install tsc -p tsconfig.build.json \
 && rm -rf dist/demo dist/cli/demo*.js* dist/netns/cluster.js* dist/netns/topology.js* dist/netns/dnsmasq.js* \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:${NODE_MAJOR}-bookworm-slim
# nft (rule backend), ip (policy routing for TPROXY), iptables (the alternative backend).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables iproute2 iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/build/Release/l7proxy_intercept.node build/Release/
# Runs as root, with the capabilities the pod grants (the DaemonSet drops all but NET_ADMIN).
# A non-root user cannot hold NET_ADMIN in Kubernetes: there are no ambient capabilities for
# containers, and file capabilities on /usr/local/bin/node, nft and ip would only work with
# allowPrivilegeEscalation: true, which is the weaker setting. See docs/kubernetes.md.
USER 0:0
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9901/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["run", "--help"]
