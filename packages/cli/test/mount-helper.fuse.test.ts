import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { mountsUnder, processesMentioning, run, runKmx, sh, temporaryDirectory } from '@kmx/core/testing';
import { startGanesha } from '@kmx/plugin-nfs-mount/ganesha';
import { startAgentProcess } from '@kmx/plugin-procsys/testing';
import { startSshd } from '@kmx/plugin-sftp-fuse/testing';
import { HELPER_TYPES, kmxArguments, parseHelperArgs } from '../src/lib/mount-helper.js';

/**
 * mount(8) and fstab for kmx's FUSE types. util-linux's mount runs /sbin/mount.fuse.kmx-TYPE
 * (the links an install makes, as sshfs makes mount.fuse.sshfs); here they are put there in a
 * private mount namespace, through an overlay on /usr/sbin that goes with it.
 */

const bin = (type: string): string => fileURLToPath(new URL(`../../bin/kmx-${type}.js`, import.meta.url));

/** dir/sbin with a mount.fuse.kmx-TYPE link per type, and the line that lays it over /usr/sbin. */
async function helperLinks(dir: string): Promise<string> {
  const sbin = join(dir, 'sbin');
  await mkdir(sbin);
  await mkdir(join(dir, 'work'));
  for (const type of HELPER_TYPES) await symlink(bin(type), join(sbin, `mount.fuse.kmx-${type}`));
  return `mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=${sbin},workdir=${dir}/work /usr/sbin`;
}

const GENERATOR = '/lib/systemd/system-generators/systemd-fstab-generator';

