package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/phiguard/phiguard/keys"
)

// TestBinaryCopyFrom: pgx's CopyFrom writes COPY FROM STDIN in binary
// format, each field in the binary form of the type phiguard described
// for its column. Into a table with encrypted columns its protected
// fields are encrypted (the cells sent as binary text) and the table
// reads back as the plaintext twin loaded the same way; many rows, so the
// stream crosses CopyData messages mid-tuple. Binary COPY TO STDOUT stays
// refused.
func TestBinaryCopyFrom(t *testing.T) {
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
	_, err := tw.via.Exec(ctx, "COPY "+tw.enc+" TO STDOUT (FORMAT binary)", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "0A000")
}
