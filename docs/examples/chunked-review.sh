#!/usr/bin/env bash
# Review a project's TypeScript files ten at a time, one `claude -p` per chunk. A chunk whose
# review exists is not sent again: after a failure, run the script again and it picks up where
# it stopped. (This script is run by the project's tests.)
set -u
runbooks preflight || exit 1
find src -name '*.ts' | sort | split -a 3 -l 10 - chunk.   # chunk.aaa, chunk.aab, …: ten paths each
failed=0
for chunk in chunk.???; do
  [ -e "$chunk" ] || continue                               # no .ts file at all
  [ -s "$chunk.md" ] && continue                            # reviewed in an earlier run
  if runbooks retry --max 4 -- claude -p "Review these files for bugs: $(tr '\n' ' ' < "$chunk")" \
      < /dev/null > "$chunk.md.part"; then
    mv "$chunk.md.part" "$chunk.md"
  else
    failed=$((failed + 1))                                  # left for the next run
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "$failed chunk(s) failed: run this script again to send only those" >&2
  exit 1
fi
