#!/usr/bin/env bash
# Runs the integration tests: environment up (waiting for health), the test container's
# exit code as ours, environment down with its volumes whatever happened.
set -u
cd "$(dirname "$0")"
COMPOSE=${COMPOSE:-compose}
$COMPOSE up -d --wait || { $COMPOSE down -v; exit 1; }
$COMPOSE --profile tests run --rm tests
rc=$?
$COMPOSE down -v
exit $rc
