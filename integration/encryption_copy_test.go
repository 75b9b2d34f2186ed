package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/phiguard/phiguard/keys"
)

// TestEncryptedCopy sends COPY FROM STDIN through phiguard in text and CSV,
// one byte per CopyData message (so every row is cut across messages),
// and reads it back with COPY TO STDOUT.
func TestEncryptedCopy(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	ctx := testContext(t)
	conn := p.app(t)

	var text strings.Builder
	for i := 1; i <= 300; i++ {
		ssn, first := fmt.Sprintf("300-00-%04d", i), fmt.Sprintf("Name\\t%d", i)
		if i%50 == 0 {
			ssn = `\N`
		}
		fmt.Fprintf(&text, "%d\t%s\t%s\tnote\\\\%d\n", i, ssn, first, i)
	}
	tag, err := conn.PgConn().CopyFrom(ctx, iotest.OneByteReader(strings.NewReader(text.String())),
		"COPY "+table+" (id, ssn, first, note) FROM STDIN")
	if err != nil || tag.RowsAffected() != 300 {
		t.Fatalf("COPY FROM text: %v %v", tag, err)
	}
	csv := "id,ssn,first,note\n1001,\"400-00-0001\",\"Smith, \"\"Jr\"\"\",\"multi\nline\"\n1002,,,\n"
	tag, err = conn.PgConn().CopyFrom(ctx, strings.NewReader(csv), "COPY "+table+" FROM STDIN WITH (FORMAT csv, HEADER)")
	if err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("COPY FROM csv without a column list: %v %v", tag, err)
	}

	// At rest: protected cells are ciphertext, NULLs stay NULL, the
	// unprotected column is exactly what was sent.
	var plain, nulls int
	var note string
	su := superuser(t)
	if err := su.QueryRow(ctx, "SELECT count(*) FILTER (WHERE ssn NOT LIKE '~phg~%' OR first NOT LIKE '~phg~%'), count(*) FILTER (WHERE ssn IS NULL) FROM "+table).Scan(&plain, &nulls); err != nil {
		t.Fatal(err)
	}
	if plain != 0 || nulls != 7 {
		t.Fatalf("%d plaintext cells, %d NULL ssn (want 0 and 7)", plain, nulls)
	}
	if err := su.QueryRow(ctx, "SELECT note FROM "+table+" WHERE id = 7").Scan(&note); err != nil || note != `note\7` {
		t.Fatalf("unprotected column: %q %v", note, err)
	}
	var first string
	if err := su.QueryRow(ctx, "SELECT first FROM "+table+" WHERE id = 1001").Scan(&first); err != nil || !keys.IsCell([]byte(first)) {
		t.Fatalf("csv row at rest: %q %v", first, err)
	}

	// COPY TO STDOUT through phiguard gives back exactly what went in.
	var out bytes.Buffer
	if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY (SELECT 1) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY "+table+" (id, ssn, first, note) TO STDOUT"); err != nil {
		t.Fatalf("COPY TO text: %v", err)
	}
	if got := strings.SplitN(out.String(), "1001\t", 2)[0]; got != text.String() {
		t.Fatalf("COPY TO text differs from what was copied in:\n%.300q\nwant\n%.300q", got, text.String())
	}
	out.Reset()
	if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY "+table+" TO STDOUT WITH (FORMAT csv, HEADER) "); err != nil {
		t.Fatalf("COPY TO csv: %v", err)
	}
	if !strings.Contains(out.String(), "1001,400-00-0001,\"Smith, \"\"Jr\"\"\",\"multi\nline\"\n") || !strings.HasPrefix(out.String(), "id,ssn,first,note\n") {
		t.Fatalf("COPY TO csv:\n%s", out.String())
	}

	// Binary COPY is rewritten too (TestBinaryCopy); data that is not a
	// binary COPY stream fails the COPY in phiguard.
	_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader("1\t400-00-0009\n"), "COPY "+table+" FROM STDIN (FORMAT binary)")
	wantPgError(t, err, "22P04")
}

// TestEncryptedPsqlCopy uses psql's \copy both ways.
func TestEncryptedPsqlCopy(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	outFile := filepath.Join(dir, "out.csv")
	os.WriteFile(in, []byte("1,111-11-1111,Ann\n2,222-22-2222,\"Bo, b\"\n"), 0o600)
	script := fmt.Sprintf("\\copy %[1]s (id, ssn, first) FROM '%[2]s' WITH (FORMAT csv)\n\\copy %[1]s (id, ssn, first) TO '%[3]s' WITH (FORMAT csv)\n", table, in, outFile)
	cmd := exec.Command("psql", "-X", "-v", "ON_ERROR_STOP=1", p.url(appUser, "", appDB))
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(outFile)
	want, _ := os.ReadFile(in)
	if string(got) != string(want) {
		t.Fatalf("\\copy round trip:\n%s\nwant\n%s", got, want)
	}
	var ssn string
	if err := superuser(t).QueryRow(testContext(t), "SELECT ssn FROM "+table+" WHERE id = 2").Scan(&ssn); err != nil || !keys.IsCell([]byte(ssn)) {
		t.Fatalf("at rest: %q %v", ssn, err)
	}
}
