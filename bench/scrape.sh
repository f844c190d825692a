#!/bin/sh
# Scrape cost with 10k, 100k and 1M distinct IP pairs, in JVMs started with the
# launcher's flags (make print-jvm-flags). For each size, one JVM alternates two renderings of
# the same scrape: the client library's snapshot path for every family (baseline) and the
# exporter's (streaming traffic families + client for the rest), and prints the ratio.
# A second JVM renders only the exporter's way and reports its RSS with that many series.
# No kernel needed: the map is synthetic. Usage: bench/scrape.sh [sizes...]  Output: stdout.
set -eu
cd "$(dirname "$0")/.."
sizes=${*:-10000 100000 1000000}
make -s build >/dev/null
scripts/mvn -q test-compile
cp=$(scripts/mvn -q dependency:build-classpath -Dmdep.outputFile=/dev/stdout -Dmdep.includeScope=test)
JAVA_HOME=$(scripts/find-jdk.sh)
flags=$(make -s print-jvm-flags)
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; JVM flags: $flags"
for n in $sizes; do
    heap=""
    # The launcher's heap holds about 250k tracked pairs; 1M unlimited pairs needs more.
    [ "$n" -gt 250000 ] && heap="-Xmx1536m"
    scrapes=15
    [ "$n" -ge 1000000 ] && scrapes=3
    # shellcheck disable=SC2086
    "$JAVA_HOME/bin/java" $flags $heap -cp "target/classes:target/test-classes:$cp" \
        dev.ebpftraffic.bench.ScrapeBench "$n" "$scrapes" both
    # shellcheck disable=SC2086
    "$JAVA_HOME/bin/java" $flags $heap -cp "target/classes:target/test-classes:$cp" \
        dev.ebpftraffic.bench.ScrapeBench "$n" "$scrapes" streaming | sed 's/^/exporter-only: /'
done
