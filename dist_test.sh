#!/usr/bin/env bash
# bash dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py arguments]: tools/dist_test.sh.
exec bash "$(dirname "$0")/tools/dist_test.sh" "$@"
