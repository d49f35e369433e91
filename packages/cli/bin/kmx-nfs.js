#!/usr/bin/env node
// What mount(8) runs for a fuse.kmx-nfs mount (mount.fuse3 looks for kmx-nfs on PATH): kmx's own command.
import { runMountHelper } from '../dist/src/lib/mount-helper.js';

process.exitCode = runMountHelper('nfs', process.argv.slice(2));
