/**
 * Reading an import file: CSV (RFC 4180: quoted fields, doubled quotes, newlines inside quotes) with a
 * header row of Kinde's import columns, or JSON lines (one object per line). Each row keeps the line
 * it starts on, so a bad one can be reported where a person will find it.
 */
export interface ImportRow {
  line: number;
  fields: Record<string, unknown>;
}

export function parseImportFile(text: string): ImportRow[] {
  const body = text.replace(/^\uFEFF/, '');
  return body.trimStart().startsWith('{') ? jsonLines(body) : csv(body);
}

function jsonLines(text: string): ImportRow[] {
  const rows: ImportRow[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    if (raw.trim() === '') return;
    let fields: unknown;
    try {
      fields = JSON.parse(raw);
    } catch {
      fields = undefined;
    }
    rows.push({ line: index + 1, fields: fields !== null && typeof fields === 'object' && !Array.isArray(fields) ? (fields as Record<string, unknown>) : { __invalid: 'not a JSON object' } });
  });
  return rows;
}

/** Splits CSV text into records of fields, each with the line it starts on. */
function csvRecords(text: string): Array<{ line: number; values: string[] }> {
  const records: Array<{ line: number; values: string[] }> = [];
  let values: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let fieldStarted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else {
        if (char === '\n') line++;
        field += char;
      }
      continue;
    }
    if (char === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
    } else if (char === ',') {
      values.push(field);
      field = '';
      fieldStarted = false;
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i++;
      values.push(field);
      if (values.some((value) => value !== '')) records.push({ line: startLine, values });
      values = [];
      field = '';
      fieldStarted = false;
      line++;
      startLine = line;
    } else {
      field += char;
      fieldStarted = true;
    }
  }
  values.push(field);
  if (values.some((value) => value !== '')) records.push({ line: startLine, values });
  return records;
}

function csv(text: string): ImportRow[] {
  const [header, ...records] = csvRecords(text);
  if (!header) return [];
  const columns = header.values.map((name) => name.trim().toLowerCase());
  return records.map((record) => ({
    line: record.line,
    fields: Object.fromEntries(columns.map((column, index) => [column, record.values[index] ?? ''])),
  }));
}
