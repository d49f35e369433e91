import { Args } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { GOCRYPTFS_TARGET_SPELLINGS, loadTargetConfig, locateTarget, targetFlags } from '../../lib/cli/index.js';

interface InfoResult {
  config: string;
  kind: 'forward' | 'reverse' | 'sources';
  creator: string;
  version: number;
  featureFlags: string[];
  contentEncryption: string;
  longNameMax: number;
  encryptedKeyBytes: number;
  scrypt: { saltBytes: number; N: number; R: number; P: number; keyLen: number };
  sources?: Array<{ label: string; path: string }>;
}

export default class EncInfo extends KmxCommand {
  static override enableJsonFlag = true;
  static override summary = 'Show what a config says (format, flags, scrypt cost, sources) without the password and without secrets.';
  static override description = 'Reads gocryptfs.conf of a CIPHERDIR, .gocryptfs.reverse.conf of a plain directory, a multi-source config, or any of them named as a file. Prints gocryptfs -info\'s fields; --json for scripts.';
  static override examples = [
    '<%= config.bin %> enc info ~/vault.enc',
    '<%= config.bin %> enc info --json ~/docs/.gocryptfs.reverse.conf',
    '<%= config.bin %> enc info --sources ~/.config/kmx/backup.conf',
  ];

  static override args = {
    dir: Args.string({ description: 'CIPHERDIR, plain directory or config file (omitted with --sources).', required: false }),
  };

  static override flags = { ...targetFlags };

  static override peerSpellings = GOCRYPTFS_TARGET_SPELLINGS;

  async run(): Promise<InfoResult> {
    const { args, flags } = await this.parse(EncInfo);
    const target = await locateTarget(args.dir, flags, { anyKind: true });
    const config = await loadTargetConfig(target);
    const s = config.json.ScryptObject;
    const result: InfoResult = {
      config: config.file,
      kind: target.kind,
      creator: config.json.Creator,
      version: config.json.Version,
      featureFlags: config.json.FeatureFlags,
      contentEncryption: config.contentEncryption,
      longNameMax: config.longNameMax,
      encryptedKeyBytes: config.encryptedKey.length,
      scrypt: { saltBytes: Buffer.from(s.Salt, 'base64').length, N: s.N, R: s.R, P: s.P, keyLen: s.KeyLen },
      ...(config.sources ? { sources: config.sources.map((e) => ({ label: e.Label, path: e.Path })) } : {}),
    };
    const lines = [
      ['Config', `${result.config} (${result.kind === 'forward' ? 'CIPHERDIR' : result.kind === 'reverse' ? 'reverse' : 'multi-source reverse'})`],
      ['Creator', result.creator],
      ['FeatureFlags', result.featureFlags.join(' ')],
      ['EncryptedKey', `${result.encryptedKeyBytes}B`],
      ['ScryptObject', `Salt=${result.scrypt.saltBytes}B N=${s.N} R=${s.R} P=${s.P} KeyLen=${s.KeyLen}`],
      ['contentEncryption', result.contentEncryption],
      ...(config.json.LongNameMax !== undefined ? [['LongNameMax', String(config.json.LongNameMax)]] : []),
      ...(result.sources ?? []).map((e) => ['Source', `${e.label} = ${e.path}`]),
    ];
    for (const [key, value] of lines) this.log(`${`${key}:`.padEnd(19)}${value}`);
    return result;
  }
}
