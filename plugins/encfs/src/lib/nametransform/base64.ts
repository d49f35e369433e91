/**
 * The base64 flavours of gocryptfs names: URL-safe, unpadded with the Raw64 flag (the
 * default), padded without it. Decoding is strict: Node's decoder skips characters it does
 * not know and accepts '+/' too, which would let two spellings name one file.
 */
export class NameBase64 {
  constructor(private readonly raw: boolean) {}

  encode(data: Buffer): string {
    const text = data.toString('base64url');
    if (this.raw) return text;
    return text + '='.repeat((4 - (text.length % 4)) % 4);
  }

  /** The bytes of `text`, or undefined unless it is exactly what encode() would write for them. */
  decode(text: string): Buffer | undefined {
    if (!/^[A-Za-z0-9_-]+={0,2}$/.test(text)) return undefined;
    const data = Buffer.from(text, 'base64url');
    return this.encode(data) === text ? data : undefined;
  }
}
