now=$(date +%s); deadline=$((now + $1)); next_report=$now; shift
n=0; tick=0; next=0; gap=10; seen=0
while :; do
  if [ $seen -eq 0 ] && [ -S /var/run/docker.sock ]; then seen=1; gap=1; next=$tick; fi
  if [ $tick -ge $next ]; then
    n=$((n + 1))
    if out=$(docker version --format '{{.Server.Version}}' 2>&1); then
      echo "ready $n $out"
      for image in "$@"; do echo "image $(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || echo -) $image"; done
      exit 0
    fi
    out=$(printf '%s' "$out" | tail -n 1)
    now=$(date +%s)
    if [ $now -ge $deadline ]; then echo "gave up $n $out"; exit 3; fi
    if [ $now -ge $next_report ]; then echo "waiting $n $out"; next_report=$((now + 5)); fi
    if [ $seen -eq 1 ]; then gap=$((gap * 2)); [ $gap -gt 10 ] && gap=10; fi
    next=$((tick + gap))
  fi
  tick=$((tick + 1)); sleep 0.1
done
