#!/usr/bin/env bash
# Start a long unattended task only when the path to the API is good, and retry it only for
# failures a retry can fix. (This script is run by the project's tests against its lab.)
set -euo pipefail
if runbooks preflight; then
  runbooks retry --max 5 -- claude -p "$(cat task.md)" > result.md
  echo "done: result.md"
else
  echo "not starting the task: see the line above" >&2
  exit 1
fi
