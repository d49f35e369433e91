import { Flags } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { createCertificates, type CertsResult } from '../../lib/certs/certificates.js';

export default class Certs extends KmxCommand {
  static override summary = 'Create the cluster CA and node certificates for kmx procsys serve and mount.';
  static override description = `Writes DIR/ca.pem and DIR/ca-key.pem (the cluster CA, made on the first run and reused after), and for each --node NAME: DIR/NAME.pem and DIR/NAME-key.pem (ECDSA P-256, for both server and client use). Every file is written to a new file in DIR (keys created mode 0600) and renamed into place, so nothing is ever written through a file or link already there. A peer is checked against the name its certificate carries, so give every node the name it is mounted by (--peer NAME=…). Copy ca.pem, NAME.pem and NAME-key.pem to node NAME; keep ca-key.pem on the machine that makes certificates.
--revoke NAME adds node NAME's certificate (serial and SHA-256 fingerprint) to DIR/revoked.txt. Copy that file into the --certs directory of every node: agents refuse every call from a certificate it lists, clients refuse an agent whose certificate it lists; both read it again when it changes.`;

  static override examples = [
    { description: 'A CA and certificates for three nodes', command: '<%= config.bin %> procsys certs --dir ~/kmx-certs --node web --node db --node cache' },
    { description: 'Add a node later (the CA is reused)', command: '<%= config.bin %> procsys certs --dir ~/kmx-certs --node worker4' },
    { description: 'Revoke a lost node\'s certificate (then copy revoked.txt to every node)', command: '<%= config.bin %> procsys certs --dir ~/kmx-certs --revoke worker4' },
  ];

  static override enableJsonFlag = true;

  static override flags = {
    dir: Flags.string({ description: 'Directory for the CA and the certificates (created if missing).', required: true }),
    node: Flags.string({ description: 'A node name to make a certificate for. Repeat for more.', multiple: true, multipleNonGreedy: true }),
    revoke: Flags.string({ description: 'A node whose certificate (DIR/NAME.pem) goes into DIR/revoked.txt. Repeat for more.', multiple: true, multipleNonGreedy: true }),
    'alt-name': Flags.string({ description: 'An extra DNS name or IP address, as NODE=NAME, put in that node\'s certificate. Repeat for more.', multiple: true, multipleNonGreedy: true }),
    days: Flags.integer({ description: 'Validity of new certificates, in days.', default: 825 }),
  };

  async run(): Promise<CertsResult> {
    const { flags } = await this.parse(Certs);
    const alt = new Map<string, string[]>();
    for (const spec of flags['alt-name'] ?? []) {
      const [node, name] = spec.split('=', 2);
      if (!node || !name) this.error(`invalid --alt-name "${spec}": write NODE=NAME`, { exit: 2 });
      alt.set(node, [...(alt.get(node) ?? []), name]);
    }
    const result = await createCertificates(flags.dir, (flags.node ?? []).map((name) => ({ name, altNames: alt.get(name) ?? [] })), flags.days, flags.revoke ?? []);
    for (const r of result.revoked) this.log(`revoked node ${r.name}: serial ${r.serial} in ${r.list} (copy it into every node's --certs directory)`);
    if (result.nodes.length > 0) this.log(`${result.createdCa ? 'created' : 'reused'} the cluster CA ${result.dir}/ca.pem`);
    for (const node of result.nodes) this.log(`node ${node.name}: ${node.cert}, ${node.key}`);
    return result;
  }
}
