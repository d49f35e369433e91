#!/usr/bin/env node
// What mount(8) runs for a fuse.kmx-procsys mount (mount.fuse3 looks for kmx-procsys on PATH): kmx's own command.
import { runMountHelper } from '../dist/src/lib/mount-helper.js';

process.exitCode = runMountHelper('procsys', process.argv.slice(2));
