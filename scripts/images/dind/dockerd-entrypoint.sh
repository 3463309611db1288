#!/bin/sh
# Entrypoint of dind-compose/dind: a stand-in for docker:dind, built from
# Debian packages, that honours the official image's contract:
#   - no arguments, or only dockerd options (-x/--xxx): start dockerd;
#   - DOCKER_TLS_CERTDIR (default /certs): TLS material in
#     $DOCKER_TLS_CERTDIR/{ca,server,client}/..., generated on first start,
#     dockerd on tcp://0.0.0.0:2376 with --tlsverify; empty: no TLS, 2375;
#   - DOCKER_TLS_SAN: extra comma-separated subjectAltName entries for the
#     server certificate (DNS:name, IP:address; a bare entry gets DNS:/IP:);
#   - DOCKER_IPTABLES_LEGACY: 1 forces iptables-legacy, 0 forces nft; unset:
#     detected (legacy when nft does not work or legacy rules exist);
#   - any other command (`docker ...`, `sh`) runs through docker-entrypoint.sh,
#     so the image doubles as a docker/compose client image.
# Keys are ECDSA P-256 (fast to generate; the official image uses RSA).
set -eu

_tls_key() { # _tls_key FILE: a private key, unless one is there
	[ -s "$1" ] && return 0
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null
	mv "$1.tmp" "$1"
}

# Normalised, sorted, comma-separated subjectAltName list for the server cert.
_tls_san() {
	{
		ip -oneline address 2>/dev/null | sed -nE 's/^[0-9]+: +[^ ]+ +inet6? +([^/ ]+).*/IP:\1/p'
		echo 'IP:127.0.0.1'
		for name in "$(cat /etc/hostname 2>/dev/null || :)" "$(uname -n)" docker localhost; do
			[ -z "$name" ] || echo "DNS:$name"
		done
		printf '%s\n' "${DOCKER_TLS_SAN:-}" | tr ',' '\n' | sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' | while read -r entry; do
			case "$entry" in
				'') ;;
				DNS:*|IP:*|email:*|URI:*|RID:*|dirName:*|otherName:*) echo "$entry" ;;
				*:*) echo "IP:$entry" ;; # a bare IPv6 address
				*[!0-9.]*) echo "DNS:$entry" ;;
				*) echo "IP:$entry" ;;
			esac
		done
	} | sort -u | paste -sd, -
}

# _tls_sign DIR NAME SUBJECT EXTFILE-CONTENT: (re)issue DIR/NAME/cert.pem from the CA
_tls_sign() {
	dir="$1" name="$2" subject="$3" ext="$4"
	mkdir -p "$dir/$name"
	_tls_key "$dir/$name/key.pem"
	printf '[ x509_exts ]\n%s\n' "$ext" > "$dir/$name/openssl.cnf"
	openssl req -new -key "$dir/$name/key.pem" -out "$dir/$name/csr.pem" -subj "$subject"
	openssl x509 -req -in "$dir/$name/csr.pem" \
		-CA "$dir/ca/cert.pem" -CAkey "$dir/ca/key.pem" -CAcreateserial \
		-out "$dir/$name/cert.pem.tmp" -days "$certValidDays" \
		-extfile "$dir/$name/openssl.cnf" -extensions x509_exts 2>/dev/null
	cp "$dir/ca/cert.pem" "$dir/$name/ca.pem.tmp"
	openssl verify -CAfile "$dir/$name/ca.pem.tmp" "$dir/$name/cert.pem.tmp" > /dev/null
	mv "$dir/$name/ca.pem.tmp" "$dir/$name/ca.pem"
	mv "$dir/$name/cert.pem.tmp" "$dir/$name/cert.pem" # last: its presence means "ready"
}

# _tls_fresh CERT: exists and is valid for 30 more days
_tls_fresh() { [ -s "$1" ] && openssl x509 -noout -checkend 2592000 -in "$1" > /dev/null 2>&1; }

_tls_generate_certs() {
	dir="$1"
	certValidDays=825
	# A CA private key (or no CA at all) means: this container manages the CA.
	# Certificates provided without a CA key are left alone, as upstream does.
	if [ -s "$dir/ca/key.pem" ] || [ ! -s "$dir/ca/cert.pem" ]; then
		mkdir -p "$dir/ca"
		_tls_key "$dir/ca/key.pem"
		if ! _tls_fresh "$dir/ca/cert.pem"; then
			echo "dind: generating the CA in $dir/ca" >&2
			openssl req -new -x509 -key "$dir/ca/key.pem" -out "$dir/ca/cert.pem.tmp" \
				-subj '/CN=docker:dind CA' -days "$certValidDays"
			mv "$dir/ca/cert.pem.tmp" "$dir/ca/cert.pem"
			rm -f "$dir/server/cert.pem" "$dir/client/cert.pem"
		fi
	fi
	[ -s "$dir/ca/key.pem" ] || return 0

	# Server: reissued when missing, expiring, or when its SANs (hostname,
	# addresses, DOCKER_TLS_SAN) changed since it was issued.
	san="subjectAltName = $(_tls_san)"
	if ! _tls_fresh "$dir/server/cert.pem" || [ "$(cat "$dir/server/openssl.cnf" 2>/dev/null || :)" != "$(printf '[ x509_exts ]\n%s' "$san")" ] \
		|| ! openssl verify -CAfile "$dir/ca/cert.pem" "$dir/server/cert.pem" > /dev/null 2>&1; then
		echo "dind: issuing the server certificate ($san)" >&2
		_tls_sign "$dir" server '/CN=docker:dind server' "$san"
	fi
	if ! _tls_fresh "$dir/client/cert.pem" || ! openssl verify -CAfile "$dir/ca/cert.pem" "$dir/client/cert.pem" > /dev/null 2>&1; then
		echo "dind: issuing the client certificate in $dir/client" >&2
		mkdir -p "$dir/client"
		_tls_key "$dir/client/key.pem"
		# shared with arbitrary client containers (openssl writes keys 0600)
		chmod 0644 "$dir/client/key.pem"
		_tls_sign "$dir" client '/CN=docker:dind client' 'extendedKeyUsage = clientAuth'
	fi
	rm -f "$dir"/server/csr.pem "$dir"/client/csr.pem
}

