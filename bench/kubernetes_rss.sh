#!/bin/bash
# Memory of --kubernetes (KubernetesRssBench.java): the exporter's RSS with the mode off, and with
# 10,000 pods (1,000 replica sets, 1,000 services, 100 nodes) from fabric8's mock API server in the
# names cache, labels and aggregate mode, in one run. Needs root and `make build`.
# Writes target/bench/results/kubernetes_rss.txt; bench/KUBERNETES.md records a run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p target/bench
scripts/mvn -q test-compile dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench/test-classpath.txt
JAVA_HOME=$(scripts/find-jdk.sh)
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Dproject.root="$ROOT" \
    -cp "target/test-classes:target/classes:$(cat target/bench/test-classpath.txt)" \
    dev.ebpftraffic.bench.KubernetesRssBench "$@"
