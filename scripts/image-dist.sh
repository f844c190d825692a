#!/bin/sh
# Lays out the files of the container image under DEST (run after `make build`):
#   DEST/opt/java                                   a Java runtime made with jlink from the build's JDK
#   DEST/opt/ebpf-traffic-exporter/...              the launcher, the jars and find-jdk.sh, as `make install` lays them out,
#                                                   and an AOT cache trained with the jlinked runtime (a cache is valid
#                                                   only for the runtime that made it, so the build's is not copied)
# The Dockerfile's build stage runs it, and so does scripts/podman-image.sh on the host.
#
# The modules are what `jdeps --print-module-deps` reports for the jar, less java.desktop: only
# SnakeYAML's bean introspection (java.beans) needs it, and the exporter parses YAML into nodes.
# Leaving it out saves about 20 MB; the container test loads a config file through it. java.xml is
# for --kubernetes: Jackson's databind (the Kubernetes client's JSON) links org.w3c.dom when it
# starts; java.sql (jdeps lists it for fabric8's java.sql.Date support) is not needed to list and
# watch pods, replica sets, jobs, services and nodes (DeployArtifactsTest runs that on this runtime).
set -eu
MODULES=java.base,java.logging,java.net.http,java.xml,jdk.httpserver,jdk.unsupported

[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
dest=$1
cd "$(dirname "$0")/.."
for f in target/ebpf-traffic-exporter.jar target/ebpf-traffic-exporter-kubernetes.jar ebpf-traffic-exporter; do
    [ -f "$f" ] || { echo "$f is missing: run make build first" >&2; exit 1; }
done
jdk=${JAVA_HOME:-$(scripts/find-jdk.sh)}
if [ -e "$dest" ]; then
    echo "$dest exists; remove it first" >&2
    exit 1
fi

app=$dest/opt/ebpf-traffic-exporter
mkdir -p "$app/target" "$app/scripts" "$dest/opt"
# --strip-debug and no man pages or headers: the runtime needs none of them. JDK 25 links from its
# own runtime image when it has no jmods/ (JEP 493), as Temurin 25 does.
"$jdk/bin/jlink" --add-modules "$MODULES" --strip-debug --no-man-pages --no-header-files \
    --compress=zip-6 --output "$dest/opt/java"
install -m 0755 ebpf-traffic-exporter "$app/ebpf-traffic-exporter"
install -m 0644 target/ebpf-traffic-exporter.jar "$app/target/ebpf-traffic-exporter.jar"
install -m 0644 target/ebpf-traffic-exporter-kubernetes.jar "$app/target/ebpf-traffic-exporter-kubernetes.jar"
install -m 0755 scripts/find-jdk.sh "$app/scripts/find-jdk.sh"
# The same training run as `make aot-cache`, with the runtime the image starts. The paths differ from
# the image's (/opt/...): the JVM matches the jar by the longest common prefix of its path.
flags=$(make -s --no-print-directory print-jvm-flags)
# shellcheck disable=SC2086 # the flags are words
if ! "$dest/opt/java/bin/java" $flags -XX:AOTCacheOutput="$app/target/ebpf-traffic-exporter.aot" -Xlog:aot=warning -Xlog:cds=warning \
        -jar "$app/target/ebpf-traffic-exporter.jar" --aot-train > "$dest/aot-train.log" 2>&1; then
    cat "$dest/aot-train.log" >&2
    echo "the AOT cache's training run failed (log above)" >&2
    exit 1
fi
rm -f "$dest/aot-train.log"
chmod 0644 "$app/target/ebpf-traffic-exporter.aot"
