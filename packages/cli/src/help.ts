import { CommandHelp, Help, type Command, type Interfaces } from '@oclif/core';
import { closest } from '@kmx/core';

type Example = string | { description: string; command: string };

const BIN_TAG = '<%= config.bin %>';

/**
 * oclif renders every piece of help text as an EJS template, and EJS compiles each one into a
 * new function: a good part of `--help`'s time. kmx's texts use one tag, the program's name;
 * only a text with any other tag goes to EJS.
 */
function quickRender(ejs: (text: string) => string, bin: string): (text: string) => string {
  return (text) => {
    if (!text.includes('<%')) return text;
    const plain = text.replaceAll(BIN_TAG, bin);
    return plain.includes('<%') ? ejs(text) : plain;
  };
}

/**
 * oclif's help, with three changes: the root lists every plugin topic, even one whose commands
 * have not landed yet (oclif hides topics without commands), a topic's help ends with the
 * examples of its commands, and texts without EJS in them are not run through EJS.
 */
export default class KmxHelp extends Help {
  constructor(config: Interfaces.Config, options?: Partial<Interfaces.HelpOptions>) {
    super(config, options);
    this.render = quickRender(this.render, config.bin);
  }

  protected override getCommandHelpClass(command: Command.Loadable): CommandHelp {
    const help = super.getCommandHelpClass(command);
    help.render = quickRender(help.render, this.config.bin);
    return help;
  }

  /** `--help` for a command or topic kmx does not have: kmx's one-line error, with the one meant. */
  public override async showHelp(argv: string[]): Promise<void> {
    const words = argv.filter((a) => !a.startsWith('-'));
    const subject = words.join(':');
    if (subject && !this.config.findCommand(subject) && !this.config.findTopic(subject)) {
      const known = [...this.config.commandIDs, ...this.config.topics.map((t) => t.name)].map((id) => id.replaceAll(':', ' '));
      const meant = closest(words.join(' '), known);
      process.stderr.write(`kmx: unknown command "${words.join(' ')}"; ${meant ? `did you mean "kmx ${meant}"? ` : ''}see: kmx --help\n`);
      process.exit(2);
    }
    return super.showHelp(argv);
  }

  protected override get sortedTopics(): Interfaces.Topic[] {
    const withCommands = super.sortedTopics;
    const shown = new Set(withCommands.map((t) => t.name));
    const declaredOnly = this.config.topics.filter((t) => !t.hidden && t.description && !shown.has(t.name) && !this.config.findCommand(t.name));
    return [...withCommands, ...declaredOnly].sort((a, b) => a.name.localeCompare(b.name));
  }

  protected override async showTopicHelp(topic: Interfaces.Topic): Promise<void> {
    await super.showTopicHelp(topic);
    // At run time oclif hands help the ids with the topic separator (`ns tree`), not `ns:tree`.
    const commands = this.sortedCommands.filter((c) => c.id.replaceAll(' ', ':').startsWith(`${topic.name}:`));
    if (commands.length === 0) {
      this.log('No commands yet: they arrive with this plugin\'s issue.\n');
      return;
    }
    const examples = commands.flatMap((c) => this.examplesOf(c));
    if (examples.length > 0) this.log(`EXAMPLES\n${examples.join('\n\n')}\n`);
  }

  private examplesOf(command: Command.Loadable): string[] {
    const render = (text: string): string =>
      text.replaceAll(BIN_TAG, this.config.bin).replaceAll('<%= command.id %>', command.id.replaceAll(':', ' '));
    const list = ([] as Example[]).concat((command.examples ?? []) as Example[]);
    return list.map((e) => (typeof e === 'string' ? `  $ ${render(e)}` : `  ${render(e.description)}\n    $ ${render(e.command)}`));
  }
}
