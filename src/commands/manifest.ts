/**
 * `devox eval` manifests: CSV with a header holding at least `path` and `label`
 * (genuine|synthetic); paths are relative to the manifest's directory; every other column is kept
 * per row (`columns`, keyed by the lowercased header) for `devox eval --by COLUMN`.
 * Hand-written reader (RFC 4180 quoting, CRLF): no CSV library among the dependencies, and the
 * format is small. Bad rows are reported with their line number, never skipped silently.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';

export type TruthLabel = 'genuine' | 'synthetic';

export interface ManifestRow {
  /** Absolute path of the audio file. */
  path: string;
  /** As written in the manifest. */
  relPath: string;
  label: TruthLabel;
  line: number;
  /**
   * The row's other columns (every header column but path and label), keyed by the header
   * lowercased and trimmed, values trimmed; '' where the row is shorter than the header. Every row
   * has the same keys. A repeated or empty header name keeps its first column / is skipped.
   */
  columns: Record<string, string>;
}

export class ManifestError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, line: number | undefined, message: string, options?: { cause?: unknown }) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${message}`, options);
    this.name = 'ManifestError';
    this.file = file;
    this.line = line;
  }
}

/** Splits CSV text into records of fields, with the 1-based line each record starts on. */
export function parseCsv(text: string): Array<{ line: number; fields: string[] }> {
  const out: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"') {
      quoted = true;
      any = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      any = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      if (any || field.length > 0) {
        fields.push(field);
        out.push({ line: start, fields });
      }
      fields = [];
      field = '';
      any = false;
      line++;
      start = line;
    } else {
      field += c;
      any = true;
    }
  }
  if (any || field.length > 0) {
    fields.push(field);
    out.push({ line: start, fields });
  }
  return out;
}

export async function readManifest(file: string): Promise<ManifestRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ManifestError(file, undefined, `cannot read manifest (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  const records = parseCsv(text.replace(/^\uFEFF/, ''));
  if (records.length === 0) throw new ManifestError(file, undefined, 'manifest is empty');
  const header = records[0]!.fields.map((h) => h.trim().toLowerCase());
  const pathCol = header.indexOf('path');
  const labelCol = header.indexOf('label');
  if (pathCol < 0 || labelCol < 0) {
    throw new ManifestError(file, records[0]!.line, `header must have "path" and "label" columns, got: ${records[0]!.fields.join(',')}`);
  }
  const extra: Array<[string, number]> = [];
  header.forEach((h, i) => {
    if (h && h !== 'path' && h !== 'label' && !extra.some(([name]) => name === h)) extra.push([h, i]);
  });
  const base = dirname(resolve(file));
  const rows: ManifestRow[] = [];
  for (const r of records.slice(1)) {
    const relPath = (r.fields[pathCol] ?? '').trim();
    const label = (r.fields[labelCol] ?? '').trim().toLowerCase();
    if (!relPath) throw new ManifestError(file, r.line, 'empty path');
    if (label !== 'genuine' && label !== 'synthetic') {
      throw new ManifestError(file, r.line, `label must be genuine or synthetic, got ${JSON.stringify(r.fields[labelCol] ?? '')}`);
    }
    // No prototype: a header such as "constructor" or "__proto__" is just a column name.
    const columns = Object.create(null) as Record<string, string>;
    for (const [name, i] of extra) columns[name] = (r.fields[i] ?? '').trim();
    rows.push({ path: isAbsolute(relPath) ? relPath : resolve(base, relPath), relPath, label, line: r.line, columns });
  }
  if (rows.length === 0) throw new ManifestError(file, undefined, 'manifest has a header but no rows');
  return rows;
}

/** The extra (non path/label) column names of a manifest, in header order. */
export function manifestColumns(rows: readonly ManifestRow[]): string[] {
  return rows.length > 0 ? Object.keys(rows[0]!.columns) : [];
}
