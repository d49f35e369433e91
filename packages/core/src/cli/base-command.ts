import { Command, Flags } from '@oclif/core';
import { pluginContainer, type DependencyContainer } from '../di/index.js';
import { expandShortFlags, respell, type PeerSpellings, type ShortFlags } from './peer-spellings.js';
import { reportError } from './report.js';

/**
 * The base of every kmx command: thin commands over the library, `--json` where a command
 * enables it, one way to report errors (one line with a hint, an exit code; `--verbose`
 * adds the stack), and the plugin's DI container.
 */
export abstract class KmxCommand extends Command {
  static override baseFlags = {
    verbose: Flags.boolean({ description: 'On errors, also print the stack trace.', helpGroup: 'GLOBAL' }),
  };

  /** What users of the peer tool type, as this command's flags (see peer-spellings.ts). */
  static peerSpellings: PeerSpellings | undefined;
  /** The peer's letters users bundle getopt-style (`-rn`), split before the spellings apply. */
  static peerShortFlags: ShortFlags | undefined;

  private containerCache: DependencyContainer | undefined;

  public override async init(): Promise<void> {
    const ctor = this.ctor as typeof KmxCommand;
    const unbundled = ctor.peerShortFlags ? expandShortFlags(this.argv, ctor.peerShortFlags) : this.argv;
    this.argv = respell(unbundled, ctor.peerSpellings);
    await super.init();
  }

  /** This plugin's child container (created on first use, so commands that need none pay nothing). */
  protected get container(): DependencyContainer {
    this.containerCache ??= pluginContainer(this.ctor.plugin?.name ?? 'kmx', (child) => this.registerServices(child));
    return this.containerCache;
  }

  /** Plugins register their services here, once per process. */
  protected registerServices(_child: DependencyContainer): void {}

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    // oclif's exit() throws an ExitError on purpose; let it through.
    if ((err as { code?: unknown }).code === 'EEXIT') throw err;
    const report = reportError(err, this.id, Object.keys(this.ctor.flags ?? {}));
    if (this.jsonEnabled()) this.logJson(report.json);
    else process.stderr.write(`${report.line}\n`);
    if (this.argv.includes('--verbose') && err.stack) process.stderr.write(`${err.stack}\n`);
    return this.exit(report.exitCode);
  }
}
