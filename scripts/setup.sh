#!/bin/sh
# Prepares this checkout on Debian 12 (root, Node 20): the system packages kmx and its tests
# use, node_modules (npm ci, which also patches and rebuilds fuse-native), and the build.
# Idempotent and quick when everything is in place. Called by `npm start`, `npm test` and
# `npm run bench`.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="fuse3 libfuse2 libfuse3-3 libfuse3-dev gcc make python3 libssl3 libssl-dev \
  openssh-client openssh-server openssh-sftp-server sshfs \
  nfs-ganesha nfs-ganesha-vfs libnfs13 libnfs-utils rpcbind \
  gocryptfs encfs lxcfs net-tools iproute2 util-linux graphviz rsync psmisc procps attr \
  qemu-system-x86 busybox-static xz-utils bash-completion zsh \
  chromium samba smbclient libsmbclient smbnetfs cifs-utils dnsmasq-base"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "kmx setup: missing Debian packages:$missing; install them as root: apt-get install$missing" >&2
    exit 1
  fi
  echo "kmx setup: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 -qq update >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 -qq install -y --no-install-recommends $missing >&2
fi

# node_modules: reinstall only when the lockfile or the patches changed.
stamp=node_modules/.kmx-setup-stamp
want=$(cat package-lock.json patches/* | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "kmx setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

npm run --silent build >&2