describe('mount(8) and fstab: the kmx-TYPE helpers', () => {
  it('turn mount.TYPE arguments into kmx commands, leaving mount(8)\'s and systemd\'s options out', () => {
    const call = parseHelperArgs(['-s', 'user@host:/data', '/mnt/data', '-o', 'rw,noauto,_netdev,nofail,x-systemd.automount,user,users,defaults,comment=x', '-o', 'IdentityFile=/k,noexec,reconnect', '-n', '-t', 'fuse.kmx-sftp']);
    assert.deepEqual(call, { source: 'user@host:/data', mountpoint: '/mnt/data', options: ['rw', 'noauto', '_netdev', 'nofail', 'x-systemd.automount', 'user', 'users', 'defaults', 'comment=x', 'IdentityFile=/k', 'noexec', 'reconnect'] });
    assert.deepEqual(kmxArguments('sftp', call), ['sftp', 'mount', '--daemon', '-o', 'rw,IdentityFile=/k,noexec,reconnect', 'user@host:/data', '/mnt/data']);
    // An escaped comma stays inside its value, for kmx to read as libfuse would.
    assert.deepEqual(kmxArguments('sftp', parseHelperArgs(['h:/', '/m', '-o', 'Ciphers=aes128-ctr\\,aes256-ctr,noauto,identity=/k\\,1'])), ['sftp', 'mount', '--daemon', '--identity', '/k,1', '-o', 'Ciphers=aes128-ctr\\,aes256-ctr', 'h:/', '/m']);
    assert.deepEqual(kmxArguments('enc', parseHelperArgs(['/c', '/m', '-o', 'passfile=/etc/kmx/p,ro,allow_other'])), ['enc', 'mount', '--daemon', '--passfile', '/etc/kmx/p', '-o', 'ro,allow_other', '/c', '/m']);
    assert.deepEqual(kmxArguments('procsys', parseHelperArgs(['proc', '/m', '-o', 'certs=/c,name=me,peer=a=10.0.0.2:7447,allow-down'])), ['procsys', 'mount', '--daemon', '--certs', '/c', '--name', 'me', '--peer', 'a=10.0.0.2:7447', '--allow-down', '/m']);
    assert.deepEqual(kmxArguments('nfs', parseHelperArgs(['nas:/export', '/mnt/nas', '-o', 'vers=4,port=2049,_netdev'])), ['nfs', 'mount', '--userspace', '--mountpoint', '/mnt/nas', '--vers', '4', '--port', '2049', 'nas:/export', 'nas']);
    assert.deepEqual(kmxArguments('passthrough', parseHelperArgs(['/s', '/m'])), ['passthrough', '--daemon', '/s', '/m']);
    assert.throws(() => parseHelperArgs(['/s']), /usage: kmx-TYPE SOURCE MOUNTPOINT/);
    assert.throws(() => parseHelperArgs(['/s', '/m', '--bogus']), /unknown argument "--bogus"/);
  });

  it('mount -T FSTAB -a, mount DIR and umount, as util-linux does it: passthrough, enc with a password file, sftp with a key file', () => temporaryDirectory(async (dir) => {
    const overlay = await helperLinks(dir);
    for (const d of ['src', 'cipher', 'plain', 'remote', 'm1', 'm2', 'm3']) await mkdir(join(dir, d));
    await writeFile(join(dir, 'src', 'f'), 'through fstab\n');
    await writeFile(join(dir, 'remote', 'r'), 'over ssh\n');
    await writeFile(join(dir, 'pass'), 'fstab-pw\n', { mode: 0o600 });
    const init = await runKmx(['enc', 'init', '--scryptn', '10', '--passfile', join(dir, 'pass'), join(dir, 'cipher')]);
    assert.equal(init.code, 0, init.stderr);
    const sshd = await startSshd(join(dir, 'sshd'));
    try {
      await writeFile(join(dir, 'known_hosts'), `${sshd.knownHostsLine}\n`);
      await writeFile(join(dir, 'fstab'), [
        `${dir}/src ${dir}/m1 fuse.kmx-passthrough defaults,noexec,noatime,_netdev,nofail 0 0`,
        `${dir}/cipher ${dir}/m2 fuse.kmx-enc passfile=${dir}/pass,x-systemd.automount 0 0`,
        `root@127.0.0.1:${sshd.port}:${dir}/remote ${dir}/m3 fuse.kmx-sftp noauto,_netdev,IdentityFile=${sshd.clientKey},UserKnownHostsFile=${dir}/known_hosts,reconnect 0 0`,
        '',
      ].join('\n'));
      // One shell in a private mount namespace: the overlay, the mounts and their servers stay there.
      const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
        ${overlay}
        mount -T ${dir}/fstab -a
        grep -c ' ${dir}/m3 ' /proc/self/mountinfo || echo "noauto left out"
        mount -T ${dir}/fstab ${dir}/m3
        grep ' ${dir}/m[123] ' /proc/self/mountinfo | awk '{ for (i = 7; i < NF; i++) if ($i == "-") print $5, $6, $(i + 1) }' | sort
        cat ${dir}/m1/f; echo secret > ${dir}/m2/note; cat ${dir}/m2/note; cat ${dir}/m3/r
        umount ${dir}/m1 ${dir}/m2 ${dir}/m3
        grep -c ' ${dir}/m' /proc/self/mountinfo || echo "all unmounted"`], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 1), ['0'], 'the noauto line waited');
      assert.deepEqual(lines.slice(2, 5).map((l) => l.replace(dir, '<dir>')), [
        '<dir>/m1 rw,nosuid,nodev,noexec,noatime fuse.kmx-passthrough',
        '<dir>/m2 rw,nosuid,nodev,relatime fuse.kmx-enc',
        '<dir>/m3 rw,nosuid,nodev,relatime fuse.kmx-sftp',
      ]);
      assert.deepEqual(lines.slice(5), ['through fstab', 'secret', 'over ssh', '0', 'all unmounted']);
      assert.equal(r.stderr, '', 'mount(8) and the helpers said nothing');
      for (let i = 0; i < 50 && (await processesMentioning(`${dir}/m`)).length > 0; i++) await sh('sleep 0.1');
      assert.deepEqual(await processesMentioning(`${dir}/m`), [], 'the servers ended with their mounts');
      assert.deepEqual(await mountsUnder(dir), []);
    } finally {
      await sshd.stop();
    }
  }));

  it('procsys with certificates and nfs in user space from fstab, by mount -a and by the units systemd makes of the lines (which systemd-analyze verify accepts)', { skip: !existsSync(GENERATOR) && 'no systemd-fstab-generator' }, () => temporaryDirectory(async (dir) => {
    const overlay = await helperLinks(dir);
    const nfsMnt = join(dir, `nfs-${process.pid}`); // the user-space mount's name, unique among the test files running beside
    for (const d of [join(dir, 'export'), join(dir, 'procsys'), nfsMnt, join(dir, 'units')]) await mkdir(d);
    await writeFile(join(dir, 'export', 'n'), 'over nfs\n');
    const certs = join(dir, 'certs');
    const made = await runKmx(['procsys', 'certs', '--dir', certs, '--node', 'a', '--node', 'me']);
    assert.equal(made.code, 0, made.stderr);
    const agent = await startAgentProcess(['--certs', certs, '--name', 'a']);
    const ganesha = await startGanesha({ dir: join(dir, 'ganesha'), exportDir: join(dir, 'export'), v3: false });
    try {
      await writeFile(join(dir, 'fstab'), [
        `procsys ${dir}/procsys fuse.kmx-procsys certs=${certs},name=me,peer=a=${agent.address},_netdev,nofail 0 0`,
        `127.0.0.1:${ganesha.exportPath} ${nfsMnt} fuse.kmx-nfs vers=4,port=${ganesha.nfsPort},_netdev,x-systemd.mount-timeout=30 0 0`,
        '',
      ].join('\n'));
      const generated = await run('env', [`SYSTEMD_FSTAB=${dir}/fstab`, GENERATOR, `${dir}/units`, `${dir}/units`, `${dir}/units`]);
      assert.equal(generated.code, 0, generated.stderr);
      const units = (await readdir(join(dir, 'units'))).filter((u) => u.endsWith('.mount')).sort();
      assert.equal(units.length, 2, units.join(' '));
      const verified = await run('systemd-analyze', ['verify', '--man=no', ...units.map((u) => join(dir, 'units', u))]);
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(verified.stdout + verified.stderr, '', 'systemd-analyze verify found nothing to say');
      // What systemd runs for a mount unit: mount What Where -t Type -o Options.
      const commands: string[] = [];
      for (const unit of units) {
        const text = await readFile(join(dir, 'units', unit), 'utf8');
        const field = (name: string): string => new RegExp(`^${name}=(.*)$`, 'm').exec(text)?.[1] ?? '';
        assert.match(field('Type'), /^fuse\.kmx-(procsys|nfs)$/);
        commands.push(`mount '${field('What')}' '${field('Where')}' -t '${field('Type')}' -o '${field('Options')}'`);
      }
      const check = `
        head -1 ${dir}/procsys/hosts/a/meminfo | cut -d: -f1; awk '$1 == "a" { print $1, $2 }' ${dir}/procsys/status
        cat ${nfsMnt}/n
        umount ${dir}/procsys ${nfsMnt}`;
      const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
        ${overlay}
        mount -T ${dir}/fstab -a
        ${check}
        ${commands.join('\n')}
        ${check}
        grep -c ' ${dir}/' /proc/self/mountinfo || echo "all unmounted"`], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const once = ['MemTotal', 'a up', 'over nfs'];
      assert.deepEqual(r.stdout.trim().split('\n'), [...once, ...once, '0', 'all unmounted']);
      for (let i = 0; i < 50 && (await processesMentioning(`${dir}/`, /procsys serve|ganesha/)).length > 0; i++) await sh('sleep 0.1');
      assert.deepEqual(await processesMentioning(`${dir}/`, /procsys serve|ganesha/), [], 'the servers ended with their mounts');
      assert.deepEqual(await mountsUnder(dir), []);
    } finally {
      await ganesha.stop();
      await agent.stop();
    }
  }));
});
