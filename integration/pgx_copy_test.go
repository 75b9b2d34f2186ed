package integration

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestCopy(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t)
	table := uniqueName("copy")
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, name text, born date, score numeric, tags text[])"); err != nil {
		t.Fatal(err)
	}

	t.Run("pgx CopyFrom 10k rows", func(t *testing.T) {
		const rows = 10000
		n, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "name", "born", "score", "tags"},
			pgx.CopyFromSlice(rows, func(i int) ([]any, error) {
				return []any{i, fmt.Sprintf("name\t%d \"quoted\" \\ ☃", i), time.Date(1950+i%70, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC),
					fmt.Sprintf("%d.%02d", i, i%100), []string{"a", fmt.Sprint(i)}}, nil
			}))
		if err != nil {
			t.Fatalf("CopyFrom: %v", err)
		}
		if n != rows {
			t.Fatalf("CopyFrom reported %d rows", n)
		}
		// Check what landed, from PostgreSQL's side.
		d := direct(t)
		if count := queryInt(t, d, "SELECT count(*) FROM "+table); count != rows {
			t.Fatalf("%d rows in the table", count)
		}
		if queryInt(t, d, "SELECT count(*) FROM "+table+" WHERE name = $1 AND tags = $2", "name\t42 \"quoted\" \\ ☃", []string{"a", "42"}) != 1 {
			t.Fatal("row 42 did not arrive intact")
		}
	})

	t.Run("CopyTo byte-equal to direct", func(t *testing.T) {
		viaPG := direct(t).PgConn()
		for _, q := range []string{
			"COPY " + table + " TO STDOUT",
			"COPY " + table + " TO STDOUT (FORMAT csv, HEADER)",
			"COPY " + table + " TO STDOUT (FORMAT binary)",
			"COPY (SELECT * FROM " + table + " WHERE id < 100 ORDER BY id DESC) TO STDOUT",
		} {
			var got, want bytes.Buffer
			tagGot, err := conn.PgConn().CopyTo(ctx, &got, q)
			if err != nil {
				t.Fatalf("%s through phiguard: %v", q, err)
			}
			tagWant, err := viaPG.CopyTo(ctx, &want, q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if tagGot.String() != tagWant.String() {
				t.Errorf("%s: tag %q, want %q", q, tagGot, tagWant)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s: %d bytes differ from PostgreSQL's %d", q, got.Len(), want.Len())
			}
			if got.Len() < 100 {
				t.Errorf("%s: only %d bytes", q, got.Len())
			}
		}
	})

	t.Run("CopyFrom text stream and a bad row", func(t *testing.T) {
		other := uniqueName("copytext")
		if _, err := conn.Exec(ctx, "CREATE TABLE "+other+" (id int, v text)"); err != nil {
			t.Fatal(err)
		}
		var in strings.Builder
		for i := range 50000 {
			fmt.Fprintf(&in, "%d,row %d with some padding to cross buffers\n", i, i)
		}
		tag, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(in.String()), "COPY "+other+" FROM STDIN (FORMAT csv)")
		if err != nil || tag.RowsAffected() != 50000 {
			t.Fatalf("CopyFrom: %v, %v", tag, err)
		}
		_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader("1,ok\nnot-a-number,bad\n"), "COPY "+other+" FROM STDIN (FORMAT csv)")
		wantPgError(t, err, "22P02")
		if n := queryInt(t, conn, "SELECT count(*) FROM "+other); n != 50000 {
			t.Fatalf("%d rows after the failed COPY, want 50000", n)
		}
	})
}

// TestLargeValues sends and receives single values far larger than
// phiguard's 16 KB buffers, in both protocols and both formats.
func TestLargeValues(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t)
	table := uniqueName("large")
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, b bytea, t text)"); err != nil {
		t.Fatal(err)
	}
	const size = 5 << 20
	blob := make([]byte, size)
	rand.Read(blob)
	text := strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", size/32)

	// Upload: bytea as a binary parameter (one 5 MB Bind), text inside
	// a 5 MB simple Query.
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, b) VALUES (1, $1)", blob); err != nil {
		t.Fatalf("insert bytea: %v", err)
	}
	if _, err := conn.Exec(ctx, "UPDATE "+table+" SET t = '"+text+"' WHERE id = 1", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("update text: %v", err)
	}
	// PostgreSQL's own view of what arrived.
	sumB, sumT := md5.Sum(blob), md5.Sum([]byte(text))
	var gotB, gotT string
	if err := direct(t).QueryRow(ctx, "SELECT md5(b), md5(t) FROM "+table+" WHERE id = 1").Scan(&gotB, &gotT); err != nil {
		t.Fatal(err)
	}
	if gotB != hex.EncodeToString(sumB[:]) || gotT != hex.EncodeToString(sumT[:]) {
		t.Fatal("the large values were altered on the way in")
	}

	// Download in binary (extended) and text (simple, bytea as hex: 10 MB).
	var b []byte
	var s string
	if err := conn.QueryRow(ctx, "SELECT b, t FROM "+table+" WHERE id = 1").Scan(&b, &s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, blob) || s != text {
		t.Fatal("the large values were altered on the way out (binary)")
	}
	b, s = nil, ""
	if err := conn.QueryRow(ctx, "SELECT b, t FROM "+table+" WHERE id = 1", pgx.QueryExecModeSimpleProtocol).Scan(&b, &s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, blob) || s != text {
		t.Fatal("the large values were altered on the way out (text)")
	}
	// And the session is still in step.
	if n := queryInt(t, conn, "SELECT octet_length(b) FROM "+table); n != size {
		t.Fatalf("octet_length = %d", n)
	}
}
