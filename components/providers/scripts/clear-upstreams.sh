rm -rf @GATEWAY_UPSTREAMS_DIR@ && exec "$@"
