package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/phiguard/phiguard/keys"
)

// TestBinaryCopy: pgx's CopyFrom writes COPY FROM STDIN in binary
// format, each field in the binary form of the type phiguard described
// for its column. Into a table with encrypted columns its protected
// fields are encrypted (the cells sent as binary text) and the table
// reads back as the plaintext twin loaded the same way; many rows, so the
// stream crosses CopyData messages mid-tuple. COPY TO STDOUT in binary
// then gives the same bytes as the plaintext twin's.
func TestBinaryCopy(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "bincopy",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: bincopy-ssn, type: text}"},
		twinColumn{"born", "date", "{mode: randomized, key: bincopy-pii, type: date}"},
		twinColumn{"balance", "numeric(12,2)", `{mode: randomized, key: bincopy-pii, type: "numeric(12,2)"}`},
		twinColumn{"visits", "integer", "{mode: randomized, key: bincopy-pii, type: integer}"},
		twinColumn{"note", "text", ""})
	var rows [][]any
	for i := 0; i < 3000; i++ {
		var bal pgtype.Numeric
		if err := bal.Scan(fmt.Sprintf("%d.%02d", i-1500, i%100)); err != nil {
			t.Fatal(err)
		}
		row := []any{i, fmt.Sprintf("078-05-%04d", i%50), time.Date(1930+i%90, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC), bal, int32(i - 1000), fmt.Sprintf("note %d ünïcode", i)}
		if i%7 == 0 {
			row[1], row[2], row[3], row[4] = nil, nil, nil, nil
		}
		rows = append(rows, row)
	}
	cols := []string{"id", "ssn", "born", "balance", "visits", "note"}
	for side, conn := range map[string]*pgx.Conn{tw.plain: tw.dir, tw.enc: tw.via} {
		n, err := conn.CopyFrom(ctx, pgx.Identifier{side}, cols, pgx.CopyFromRows(rows))
		if err != nil || n != int64(len(rows)) {
			t.Fatalf("CopyFrom %s: %d rows, %v", side, n, err)
		}
	}
	for _, mode := range bothModes {
		tw.same(t, "SELECT id, ssn, born, balance, visits, note FROM %s ORDER BY id", mode, "binary COPY")
		tw.same(t, "SELECT id FROM %s WHERE ssn = '078-05-0007' ORDER BY id", mode, "binary COPY, compared")
	}
	var cell string
	if err := tw.dir.QueryRow(ctx, "SELECT born FROM "+tw.enc+" WHERE id = 1").Scan(&cell); err != nil || !keys.IsCell([]byte(cell)) {
		t.Fatalf("at rest: %d chars, %v", len(cell), err)
	}
	var want, got bytes.Buffer
	if _, err := tw.dir.PgConn().CopyTo(ctx, &want, "COPY "+tw.plain+" TO STDOUT (FORMAT binary)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.via.PgConn().CopyTo(ctx, &got, "COPY "+tw.enc+" (id, ssn, born, balance, visits, note) TO STDOUT WITH (FORMAT binary)"); err != nil {
		t.Fatalf("binary COPY TO through phiguard: %v", err)
	}
	// A table scan may start anywhere (synchronized scans): compare the
	// tuples sorted, which orders them by id, the first field.
	g, w := sortedTuples(t, got.Bytes()), sortedTuples(t, want.Bytes())
	if len(w) != 3000 || len(g) != len(w) {
		t.Fatalf("binary COPY TO: %d tuples through phiguard, %d directly", len(g), len(w))
	}
	for i := range w {
		if !bytes.Equal(g[i], w[i]) {
			t.Fatalf("binary COPY TO: tuple %d is\n% x through phiguard,\n% x directly", i, g[i], w[i])
		}
	}
}

// sortedTuples cuts a binary COPY stream into its tuples, sorted.
func sortedTuples(t *testing.T, data []byte) [][]byte {
	t.Helper()
	const head = 11 + 4 + 4
	if len(data) < head+2 {
		t.Fatalf("binary COPY stream of %d bytes", len(data))
	}
	at := head + int(binary.BigEndian.Uint32(data[head-4:head]))
	var tuples [][]byte
	for {
		n := int(int16(binary.BigEndian.Uint16(data[at:])))
		if n == -1 {
			break
		}
		start := at
		at += 2
		for i := 0; i < n; i++ {
			size := int(int32(binary.BigEndian.Uint32(data[at:])))
			at += 4 + max(size, 0)
		}
		tuples = append(tuples, data[start:at])
	}
	slices.SortFunc(tuples, bytes.Compare)
	return tuples
}

// TestBinaryCopyPerSubjectRefused: cells sealed per subject are sealed
// under their row's subject read as text, so a binary COPY of such a table
// is refused both ways, never passed through.
func TestBinaryCopyPerSubjectRefused(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("bincopy_subj")
	if _, err := direct(t).Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, name text)"); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    subject_column: id
    columns:
      name: {mode: randomized, key: bincopy-subj, type: text}
`, table))})
	conn := p.app(t)
	_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "name"}, pgx.CopyFromRows([][]any{{1, "Ann"}}))
	wantPgError(t, err, "0A000")
	var out bytes.Buffer
	_, err = conn.PgConn().CopyTo(ctx, &out, "COPY "+table+" TO STDOUT (FORMAT binary)")
	wantPgError(t, err, "0A000")
}
