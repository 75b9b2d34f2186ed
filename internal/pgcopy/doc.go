// Package pgcopy reads and writes PostgreSQL's COPY text and CSV row
// formats, so that phiguard can rewrite single fields of a COPY stream
// (encrypting on COPY FROM STDIN, decrypting on COPY TO STDOUT) without
// touching the rest of the row. It is pure: bytes in, bytes out.
//
// A Splitter cuts a stream that arrives in arbitrary CopyData chunks into
// whole rows (a CSV field may hold a line break); Decode turns a row into
// field values (nil for NULL) and Encode turns values back into a row, each
// following COPY's rules for escapes (text) and quoting (CSV).
package pgcopy
