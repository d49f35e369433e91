#!/usr/bin/env node
// What mount(8) runs for a fuse.kmx-smb mount (mount.fuse3 looks for kmx-smb on PATH): kmx's own command.
import { runMountHelper } from '../dist/src/lib/mount-helper.js';

process.exitCode = runMountHelper('smb', process.argv.slice(2));
