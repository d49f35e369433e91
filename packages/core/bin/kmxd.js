#!/usr/bin/env node
// kmxd: the root daemon behind `kmx nfs mount` (see `kmxd --help`).
import { kmxdMain } from '../dist/src/daemon/main.js';

process.exitCode = await kmxdMain(process.argv.slice(2));
