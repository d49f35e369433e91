#!/bin/sh
# Builds a Debian package of kmx from this checkout: what scripts/install.sh --prefix /usr
# installs, staged and packed with dpkg-deb.
#
#   sh scripts/deb.sh [--no-build] [--out DIR]      (as root; writes DIR/kmx_VERSION_ARCH.deb, DIR default dist)
#
# Node: Debian 12's own nodejs is 18, too old for kmx; the package depends on nodejs (>= 20),
# which a nodejs package of version 20 or later satisfies (the one these machines have, or any
# other archive's); kmx runs /usr/bin/env node. The native parts (the patched fuse-native,
# kmx-nshelper, the directory lister, the AES-GCM library) are built here, for this
# architecture; the package depends on the libraries they and kmx's koffi bindings load.
# kmxd's systemd units go to /usr/lib/systemd/system and are not enabled.
set -eu
cd "$(dirname "$0")/.."
out=dist
build=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --no-build) build=--no-build; shift ;;
    *) echo "kmx deb: unknown argument $1 (see the top of scripts/deb.sh)" >&2; exit 2 ;;
  esac
done
command -v dpkg-deb > /dev/null || { echo "kmx deb: dpkg-deb is needed (Debian's dpkg package)" >&2; exit 1; }

stage=$(mktemp -d /tmp/kmx-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
sh scripts/install.sh $build --prefix /usr --sbin /usr/sbin --destdir "$stage" >&2

version=$(node -p "require('./packages/cli/package.json').version")
arch=$(dpkg --print-architecture)
size=$(du -sk "$stage/usr" | cut -f1)
mkdir -p "$stage/DEBIAN" "$out"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: kmx
Version: $version
Architecture: $arch
Maintainer: kmx developers <kmx@localhost>
Installed-Size: $size
Section: admin
Priority: optional
Depends: nodejs (>= 20), fuse3, libfuse3-3, libfuse2, libssl3, libnfs13, util-linux
Recommends: nfs-common, openssh-client
Suggests: gocryptfs, sshfs
Description: mount and inspect as an ordinary user: NFS, SFTP, encrypted views, /proc, namespaces
 kmx is one command with a plugin per system: kmx nfs (NFS mounts under /run/media/\$USER
 through the root daemon kmxd, or in user space), kmx sftp (FUSE over SFTP, and a confined
 SFTP server), kmx enc (gocryptfs-compatible encrypted views, forward and reverse), kmx procsys
 (/proc mirrored and merged across hosts), kmx ns (namespace relations) and kmx ui
 (a local web page over them, for its user alone).
 .
 fstab lines of type fuse.kmx-TYPE mount through /usr/sbin/mount.fuse.kmx-TYPE. kmxd's
 systemd units are installed, not enabled: systemctl enable --now kmxd.socket.
CONTROL
# Let systemd see the units (enabling them stays the administrator's choice).
cat > "$stage/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
SCRIPT
cp "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
# The bundle's code cache was made by the Node that built the package; another Node refuses it,
# and root writes it again for this one (bundle/load.cjs).
echo 'KMX_CODE_CACHE=refresh /usr/bin/kmx --help > /dev/null 2>&1 || true' >> "$stage/DEBIAN/postinst"
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
deb="$out/kmx_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" > /dev/null
echo "$deb"
