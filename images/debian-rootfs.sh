#!/usr/bin/env bash
# Fills build/rootfs/ (the docker build context) with a Debian binary and everything it needs
# to run in a `FROM scratch` image: the binary, its shared libraries, the dynamic loader and
# static busybox for a shell. No registry is involved: the packages come from the host's apt
# sources through `apt-get download` and are unpacked with `dpkg -x` into a scratch dir, so
# nothing is installed on the host. Libraries the host already has (same Debian release) are
# copied from the host.
#
# usage: debian-rootfs.sh OUT_DIR PACKAGE BINARY...
#   e.g. debian-rootfs.sh build monero /usr/bin/monerod
set -euo pipefail

out=$1
package=$2
shift 2
[ $# -gt 0 ] || { echo "usage: debian-rootfs.sh OUT_DIR PACKAGE BINARY..." >&2; exit 2; }

cache=${BV_DEB_CACHE:-/var/cache/bv-image-debs}/$package
mkdir -p "$cache" "$out"
out=$(cd "$out" && pwd)
# Parallel builds share the download cache.
exec 9>"$cache/.lock"
flock 9

# The package and those of its (recursive) dependencies the host does not have.
wanted=()
while read -r p; do
  case "$p" in "<"*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || wanted+=("$p")
done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances --no-pre-depends "$package" | grep -v '^ ' | sort -u)
missing=()
for p in "${wanted[@]}"; do
  compgen -G "$cache/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  (cd "$cache" && apt-get download -qq "${missing[@]}" 2>&1 | grep -v 'Download is performed unsandboxed' >&2 || true)
fi
for p in "${wanted[@]}"; do
  compgen -G "$cache/${p}_*.deb" >/dev/null || { echo "debian-rootfs.sh: could not download $p" >&2; exit 1; }
done

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
for deb in "$cache"/*.deb; do
  dpkg -x "$deb" "$staging"
done

rootfs=$out/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs/bin" "$rootfs/lib64" "$rootfs/lib/x86_64-linux-gnu"
libpath="$staging/usr/lib/x86_64-linux-gnu:$staging/lib/x86_64-linux-gnu"
for bin in "$@"; do
  [ -x "$staging$bin" ] || { echo "debian-rootfs.sh: $bin is not in package $package" >&2; exit 1; }
  install -D -m 0755 "$staging$bin" "$rootfs$bin"
  if LD_LIBRARY_PATH=$libpath ldd "$staging$bin" | grep -q 'not found'; then
    echo "debian-rootfs.sh: unresolved libraries of $bin:" >&2
    LD_LIBRARY_PATH=$libpath ldd "$staging$bin" | grep 'not found' >&2
    exit 1
  fi
  LD_LIBRARY_PATH=$libpath ldd "$staging$bin" | awk '/=> \//{print $3}' | while read -r lib; do
    cp -L "$lib" "$rootfs/lib/x86_64-linux-gnu/$(basename "$lib")"
  done
done
cp -L /lib64/ld-linux-x86-64.so.2 "$rootfs/lib64/ld-linux-x86-64.so.2"
cp -L "$(command -v busybox)" "$rootfs/bin/busybox"
# CA roots: babel's HTTP client (run_jrpc/run_rest) refuses to start without any.
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/root"
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
echo 'hosts: files' > "$rootfs/etc/nsswitch.conf"
echo "prepared $package into $rootfs" >&2
