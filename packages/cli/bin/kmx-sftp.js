#!/usr/bin/env node
// What mount(8) runs for a fuse.kmx-sftp mount (mount.fuse3 looks for kmx-sftp on PATH): kmx's own command.
import { runMountHelper } from '../dist/src/lib/mount-helper.js';

process.exitCode = runMountHelper('sftp', process.argv.slice(2));
