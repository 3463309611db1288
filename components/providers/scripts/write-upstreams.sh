rm -rf @GATEWAY_UPSTREAMS_DIR@ && mkdir -p @GATEWAY_UPSTREAMS_DIR@ && tar -x -f - -C / && exec "$@"
