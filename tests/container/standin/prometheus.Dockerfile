# Stand-in for `prom/prometheus` (docker-compose.yml, service `prometheus`): Debian's Prometheus
# on the stand-in base; the compose file gives its arguments, as it does to the official image.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
USER prometheus
WORKDIR /prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
