#!/usr/bin/env bash
# Compiles the plain-JVM core and runs its JUnit 4 tests against golden vectors.
#
# Usage: android_demo/core/run_tests.sh GOLDEN_DIR [BUILD_DIR]
#   GOLDEN_DIR  a folder written by `mocar export --golden N` (or one golden sub-folder of it)
#   BUILD_DIR   where classes go (default: a fresh temporary folder, removed afterwards)
# Needs: javac/java 17+, JUnit 4 and Hamcrest jars (Debian: apt-get install junit4). Override their
# places with JUNIT_JAR / HAMCREST_JAR. Exit status: JUnit's (0 = all tests passed); 2 = usage
# or missing tools.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"

if [[ $# -lt 1 || ! -d "$1" ]]; then
    echo "usage: $0 GOLDEN_DIR [BUILD_DIR]  (GOLDEN_DIR from 'mocar export --golden N')" >&2
    exit 2
fi
golden="$(cd "$1" && pwd)"
for tool in javac java; do
    command -v "$tool" >/dev/null || { echo "$0: $tool not found (install a JDK 17+)" >&2; exit 2; }
done
for jar in "$junit" "$hamcrest"; do
    [[ -f "$jar" ]] || { echo "$0: $jar not found (apt-get install junit4, or set JUNIT_JAR/HAMCREST_JAR)" >&2; exit 2; }
done

if [[ $# -ge 2 ]]; then
    build="$2"
    mkdir -p "$build"
else
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
fi
mkdir -p "$build/main" "$build/test"

find "$here/src/main/java" -name '*.java' > "$build/main-sources.txt"
javac --release 17 -Xlint:all -Werror -encoding UTF-8 -d "$build/main" @"$build/main-sources.txt"
find "$here/src/test/java" -name '*.java' > "$build/test-sources.txt"
javac --release 17 -Xlint:all -encoding UTF-8 -cp "$build/main:$junit:$hamcrest" -d "$build/test" \
    @"$build/test-sources.txt"

tests=()
while IFS= read -r file; do
    name="${file#"$here/src/test/java/"}"
    tests+=("$(echo "${name%.java}" | tr / .)")
done < <(find "$here/src/test/java" -name '*Test.java' | sort)

java -Djava.awt.headless=true -Dmocar.golden="$golden" -cp "$build/main:$build/test:$junit:$hamcrest" \
    org.junit.runner.JUnitCore "${tests[@]}"
