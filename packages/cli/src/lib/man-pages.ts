import type { Command, Config } from '@oclif/core';

// Man pages made from the commands' own help (summary, description, arguments, flags,
// examples), so that `man kmx-sftp-mount` says what `kmx sftp mount --help` says.

export interface ManPage {
  /** kmx.1, kmx-sftp-mount.1, … */
  file: string;
  text: string;
}

/**
 * Text as roff reads it: backslashes and hyphens escaped, lines that would start a request
 * guarded, and every character beyond ASCII (…, —, ×) named by its code point, which groff
 * reads whatever its input encoding.
 */
function roff(text: string): string {
  return text.replaceAll('\\', '\\e').replaceAll('-', '\\-')
    .replace(/[^\p{ASCII}]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`)
    .split('\n').map((line) => (/^[.']/.test(line) ? `\\&${line}` : line)).join('\n');
}

const render = (text: string, config: Config, id: string): string =>
  text.replaceAll('<%= config.bin %>', config.bin).replaceAll('<%= command.id %>', id.replaceAll(':', ' '));

type Example = string | { description: string; command: string };

function commandPage(command: Command.Loadable, config: Config, date: string): ManPage {
  const words = command.id.split(':');
  const name = `${config.bin}-${words.join('-')}`;
  const lines: string[] = [
    `.TH ${name.toUpperCase()} 1 "${date}" "${config.bin} ${config.version}" "User Commands"`,
    '.SH NAME',
    `${roff(name)} \\- ${roff(command.summary ?? '')}`,
    '.SH SYNOPSIS',
    `.B ${roff(`${config.bin} ${words.join(' ')}`)}`,
    ...Object.entries(command.args ?? {}).map(([arg, spec]) => (spec.required ? `.I ${arg.toUpperCase()}` : `[\\fI${arg.toUpperCase()}\\fR]`)),
    '[\\fIFLAGS\\fR]',
  ];
  if (command.description) lines.push('.SH DESCRIPTION', roff(render(command.description, config, command.id)).replaceAll('\n\n', '\n.PP\n'));
  const args = Object.entries(command.args ?? {});
  if (args.length > 0) {
    lines.push('.SH ARGUMENTS');
    for (const [arg, spec] of args) lines.push('.TP', `.I ${arg.toUpperCase()}`, roff(spec.description ?? ''));
  }
  const flags = Object.entries(command.flags ?? {}).filter(([, f]) => !f.hidden);
  if (flags.length > 0) {
    lines.push('.SH FLAGS');
    for (const [flagName, f] of flags) {
      const value = f.type === 'option' ? ` \\fI${(f.helpValue as string | undefined) ?? flagName.toUpperCase()}\\fR` : '';
      lines.push('.TP', `${f.char ? `\\fB\\-${f.char}\\fR, ` : ''}\\fB\\-\\-${roff(flagName)}\\fR${value}`, roff(f.description ?? f.summary ?? ''));
    }
  }
  const examples = ([] as Example[]).concat((command.examples ?? []) as Example[]);
  if (examples.length > 0) {
    lines.push('.SH EXAMPLES');
    for (const e of examples) {
      const [description, line] = typeof e === 'string' ? ['', e] : [e.description, e.command];
      if (description) lines.push('.PP', roff(render(description, config, command.id)));
      lines.push('.PP', '.RS', `.B ${roff(render(line, config, command.id))}`, '.RE');
    }
  }
  lines.push('.SH SEE ALSO', `.BR ${config.bin} (1)`);
  return { file: `${name}.1`, text: `${lines.join('\n')}\n` };
}

/** kmx(1), listing every command, and one page per command. */
export function manPages(config: Config, date = new Date().toISOString().slice(0, 10)): ManPage[] {
  const commands = config.commands.filter((c) => !c.hidden && !c.id.startsWith('autocomplete') && c.id !== 'help').sort((a, b) => a.id.localeCompare(b.id));
  const pages = commands.map((c) => commandPage(c, config, date));
  const main = [
    `.TH ${config.bin.toUpperCase()} 1 "${date}" "${config.bin} ${config.version}" "User Commands"`,
    '.SH NAME',
    `${config.bin} \\- ${roff(config.pjson.description ?? '')}`,
    '.SH SYNOPSIS',
    `.B ${config.bin}`,
    '\\fITOPIC\\fR \\fICOMMAND\\fR [\\fIARGUMENTS\\fR] [\\fIFLAGS\\fR]',
    '.SH COMMANDS',
    ...commands.flatMap((c) => ['.TP', `.B ${roff(`${config.bin} ${c.id.replaceAll(':', ' ')}`)}`, `${roff(c.summary ?? '')} See \\fB${config.bin}\\-${c.id.replaceAll(':', '\\-')}\\fR(1).`]),
    '.SH FILES',
    '.TP', '.I /etc/kmx/kmxd.conf', 'kmxd\'s policy (see \\fBkmxd \\-\\-help\\fR).',
    '.SH SEE ALSO',
    pages.map((p) => `.BR ${p.file.replace(/\.1$/, '')} (1)`).join(',\n'),
  ];
  return [{ file: `${config.bin}.1`, text: `${main.join('\n')}\n` }, ...pages];
}
