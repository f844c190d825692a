#!/bin/sh
# Prints the home of a JDK >= 25: the pom compiles with release 25 and its enforcer asks for the same
# (FindJdkTest checks that the two agree).
# Order: $JAVA_HOME, the `java` on PATH, then every JDK under /usr/lib/jvm ($JVM_DIR), newest first.
# Exits 1 with a one-line reason when there is none.
set -u
MIN=${MIN_JAVA_VERSION:-25}

major() { # $1 = JDK home; prints its feature version, or nothing
    [ -x "$1/bin/javac" ] || return 0
    if [ -f "$1/release" ]; then
        v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release")
    else
        v=$("$1/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')
    fi
    echo "$v"
}

candidates() {
    [ -n "${JAVA_HOME:-}" ] && echo "$JAVA_HOME"
    if command -v javac >/dev/null 2>&1; then
        dirname "$(dirname "$(readlink -f "$(command -v javac)")")"
    fi
    for d in "${JVM_DIR:-/usr/lib/jvm}"/*; do
        [ -d "$d" ] && echo "$(major "$d") $d"
    done | sort -rn | cut -d' ' -f2-
}

for home in $(candidates); do
    v=$(major "$home")
    if [ -n "$v" ] && [ "$v" -ge "$MIN" ]; then
        echo "$home"
        exit 0
    fi
done
echo "no JDK >= $MIN found (looked at \$JAVA_HOME, PATH and /usr/lib/jvm): install a JDK 25, e.g. Temurin 25 under /usr/lib/jvm, or set JAVA_HOME" >&2
exit 1
