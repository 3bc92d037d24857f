# vkgw container image (Debian 12). Builds with the project's own installer
# and Makefile. Runs the gateway on /etc/vkgw/vkgw.json, by default
# deploy/vkgw.json (listening on 0.0.0.0:8080, so a published port
# answers; access log on standard output): mount your own configuration
# there (its listeners must use 0.0.0.0 to be reachable from outside the
# container). The runtime packages provide every shared library vkgw links
# (tests/e2e/gw_container.sh checks it against ldd).
FROM debian:12 AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN deploy/install-deps.sh
COPY . .
RUN make -j"$(nproc)" all

FROM debian:12-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
    liburing2 libjansson4 libmaxminddb0 android-libboringssl libstdc++6 ca-certificates libcrypt1 \
    libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblzma5 libzstd1 liblz4-1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vkgw \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vkgw
COPY --from=build /src/build/vkgw /usr/local/bin/vkgw
COPY deploy/vkgw.json /etc/vkgw/vkgw.json
# Not root: the image's port is above 1024, its log goes to stdout. The
# user is numeric so that Kubernetes' runAsNonRoot can verify it
# (deploy/kubernetes/ runs as 10001).
# `docker kill -s HUP` reloads (the configuration is checked first).
USER 10001
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vkgw", "-c", "/etc/vkgw/vkgw.json"]
