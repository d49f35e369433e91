#!/usr/bin/env node
// What mount(8) runs for a fuse.kmx-passthrough mount (mount.fuse3 looks for kmx-passthrough on PATH): kmx's own command.
import { runMountHelper } from '../dist/src/lib/mount-helper.js';

process.exitCode = runMountHelper('passthrough', process.argv.slice(2));