# iptables: nft (Debian's default) unless it does not work here or the
# network namespace already has legacy rules (what docker:dind does).
_iptables_select() {
	legacy=/usr/local/sbin/.iptables-legacy
	[ -d "$legacy" ] || return 0
	if [ -n "${DOCKER_IPTABLES_LEGACY+x}" ]; then
		[ "$DOCKER_IPTABLES_LEGACY" = 0 ] || PATH="$legacy:$PATH"
	elif (
		for f in /proc/net/ip_tables_names /proc/net/ip6_tables_names /proc/net/arp_tables_names; do
			if b="$(cat "$f" 2>/dev/null)" && [ -n "$b" ]; then exit 0; fi
		done
		exit 1
	); then
		echo "dind: legacy iptables rules present: using iptables-legacy" >&2
		PATH="$legacy:$PATH"
	elif ! iptables -nL > /dev/null 2>&1; then
		modprobe nf_tables > /dev/null 2>&1 || :
		if ! iptables -nL > /dev/null 2>&1; then
			PATH="$legacy:$PATH"
			if iptables -nL > /dev/null 2>&1; then
				echo "dind: iptables-nft does not work here: using iptables-legacy" >&2
			else
				echo "dind: WARNING: neither iptables-nft nor iptables-legacy works; dockerd will probably fail (missing NET_ADMIN?)" >&2
			fi
		fi
	fi
	export PATH
}

# no arguments, or the first one is a dockerd option
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	dockerSocket='unix:///var/run/docker.sock'
	case "${DOCKER_HOST:-}" in
		unix://*) dockerSocket="$DOCKER_HOST" ;;
	esac
	if [ -n "${DOCKER_TLS_CERTDIR:-}" ] \
		&& _tls_generate_certs "$DOCKER_TLS_CERTDIR" \
		&& [ -s "$DOCKER_TLS_CERTDIR/server/ca.pem" ] \
		&& [ -s "$DOCKER_TLS_CERTDIR/server/cert.pem" ] \
		&& [ -s "$DOCKER_TLS_CERTDIR/server/key.pem" ]; then
		set -- dockerd \
			--host="$dockerSocket" \
			--host=tcp://0.0.0.0:2376 \
			--tlsverify \
			--tlscacert "$DOCKER_TLS_CERTDIR/server/ca.pem" \
			--tlscert "$DOCKER_TLS_CERTDIR/server/cert.pem" \
			--tlskey "$DOCKER_TLS_CERTDIR/server/key.pem" \
			"$@"
	else
		# TLS disabled (DOCKER_TLS_CERTDIR='') or certificates missing
		set -- dockerd \
			--host="$dockerSocket" \
			--host=tcp://0.0.0.0:2375 \
			"$@"
	fi
fi

# After a restart (of this container, of the engine, a reboot), dockerd starts again every
# container whose restart policy says so, once: a start that fails then (seen under load:
# "runc create failed: ... read init-p: connection reset by peer") is not tried again, and that
# service stays down. For two minutes after dockerd answers, start again every container with
# such a policy whose last start failed (State.Error set; one stopped by hand has none).
_retry_failed_starts() {
	i=0
	until docker version > /dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 600 ] && return 0; sleep 0.2
	done
	for _ in $(seq 24); do
		sleep 5
		ids=$(docker ps --all --quiet --filter status=exited --filter status=created) || continue
		[ -n "$ids" ] || continue
		# shellcheck disable=SC2086 # one argument per ID
		docker inspect --format '{{.Id}} {{.HostConfig.RestartPolicy.Name}} {{if .State.Error}}failed{{end}}' $ids 2> /dev/null |
			while read -r id policy failed; do
				case "$policy:$failed" in
					always:failed | unless-stopped:failed) docker start "$id" > /dev/null 2>&1 && echo "dind: started $id again (its start after the restart had failed)" >&2 ;;
				esac
			done
	done
}

if [ "$1" = dockerd ]; then
	# a pidfile left by an unclean stop would keep dockerd from starting
	find /run /var/run -iname 'docker*.pid' -delete 2> /dev/null || :
	_iptables_select
	_retry_failed_starts &
	set -- /usr/local/bin/dind "$@"
else
	set -- /usr/local/bin/docker-entrypoint.sh "$@"
fi

exec "$@"
