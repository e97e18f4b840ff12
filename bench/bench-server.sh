# Sourced by the bench scripts that start `streamsight serve` on port 0
# (embed.sh, load.sh): its working directory and its port.
#
# bench_server_init: tmp, a new directory (the server's config and output
# go there), and pid, empty until the caller sets it to the server's. On
# exit the server is killed and tmp removed (an EXIT trap).
bench_server_init() {
  tmp=$(mktemp -d)
  pid=
  trap bench_server_cleanup EXIT
}

bench_server_cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}

# server_port NAME PID OUT ERR: waits up to 30 s for the server PID to print
# its "listening on http://127.0.0.1:PORT/" line into OUT and prints PORT.
# When the server exits first or never says where it listens: its stderr
# (ERR) and "NAME: the server did not start" on stderr, status 1.
server_port() {
  local name=$1 pid=$2 out=$3 err=$4 port
  for _ in $(seq 1 300); do
    grep -q "listening on" "$out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; return 1; }
    sleep 0.1
  done
  port=$(grep -o '127.0.0.1:[0-9]*' "$out" | head -1 | cut -d: -f2)
  if [ -z "$port" ]; then
    echo "$name: the server did not start" >&2
    cat "$err" >&2
    return 1
  fi
  echo "$port"
}
