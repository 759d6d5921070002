#!/usr/bin/env bash
# End to end on the compose cluster: builds the image, starts a scheduler,
# two executors and the dashboard, runs the whole pipeline through the
# `client` service, runs `moodflow verify`, checks that the dashboard serves
# the run, and tears everything down, also on failure. Where no Docker
# engine answers it says so and skips (exit 0). Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "== compose end-to-end skipped: no Docker engine answers ('docker info' failed)"
  exit 0
fi
if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  echo "== compose end-to-end skipped: neither docker-compose nor 'docker compose' is installed"
  exit 0
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export MOODFLOW_IMAGE="moodflow:e2e"
export MOODFLOW_SCHEDULER_PORT="$(free_port)"
export MOODFLOW_DASHBOARD_PORT="$(free_port)"
project="moodflow-e2e-$$"
dc=("${compose[@]}" -p "$project" -f docker-compose.yml)

echo "== images"
# The unoptimised test build: the images users run are release builds
# (build-images.sh's default), which would cost the CI a 25-minute build.
MOODFLOW_PROFILE="${MOODFLOW_PROFILE:-ci}" deploy/build-images.sh

cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "== compose end-to-end FAILED; service logs:"
    "${dc[@]}" logs --no-color --tail=60 || true
  fi
  "${dc[@]}" --profile client down -v --remove-orphans >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT

echo "== compose up: scheduler, 2 executors, dashboard (${compose[*]})"
"${dc[@]}" up -d --scale executor=2 scheduler executor dashboard

rest="http://127.0.0.1:${MOODFLOW_SCHEDULER_PORT}"
python3 - "$rest" <<'PY'
import json, sys, time, urllib.request
rest = sys.argv[1]
for _ in range(240):
    try:
        with urllib.request.urlopen(rest + "/api/executors", timeout=3) as r:
            if len(json.load(r)) >= 2:
                print("== 2 executors registered")
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit("executors did not register with " + rest)
PY

echo "== pipeline through the client service"
"${dc[@]}" --profile client run --rm client moodflow run --scheduler df://scheduler:50050 --root /data
echo "== verify"
"${dc[@]}" --profile client run --rm client moodflow verify --root /data

echo "== dashboard serves the run"
python3 - "http://127.0.0.1:${MOODFLOW_DASHBOARD_PORT}" <<'PY'
import json, sys, time, urllib.request
base = sys.argv[1]
for _ in range(120):
    try:
        with urllib.request.urlopen(base + "/api/status", timeout=3) as r:
            status = json.load(r)
            print(f"== dashboard: k = {status['k']}, {status['movies']} movies")
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit("the dashboard did not pick up the run at " + base)
PY
echo "== compose end-to-end passed"
