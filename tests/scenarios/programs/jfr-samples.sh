#!/usr/bin/env bash
# jfr-samples.sh JFR RECORDING: says whether a JFR recording holds execution samples (the JVM
# suspended its threads with its SR signal to take them); exit 1 if it holds none.
set -euo pipefail
"$1" summary "$2" | awk '$1 == "jdk.ExecutionSample" && $2 > 0 { n = 1 }
    END { print (n ? "execution samples recorded" : "no execution samples"); exit !n }'
