# vkgw container image (Debian 12). Builds with the project's own installer
# and Makefile; runs the server on 0.0.0.0:8080.
FROM debian:12 AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN deploy/install-deps.sh
COPY . .
RUN make -j"$(nproc)" all

FROM debian:12-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends liburing2 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/vk_hello /usr/local/bin/vk_hello
EXPOSE 8080
STOPSIGNAL SIGTERM
# Until the gateway binary lands, the image serves the vkern hello example.
ENTRYPOINT ["/usr/local/bin/vk_hello", "-a", "0.0.0.0", "-p", "8080"]
