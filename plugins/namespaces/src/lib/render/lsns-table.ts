// Tables as util-linux's libsmartcols prints them for lsns (2.38, measured): one space between
// columns, numbers right-aligned, the last column unpadded; cells of several lines (NSFS) on
// lines of their own unless nowrap joins them with commas; COMMAND cut to the terminal's width
// unless notruncate. Raw output: no alignment, every cell escaped.

export interface TableColumn {
  name: string;
  right: boolean;
  /** lsns's width hint: the width a narrower column takes (NS 10, TYPE 5, …), 0 for none. */
  hint: number;
  /** May be cut to fit the terminal (lsns's SCOLS_FL_TRUNC). */
  truncate: boolean;
}

export interface TableOptions {
  raw: boolean;
  noHeadings: boolean;
  noWrap: boolean;
  noTruncate: boolean;
  /** The terminal's width, or undefined when the output is not a terminal (then nothing is cut). */
  terminalWidth: number | undefined;
}

const hex = (byte: number): string => `\\x${byte.toString(16).padStart(2, '0')}`;

/** Bytes as \xHH where `escape(byte)`, UTF-8 sequences kept whole otherwise. */
function escapeBytes(value: string, escape: (byte: number) => boolean): string {
  let out = '';
  for (const char of value) {
    const bytes = Buffer.from(char, 'utf8');
    out += bytes.some(escape) ? [...bytes].map(hex).join('') : char;
  }
  return out;
}

/**
 * What a table shows: control characters as \xHH, and a backslash that starts "\x" as \x5c, so
 * that the text reads back unambiguously (libsmartcols's mbs_safe_encode in a UTF-8 locale).
 */
export function safeText(value: string): string {
  return escapeBytes(value.replaceAll('\\x', '\\x5cx'), (b) => b < 0x20 || b === 0x7f);
}

/** Raw output: every byte outside printable ASCII, blanks and backslashes as \xHH (libsmartcols's fputs_nonblank). */
export function rawText(value: string): string {
  return escapeBytes(value, (b) => b <= 0x20 || b >= 0x7f || b === 0x5c);
}

const widthOf = (text: string): number => [...text].length;

function cut(text: string, width: number): string {
  return [...text].slice(0, Math.max(0, width)).join('');
}

/** `rows[row][column]` is a cell's lines. Returns the table's text, without a final newline. */
export function formatLsnsTable(columns: readonly TableColumn[], rows: ReadonlyArray<ReadonlyArray<readonly string[]>>, options: TableOptions): string {
  const cells = rows.map((row) => row.map((lines) => (options.noWrap || options.raw ? [lines.join(',')] : [...lines])));
  const headers = columns.map((c) => c.name);
  if (options.raw) {
    const body = cells.map((row) => row.map((lines) => rawText(lines[0] ?? '')).join(' '));
    return (options.noHeadings ? body : [headers.join(' '), ...body]).join('\n');
  }
  const shown = cells.map((row) => row.map((lines) => lines.map(safeText)));
  const widths = columns.map((column, i) => {
    // libsmartcols's count_column_width: at least the header (shown or not), and the column's
    // width hint when both the data and the header are narrower.
    const data = Math.max(0, ...shown.map((row) => Math.max(0, ...(row[i] ?? []).map(widthOf))));
    const header = widthOf(headers[i]!);
    if (data < header) return header;
    return column.hint >= 1 && data < column.hint && header < column.hint ? column.hint : data;
  });
  fitToTerminal(columns, widths, options);
  const line = (texts: readonly string[]): string => texts.map((t, i) => {
    const width = widths[i]!;
    const fitted = widthOf(t) > width ? cut(t, width) : t;
    if (i === texts.length - 1 && fitted === '') return ''; // libsmartcols pads no empty last cell, whatever its alignment
    const pad = ' '.repeat(width - widthOf(fitted));
    if (columns[i]!.right) return pad + fitted;
    return i === texts.length - 1 ? fitted : fitted + pad;
  }).join(' ');
  const out: string[] = options.noHeadings ? [] : [line(headers)];
  for (const row of shown) {
    const height = Math.max(1, ...row.map((lines) => lines.length));
    for (let k = 0; k < height; k++) out.push(line(row.map((lines) => lines[k] ?? '')));
  }
  return out.join('\n');
}

/** On a terminal, narrows the truncatable columns until a line fits (lsns keeps at least the header). */
function fitToTerminal(columns: readonly TableColumn[], widths: number[], options: TableOptions): void {
  if (options.noTruncate || options.terminalWidth === undefined) return;
  const total = (): number => widths.reduce((sum, w) => sum + w, 0) + widths.length - 1;
  for (let i = 0; i < columns.length && total() > options.terminalWidth; i++) {
    if (!columns[i]!.truncate) continue;
    const minimum = columns[i]!.name.length;
    widths[i] = Math.max(minimum, widths[i]! - (total() - options.terminalWidth));
  }
}
