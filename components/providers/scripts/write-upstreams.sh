rm -rf @GATEWAY_UPSTREAMS_DIR@ && mkdir -p @GATEWAY_UPSTREAMS_DIR@ && tar -x -f - -C / || exit 1
# A gateway that is still starting has no pid file to signal yet (its nginx reads the files as it starts).
i=0; while [ ! -s @NGINX_PID_FILE@ ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
exec "$@"
