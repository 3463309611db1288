#!/bin/sh
# Client side of dind-compose/dind (what docker:cli's entrypoint does):
# `docker run IMAGE ps` runs `docker ps`; with DOCKER_HOST unset and no local
# socket, the daemon is tcp://docker:2376 (TLS) or :2375; with client
# certificates in $DOCKER_TLS_CERTDIR/client, TLS verification is turned on.
set -e

# first arg is `-f` or `--some-option`
if [ "${1#-}" != "$1" ]; then
	set -- docker "$@"
fi
# a docker subcommand: run it through docker (docker run IMAGE version)
if [ "$#" -gt 0 ] && [ "$1" != docker ] && docker help "$1" > /dev/null 2>&1; then
	set -- docker "$@"
fi

_should_tls() {
	[ -n "${DOCKER_TLS_CERTDIR:-}" ] \
		&& [ -s "$DOCKER_TLS_CERTDIR/client/ca.pem" ] \
		&& [ -s "$DOCKER_TLS_CERTDIR/client/cert.pem" ] \
		&& [ -s "$DOCKER_TLS_CERTDIR/client/key.pem" ]
}

if [ -z "${DOCKER_HOST:-}" ] && [ ! -S /var/run/docker.sock ]; then
	if _should_tls || [ -n "${DOCKER_TLS_VERIFY:-}" ]; then
		export DOCKER_HOST='tcp://docker:2376'
	else
		export DOCKER_HOST='tcp://docker:2375'
	fi
fi
if [ -n "${DOCKER_HOST:-}" ] && [ -z "${DOCKER_CERT_PATH:-}" ] && _should_tls; then
	case "$DOCKER_HOST" in
		tcp://*)
			export DOCKER_TLS_VERIFY=1
			export DOCKER_CERT_PATH="$DOCKER_TLS_CERTDIR/client"
			;;
	esac
fi

exec "$@"
