#!/usr/bin/env bash
# bash dist_train.sh CONFIG GPUS [tools/train.py arguments]: tools/dist_train.sh (same process,
# so signals sent to this PID reach its forwarding; exit status 75 after a preemption).
exec bash "$(dirname "$0")/tools/dist_train.sh" "$@"
