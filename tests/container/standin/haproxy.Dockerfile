# Stand-in for the official `haproxy` image (docker-compose.yml, service `lb`): Debian's HAProxy
# on the stand-in base, laid out as the official image is (config path, user, stop signal).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# No services start while packages install (as in Debian's own images).
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
