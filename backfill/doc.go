// Package backfill converts the protected columns of existing rows in place,
// talking to PostgreSQL directly (not through the proxy) with the same
// keyring, cell format and canonical values the proxy uses:
//
//   - Encrypt: legacy plaintext becomes cells under the key's write version
//     (the online backfill of `phiguard encrypt`);
//   - Reencrypt: cells of older versions (and plaintext) move to the write
//     version (`phiguard encrypt --reencrypt`, after `phiguard keys rotate`);
//   - Decrypt: cells become the canonical plaintext of the column's logical
//     type again (`phiguard decrypt`, the way out).
//
// # Online and safe beside the application
//
// A table is walked in batches by primary key (or by ranges of heap pages,
// ctid, when it has none). Each batch is one short transaction that locks
// its rows with SELECT ... FOR UPDATE, computes the new cells in Go and
// writes them back with one UPDATE ... FROM unnest(...). A writer going
// through phiguard at the same time either commits before the batch reads
// the row (the batch then sees its ciphertext and leaves it alone) or waits
// on the row lock for the few milliseconds the batch takes and then
// overwrites the batch's result with its own value: no write is lost, and
// since phiguard encrypts every write, no plaintext is written back either.
// A deadlock or serialization failure aborts only the batch, which is retried.
//
// Cells already in the target state are never touched: a plaintext cell is
// encrypted once, a cell of the write version is not re-encrypted.
//
// # Per-subject columns
//
// A column sealed per subject (policy.ProtectedColumn.PerSubject, a table
// with a subject_column) is converted as the proxy writes it: each row's
// subject column is read in the same locked SELECT, and plaintext is
// sealed under that subject's key (keys.SubjectKeys; the batch's keys are
// fetched and created together first). Reencrypt also moves column-key
// cells to the subject key; subject cells are never touched by Encrypt or
// Reencrypt, since they depend on no column key version. Decrypt opens
// them, and leaves a shredded subject's cells sealed. A NULL subject or a
// shredded subject's plaintext is left as it is and counted
// (TableResult.NoSubject, Shredded). Without Options.Subjects such a
// column is refused, never sealed under the column key that shred could
// not reach.
//
// # Search terms
//
// A column with `search` in the policy gets format-2 cells carrying its
// search terms (docs/design/search-terms.md §7.4; terms.go): sealed with
// them, re-sealed with them on Reencrypt, and given them (same
// ciphertext) where a cell lacks current ones; Options.RebuildTerms
// recomputes every cell's. The order and match terms of text are
// computed under the column's collation read from the catalog
// (search.ColumnCollation), refused when phiguard cannot compute them
// exactly (ICU and the rest). The census counts cells by their terms
// (Census.Terms) and by their terms' key version (Census.TermVersions,
// which CheckRetireTerms reads for keys retire). ShredTerms
// (shred_terms.go) is phiguard shred's database step: a shredded
// subject's cells get the terms of what they now read as.
//
// # The cells-only CHECK
//
// At the end of each table of an Encrypt or Reencrypt, every column whose
// census counts no plaintext gets its cells-only CHECK (package cellcheck;
// cellcheck.go), so the database refuses plaintext in it however it gets
// there; a column with plaintext left gets a note instead, and so does a
// login that does not own the table. Decrypt drops it before its first
// batch, since the plaintext it writes would fail it.
//
// # Resume
//
// Batches run two at a time by default, each on its own connection, so that
// PostgreSQL works on one while Go encrypts the other. Once a batch and
// every batch before it have committed, its last key is written to the
// table public.phiguard_backfill_progress: a run killed at any point
// resumes from there. The resume point never passes a batch that did not
// commit; the one or two batches that committed after it are examined again
// and, by the skip rule above, left alone, so nothing is converted twice. A
// finished run, or a run whose target key versions changed since (a
// rotation in between), starts again from the beginning; the skip rule
// keeps that cheap too.
//
// # Column types
//
// Cells are text. A protected column of another type (birthdate date) is
// altered first with ALTER TABLE ... ALTER COLUMN ... TYPE text USING
// col::text under DateStyle ISO and TimeZone UTC: an ACCESS EXCLUSIVE lock
// held for one rewrite of the table, which Run reports. The policy's type:
// already records the logical type the proxy keeps presenting. PostgreSQL
// rebuilds the column's indexes as part of the ALTER. Indexes on
// deterministic columns stay valid through the UPDATEs (PostgreSQL maintains
// them row by row); Run rebuilds them with REINDEX INDEX CONCURRENTLY at the
// end only to shed the bloat of one dead entry per row. Indexes on
// randomized columns can no longer serve any query and are reported.
//
// This package never writes a PHI value, key or password to its notes or
// errors: a row is named by its ctid.
package backfill
