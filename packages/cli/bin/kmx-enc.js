#!/usr/bin/env node
// What mount(8) runs for a fuse.kmx-enc mount (mount.fuse3 looks for kmx-enc on PATH): kmx's own command.
import { runMountHelper } from '../dist/src/lib/mount-helper.js';

process.exitCode = runMountHelper('enc', process.argv.slice(2));
