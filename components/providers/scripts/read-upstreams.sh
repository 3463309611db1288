cd @GATEWAY_UPSTREAMS_DIR@ 2>/dev/null || exit 0; for f in */address.conf; do [ -f "$f" ] && printf '%s %s\n' "${f%%/*}" "$(cat "$f")"; done; exit 0
