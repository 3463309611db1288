o=""
if [ "$1" = override ]; then o=$(mktemp); cat > "$o"; fi
policy=$2; keep=" $3 "
shift 3
if [ -n "$o" ]; then set -- "$@" --file "$o"; fi
docker compose "$@" up --detach --wait --remove-orphans --quiet-pull --build >&2; rc=$?
if [ $rc -eq 0 ] && [ -n "$policy" ]; then
  ids=$(docker compose "$@" ps --quiet --status running)
  if [ -n "$ids" ]; then
    docker inspect --format '{{.Id}} {{.HostConfig.RestartPolicy.Name}} {{index .Config.Labels "com.docker.compose.service"}}' $ids |
      while read -r id name svc; do
        case "$name" in "" | no) case "$keep" in *" $svc "*) ;; *) echo "$id" ;; esac ;; esac
      done | xargs -r docker update --restart "$policy" > /dev/null ||
      echo "warning: could not set restart policy $policy; after an engine restart, run pulumi up" >&2
  fi
fi
if [ $rc -eq 0 ]; then docker compose "$@" ps --all --format '{{.Service}}	{{.State}}'; rc=$?; fi
if [ -n "$o" ]; then rm -f "$o"; fi
exit $rc
