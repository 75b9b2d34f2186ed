// The driver matrix's workload for node-postgres (integration/drivers_test.go
// runs it directly on plaintext tables and through phiguard on encrypted
// ones; the outputs must be identical).
//
// Usage: node workload.js MODE[,MODE...]   (modes: text, binary)
// The connection comes from the PG* environment variables; each mode runs
// on table $DRIVER_TABLE_PREFIX_MODE. Each step prints the result columns'
// type OID, typmod and format and the rows, every value tagged by its
// JavaScript type.
'use strict';
const { Client, types } = require('pg');

// In binary mode the values are compared as the bytes PostgreSQL sent:
// node-postgres's own binary parsers cover few types.
const rawBinary = {
  getTypeParser: (oid, format) => (format === 'binary' ? (b) => b : types.getTypeParser(oid, format)),
};

const COLS = 'id, ssn, name, birthdate, balance, visits, note';
const ROWS = [
  ['123-45-6789', 'Alice Smith', new Date(1980, 1, 29), 1234.56, 3, 'first'],
  ['987-65-4321', 'O\'Brien "Zoë" 日本 \\ back', new Date(1955, 10, 5), -0.05, -5, 'quotes'],
  ['555-00-1111', null, null, null, null, null],
  [null, 'Nobody', new Date(2000, 0, 1), 0, 0, 'no ssn'],
  ['123-45-6789', 'Alice Twin', new Date(1999, 11, 31), '9999999999.99', 2147483647, 'dup ssn'],
];

function show(v) {
  if (v === null) return 'NULL';
  if (v instanceof Date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `Date:${v.getFullYear()}-${pad(v.getMonth() + 1)}-${pad(v.getDate())}T${pad(v.getHours())}:${pad(v.getMinutes())}`;
  }
  if (Buffer.isBuffer(v)) return 'Buffer:' + v.toString('hex');
  return typeof v + ':' + JSON.stringify(v);
}

function report(step, res) {
  const cols = res.fields.map((f) => `${f.name}:${f.dataTypeID}:${f.dataTypeModifier}:${f.format}`);
  console.log(step + ' ' + res.command + ' ' + res.rowCount + ' ' + cols.join(' '));
  for (const row of res.rows) console.log('  ' + row.map(show).join(' | '));
}

async function workload(c, t) {
  const insert = `INSERT INTO ${t} (ssn, name, birthdate, balance, visits, note) VALUES `;
  report('insert-returning', await c.query({ text: insert + '($1, $2, $3, $4, $5, $6) RETURNING id', values: ROWS[0], rowMode: 'array' }));
  report('insert-two', await c.query({ text: insert + '($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)', values: ROWS[1].concat(ROWS[2]), rowMode: 'array' }));
  for (const r of ROWS.slice(3)) {
    report('insert', await c.query({ name: 'ins-' + t, text: insert + '($1, $2, $3, $4, $5, $6)', values: r, rowMode: 'array' }));
  }
  report('select-id', await c.query({ text: `SELECT ${COLS} FROM ${t} WHERE id = $1`, values: [2], rowMode: 'array' }));
  // A named statement is parsed once and then only bound and executed.
  for (let i = 0; i < 6; i++) {
    report('select-ssn-' + i, await c.query({ name: 'ssn-' + t, text: `SELECT ${COLS} FROM ${t} WHERE ssn = $1 ORDER BY id`, values: ['123-45-6789'], rowMode: 'array' }));
  }
  report('update', await c.query({ text: `UPDATE ${t} SET name = $1, balance = $2, visits = $3, birthdate = $4 WHERE ssn = $5`,
    values: ['Carol', -12.3, 7, new Date(1970, 0, 1), '555-00-1111'], rowMode: 'array' }));
  report('update-null', await c.query({ text: `UPDATE ${t} SET visits = $1, name = $2 WHERE id = $3`, values: [null, 'Ann', 1], rowMode: 'array' }));
  report('select-null', await c.query({ text: `SELECT id, visits, name FROM ${t} WHERE ssn IS NULL OR visits IS NULL ORDER BY id`, rowMode: 'array' }));
  report('delete', await c.query({ text: `DELETE FROM ${t} WHERE id = $1`, values: [4], rowMode: 'array' }));
  report('select-all', await c.query({ text: `SELECT ${COLS} FROM ${t} ORDER BY id`, rowMode: 'array' }));
  report('select-all-simple', await c.query({ text: `SELECT ${COLS} FROM ${t} ORDER BY id`, rowMode: 'array' }));
}

async function main() {
  for (const mode of process.argv[2].split(',')) {
    if (mode !== 'text' && mode !== 'binary') throw new Error('unknown mode ' + mode);
    console.log('== ' + mode);
    const c = new Client(mode === 'binary' ? { binary: true, types: rawBinary } : {});
    await c.connect();
    try {
      await workload(c, process.env.DRIVER_TABLE_PREFIX + '_' + mode);
    } finally {
      await c.end();
    }
  }
}

main().catch((e) => {
  console.error(e.message, e.code || '');
  process.exit(1);
});
