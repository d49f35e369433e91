import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

// A Debian kernel booted under QEMU (TCG), for tests that need what this host's kernel lacks
// (an NFS client, cgroup v2 controllers): the kernel package is fetched with apt-get download
// and unpacked (never installed), and a busybox initrd loads the caller's modules, brings up
// the network, mounts the host's root over 9p (read-only) and runs a guest program of the
// caller's with the host's Node inside it. Cached in /var/cache/kmx-vm.

export const VM_CACHE = '/var/cache/kmx-vm';
/** What every image loads: the NIC and the 9p share of the host's root. */
export const BASE_MODULES = ['virtio_pci', 'virtio_net', '9pnet_virtio', '9p'] as const;

function initScript(modules: readonly string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${modules.join(' ')}; do modprobe $m || echo "KMXVM-ERROR modprobe $m"; done
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
mkdir -p /hostroot
mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000 hostroot /hostroot || echo "KMXVM-ERROR 9p"
mount -t proc proc /hostroot/proc; mount -t sysfs sys /hostroot/sys; mount -t devtmpfs dev /hostroot/dev
# The checkout may live under /run, /tmp or /home, which the guest's own tmpfs hide: keep it at its path.
mkdir -p /checkout; mount -o bind "/hostroot$KMXVM_CHECKOUT" /checkout
mount -t tmpfs -o mode=0755 run /hostroot/run; mount -t tmpfs -o mode=1777 tmp /hostroot/tmp; mount -t tmpfs -o mode=0755 home /hostroot/home
[ -e "/hostroot$KMXVM_CHECKOUT" ] || { mkdir -p "/hostroot$KMXVM_CHECKOUT" && mount -o bind /checkout "/hostroot$KMXVM_CHECKOUT"; }
echo KMXVM-BOOTED
# The host's root becomes / (as switch_root makes it), not a chroot: inside a chroot the kernel
# refuses user namespaces, which guest programs make. busybox goes along in /tmp.
cp /bin/busybox /hostroot/tmp/busybox
cd /hostroot && mount --move . / && exec chroot . /tmp/busybox sh -c '/usr/bin/node "$KMXVM_GUEST"; echo KMXVM-DONE; /tmp/busybox poweroff -f'
`;
}

export interface VmImage {
  kernel: string;
  initrd: string;
}

export interface VmImageOptions {
  /** Kernel modules loaded (with what they depend on) before the guest program, besides BASE_MODULES. */
  modules?: readonly string[];
  cache?: string;
}

/** The kernel cannot be had here (no package known to apt, or the download failed): a reason to skip, not a failure. */
export class VmImageUnavailable extends Error {}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function kernelPackage(): string {
  let out: string;
  try {
    out = run('apt-cache', ['depends', 'linux-image-amd64']);
  } catch (err) {
    throw new VmImageUnavailable(`apt-cache cannot name a kernel package: ${(err as Error).message}`);
  }
  const name = /Depends: (linux-image-[0-9][^\s]*-amd64)/.exec(out)?.[1];
  if (!name) throw new VmImageUnavailable('apt-cache knows no linux-image-amd64 dependency (run apt-get update)');
  return name;
}

function kernelDeb(cache: string): string {
  const cached = (): string | undefined => readdirSync(cache).find((f) => /^linux-image-.*\.deb$/.test(f));
  if (cached()) return join(cache, cached()!);
  try {
    run('apt-get', ['download', kernelPackage()], cache);
  } catch (err) {
    if (err instanceof VmImageUnavailable) throw err;
    throw new VmImageUnavailable(`apt-get download of the kernel failed: ${(err as Error).message}`);
  }
  if (!cached()) throw new VmImageUnavailable('apt-get download of the kernel left no .deb');
  return join(cache, cached()!);
}

/** The decompressed kernel: QEMU boots an ELF vmlinux directly (PVH), faster than bzImage. */
function extractVmlinux(vmlinuz: string, out: string): void {
  const data = readFileSync(vmlinuz);
  const start = data.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (start < 0) throw new Error(`${vmlinuz}: no xz stream`);
  let elf: Buffer;
  try {
    elf = execFileSync('xz', ['-dcq', '--single-stream'], { input: data.subarray(start), maxBuffer: 512 << 20 });
  } catch (err) {
    elf = (err as { stdout?: Buffer }).stdout ?? Buffer.alloc(0); // trailing data after the stream: a warning only
  }
  if (elf.subarray(0, 4).toString('latin1') !== '\x7fELF') throw new Error('decompressed kernel is not an ELF');
  writeFileSync(`${out}.${process.pid}`, elf);
  renameSync(`${out}.${process.pid}`, out);
}

/** The modules.dep paths of `modules` and of everything they depend on. */
function withDependencies(modulesDep: string, modules: readonly string[]): Set<string> {
  const needed = new Set<string>();
  for (const line of modulesDep.split('\n')) {
    const [mod, rest = ''] = line.split(':');
    if (!mod || !modules.some((m) => mod.endsWith(`/${m}.ko`))) continue;
    needed.add(mod);
    for (const d of rest.trim().split(/\s+/).filter(Boolean)) needed.add(d);
  }
  const missing = modules.filter((m) => ![...needed].some((mod) => mod.endsWith(`/${m}.ko`)));
  if (missing.length > 0) throw new Error(`the kernel package has no module ${missing.join(', ')}`);
  return needed;
}

/**
 * Builds (once per module list) the kernel and initrd; returns their paths. Tests building at
 * the same time each work in their own folders and rename the result into place.
 */
export function prepareVmImage(options: VmImageOptions = {}): VmImage {
  const cache = options.cache ?? VM_CACHE;
  const modules = [...BASE_MODULES, ...(options.modules ?? [])];
  const init = initScript(modules);
  mkdirSync(cache, { recursive: true });
  const stamp = createHash('sha256').update(init).update(modules.join()).digest('hex').slice(0, 16);
  const kernel = join(cache, 'vmlinux');
  const initrd = join(cache, `initrd-${stamp}.gz`);
  if (existsSync(kernel) && existsSync(initrd)) return { kernel, initrd };

  const deb = kernelDeb(cache);
  const root = join(cache, `root-${process.pid}`);
  const tree = join(cache, `initrd-tree-${process.pid}`);
  try {
    rmSync(root, { recursive: true, force: true });
    run('dpkg', ['-x', deb, root]);
    const version = readdirSync(join(root, 'lib', 'modules'))[0]!;
    run('busybox', ['depmod', '-b', root, version]);
    if (!existsSync(kernel)) extractVmlinux(join(root, 'boot', `vmlinuz-${version}`), kernel);

    rmSync(tree, { recursive: true, force: true });
    for (const d of ['bin', 'proc', 'sys', 'dev', 'hostroot', `lib/modules/${version}`]) mkdirSync(join(tree, d), { recursive: true });
    copyFileSync('/bin/busybox', join(tree, 'bin', 'busybox'));
    chmodSync(join(tree, 'bin', 'busybox'), 0o755);
    symlinkSync('busybox', join(tree, 'bin', 'sh'));
    const modRoot = join(root, 'lib', 'modules', version);
    for (const mod of withDependencies(readFileSync(join(modRoot, 'modules.dep'), 'utf8'), modules)) {
      mkdirSync(join(tree, 'lib', 'modules', version, dirname(mod)), { recursive: true });
      copyFileSync(join(modRoot, mod), join(tree, 'lib', 'modules', version, mod));
    }
    for (const f of ['modules.dep', 'modules.alias', 'modules.builtin', 'modules.order', 'modules.symbols']) {
      if (existsSync(join(modRoot, f))) copyFileSync(join(modRoot, f), join(tree, 'lib', 'modules', version, f));
    }
    writeFileSync(join(tree, 'init'), init, { mode: 0o755 });
    execFileSync('/bin/sh', ['-c', `find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > '${initrd}.${process.pid}'`], { cwd: tree });
    renameSync(`${initrd}.${process.pid}`, initrd);
  } finally {
    rmSync(tree, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    rmSync(`${initrd}.${process.pid}`, { force: true });
  }
  return { kernel, initrd };
}
