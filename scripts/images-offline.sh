#!/usr/bin/env bash
# `make images-offline`: every image docker-compose.yml needs, built without a container
# registry (air-gapped sites, CI): Debian roots made by debootstrap from the mirror this
# machine's apt already uses, turned into images with `docker import`, and the service
# images built on them from binaries compiled here.
#
#   tessera/auth-service:latest, tessera/tasks-service:latest   the compose file's defaults
#   tessera-offline/redis:<suite>, tessera-offline/nginx:<suite>-2,
#   tessera-offline/prometheus:<suite>                          named in <out>/images.env
#   tessera-offline/runtime:<suite>                             the services' base (Debian +
#                                                               ca-certificates)
#
# Then: docker compose --env-file target/offline/images.env up -d
# Needs root (debootstrap), Docker, and a Debian-family host (the images use its suite, so
# the host-built binaries find the same glibc). Existing base images are reused; set
# TESSERA_OFFLINE_REBUILD=1 to make them again. Work files: target/offline/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/offline
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?this host does not name its Debian suite}")
base=tessera-offline/runtime:$suite
redis=tessera-offline/redis:$suite
# The suffix changes with the image's package list, so an image built before it changed is
# never taken for the current one (nginx-light + openssl since "-2").
nginx=tessera-offline/nginx:$suite-2
prometheus=tessera-offline/prometheus:$suite

say() { echo "images-offline: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  say "debootstrap needs root; run as root (sudo make images-offline)"
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap \
    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap; }
fi

# The first `deb` source for this suite in the machine's apt configuration (deb822
# .sources files or one-line sources.list entries).
apt_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f $file ]] || continue
    awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/) types = $i
          if ($i ~ /^URIs:/) uris = $i
          if ($i ~ /^Suites:/) suites = $i
        }
        if (types ~ /[ \t]deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" suite "[ \t]")) {
          split(uris, word, /[ \t]+/); print word[2]; exit
        }
      }' "$file"
  done
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
    awk -v suite="$suite" '$1 == "deb" {
      for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i + 1) == suite) print $i; break }
    }'
}
mirror=$(apt_mirror | awk "NR == 1")
if [[ -z $mirror ]]; then
  say "no apt source for suite $suite in /etc/apt; cannot tell debootstrap where packages come from"
  exit 1
fi

have_image() { [[ -z ${TESSERA_OFFLINE_REBUILD:-} ]] && docker image inspect "$1" >/dev/null 2>&1; }

# Imports a root directory as an image, without the package caches and documentation.
import_root() {
  local dir=$1 image=$2
  shift 2
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/sbin/policy-rc.d
  tar -C "$dir" --numeric-owner -c . | docker import "$@" - "$image" >/dev/null
  say "built $image"
}

# A copy of the base root with `packages` installed (services kept from starting).
derive_root() {
  local dir=$1
  shift
  rm -rf "$dir"
  cp -a "$out/rootfs-base" "$dir"
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  local log=$dir.log
  { chroot "$dir" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y -qq --no-install-recommends "$@"; } \
    >"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
  : >"$dir/etc/resolv.conf"
}

mkdir -p "$out/debs"
if ! have_image "$base" || ! have_image "$redis" || ! have_image "$nginx" ||
  ! have_image "$prometheus"; then
  if [[ ! -x $out/rootfs-base/bin/sh ]]; then
    say "debootstrap $suite from $mirror (about a minute)"
    rm -rf "$out/rootfs-base"
    debootstrap --variant=minbase --cache-dir="$out/debs" "$suite" "$out/rootfs-base" "$mirror" \
      >"$out/debootstrap.log" 2>&1 || { tail -n 20 "$out/debootstrap.log" >&2; exit 1; }
  fi
  if ! have_image "$redis"; then
    derive_root "$out/rootfs-redis" redis-server
    chroot "$out/rootfs-redis" sh -c 'mkdir -p /data && chown redis:redis /data'
    import_root "$out/rootfs-redis" "$redis" --change 'WORKDIR /data' --change 'CMD ["redis-server"]'
  fi
  if ! have_image "$nginx"; then
    # openssl: the swarm smoke test speaks HTTPS from inside the container.
    derive_root "$out/rootfs-nginx" nginx-light openssl
    import_root "$out/rootfs-nginx" "$nginx" --change 'CMD ["nginx", "-g", "daemon off;"]'
  fi
  if ! have_image "$prometheus"; then
    derive_root "$out/rootfs-prometheus" prometheus
    # Owned by the user the compose file runs it as: a new volume takes this ownership.
    chroot "$out/rootfs-prometheus" sh -c 'mkdir -p /prometheus && chown 65534:65534 /prometheus'
    import_root "$out/rootfs-prometheus" "$prometheus" --change 'WORKDIR /prometheus' \
      --change 'CMD ["prometheus"]'
  fi
  if ! have_image "$base"; then
    derive_root "$out/rootfs-runtime" ca-certificates
    import_root "$out/rootfs-runtime" "$base" --change 'CMD ["bash"]'
  fi
  rm -rf "$out/rootfs-redis" "$out/rootfs-nginx" "$out/rootfs-prometheus" "$out/rootfs-runtime"
fi

# The service images: deploy/Dockerfile's runtime stages, copying binaries built here.
say "building the services (release)"
(cd "$root" && cargo build --release --locked -p auth-service -p tasks-service)
context=$out/context
rm -rf "$context"
mkdir -p "$context"
cp "$target/release/auth-service" "$target/release/tasks-service" "$context/"
{
  echo "ARG RUNTIME_IMAGE"
  echo "FROM \${RUNTIME_IMAGE} AS runtime"
  sed -n '/^# --- runtime ---$/,$p' "$root/deploy/Dockerfile" | sed 's|COPY --from=build /out/|COPY |'
} >"$context/Dockerfile"
for service in auth-service tasks-service; do
  docker build -q --build-arg RUNTIME_IMAGE="$base" --target "$service" \
    -t "tessera/$service:latest" "$context" >/dev/null
  say "built tessera/$service:latest"
done

cat >"$out/images.env" <<EOF
TESSERA_REDIS_IMAGE=$redis
TESSERA_NGINX_IMAGE=$nginx
TESSERA_PROMETHEUS_IMAGE=$prometheus
EOF
say "done; start with: docker compose --env-file ${out#"$root"/}/images.env up -d"
