#!/usr/bin/env bash
# Builds the raftd image with no registry: assembles a build context in a temporary
# directory from the cargo build output and the binary's shared-library closure (ldd),
# then runs `docker build -t splitbrain/raftd:<content-hash>`. Prints the tag.
#
# Usage: docker/raftd/build.sh [PATH_TO_RAFTD_BINARY]
#   Without a path it builds `cargo build --release -p raftd` and uses target/release/raftd.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bin="${1:-}"
if [[ -z "$bin" ]]; then
    (cd "$repo" && cargo build --release -p raftd >&2)
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/raftd"
fi
if [[ ! -x "$bin" ]]; then
    echo "build.sh: $bin is not an executable raftd binary" >&2
    exit 2
fi

ctx="$(mktemp -d -t raftd-image.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT

install -D -m 0755 "$bin" "$ctx/rootfs/usr/local/bin/raftd"
# Every absolute path ldd names (libc, libgcc_s, libm, the dynamic loader, ...), copied
# with its directory so that the loader finds it where the binary expects it.
ldd "$bin" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$ctx/rootfs$lib"
done
cp "$here/Dockerfile" "$ctx/Dockerfile"

# The tag is a hash of the context's content, so the same inputs give the same tag.
hash="$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
tag="splitbrain/raftd:$hash"
docker build --quiet -t "$tag" "$ctx" >&2
echo "$tag"
