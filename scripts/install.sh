#!/bin/sh
# Installs kmx from this checkout for every user of the machine, from packed artifacts (npm pack
# of each package), not from the checkout's node_modules:
#
#   sh scripts/install.sh [--prefix DIR] [--sbin DIR] [--destdir DIR] [--no-build]   (as root; prefix default /usr/local)
#   sh scripts/install.sh --uninstall [--prefix DIR] [--sbin DIR]
#
# It puts the packages and their dependencies in PREFIX/lib/kmx (npm, from the npm registry or
# its cache), fuse-native patched and rebuilt as the checkout has it; kmx, kmxd and the mount
# helpers kmx-TYPE on PREFIX/bin; mount.fuse.kmx-TYPE links in SBIN (default /usr/sbin, where
# mount(8) looks; PREFIX/sbin for another prefix) so that fstab lines of type fuse.kmx-TYPE
# mount; the man pages in PREFIX/share/man/man1; kmxd's systemd units in
# PREFIX/lib/systemd/system, not enabled. Needs Node >= 20 as `node` on PATH, and what
# scripts/setup.sh installs (it runs it, unless --no-build says the checkout is built already).
# --destdir stages the files under DIR (links still name PREFIX), as scripts/deb.sh does.
set -eu
cd "$(dirname "$0")/.."
checkout=$(pwd)

prefix=/usr/local
sbin=
destdir=
uninstall=no
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --sbin) sbin=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --uninstall) uninstall=yes; shift ;;
    --no-build) build=no; shift ;;
    *) echo "kmx install: unknown argument $1 (see the top of scripts/install.sh)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "kmx install: --prefix needs an absolute path" >&2; exit 2 ;; esac
if [ -z "$sbin" ]; then
  case "$prefix" in /usr|/usr/local) sbin=/usr/sbin ;; *) sbin=$prefix/sbin ;; esac
fi
lib=$prefix/lib/kmx
# Where the files go (the same as where they will be, unless staged).
stage=$destdir$prefix
stagelib=$destdir$lib
types="passthrough sftp enc procsys nfs smb"

if [ "$uninstall" = yes ]; then
  for name in kmx kmxd $(for t in $types; do echo "kmx-$t"; done); do rm -f "$prefix/bin/$name"; done
  for t in $types; do rm -f "$sbin/mount.fuse.kmx-$t"; done
  rm -f "$prefix"/share/man/man1/kmx.1 "$prefix"/share/man/man1/kmx-*.1
  rm -f "$prefix/lib/systemd/system/kmxd.service" "$prefix/lib/systemd/system/kmxd.socket"
  rm -rf "$lib"
  echo "kmx: removed from $prefix"
  exit 0
fi

node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || {
  echo "kmx install: Node.js 20 or later is needed as node on PATH (found $(node --version))" >&2; exit 1; }
[ "$build" = no ] || sh scripts/setup.sh

# Every package packed, kept in PREFIX/lib/kmx/packs; one npm project holds them all, so that
# kmx's @kmx/* dependencies resolve to those tarballs and the rest comes from the registry.
rm -rf "$stagelib"
mkdir -p "$stagelib/packs"
deps=
for pkg in packages/core plugins/encfs plugins/namespaces plugins/nfs-mount plugins/procsys plugins/sftp-fuse plugins/ui packages/cli; do
  file=$(npm pack --silent --pack-destination "$stagelib/packs" -w "$pkg" | tail -1)
  name=$(node -p "require('./$pkg/package.json').name")
  deps="$deps\"$name\": \"file:packs/$file\","
done
printf '{ "name": "kmx-installed", "private": true, "dependencies": { %s } }\n' "${deps%,}" > "$stagelib/package.json"
(cd "$stagelib" && npm install --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error >&2)

# fuse-native as the checkout has it: patched (the kmx patch level its engine checks) and rebuilt.
(cd "$stagelib" && patch -s -p1 < "$checkout/patches/fuse-native+2.2.6.patch")
gyp=$(dirname "$(command -v node)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
nodedir=; [ -e /usr/include/node/node_api.h ] && nodedir=--nodedir=/usr
(cd "$stagelib/node_modules/fuse-native" && node "$gyp" rebuild --loglevel=error $nodedir > /dev/null)

mkdir -p "$stage/bin" "$destdir$sbin" "$stage/share/man/man1" "$stage/lib/systemd/system"
ln -sfn "$lib/node_modules/kmx/bin/run.js" "$stage/bin/kmx"
ln -sfn "$lib/node_modules/@kmx/core/bin/kmxd.js" "$stage/bin/kmxd"
for t in $types; do
  ln -sfn "$lib/node_modules/kmx/bin/kmx-$t.js" "$stage/bin/kmx-$t"
  ln -sfn "$lib/node_modules/kmx/bin/kmx-$t.js" "$destdir$sbin/mount.fuse.kmx-$t"
done
cp "$stagelib"/node_modules/kmx/dist/man/man1/*.1 "$stage/share/man/man1/"
sed "s#/usr/local/bin/kmxd#$prefix/bin/kmxd#" packages/core/systemd/kmxd.service > "$stage/lib/systemd/system/kmxd.service"
cp packages/core/systemd/kmxd.socket "$stage/lib/systemd/system/kmxd.socket"
if [ -n "$destdir" ]; then
  echo "kmx: staged for $prefix in $destdir"
else
  echo "kmx: installed in $prefix ($("$prefix/bin/kmx" --version)); kmxd's units are in $prefix/lib/systemd/system, not enabled"
fi
