package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// encryptedTable creates a patients-like table and a phiguard that
// protects its ssn (deterministic) and first (randomized) columns with a
// keyring made for the test.
func encryptedTable(t *testing.T) (*phiguard, string) {
	t.Helper()
	table := uniqueName("pt")
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(
		"CREATE TABLE %s (id int PRIMARY KEY, ssn text, first text, note text); GRANT ALL ON %s TO %s",
		table, table, appUser)); err != nil {
		t.Fatal(err)
	}
	prot := protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn:   {mode: deterministic, key: test-ssn, type: text}
      first: {mode: randomized,    key: test-pii, type: text}
`, table))
	return startProxy(t, proxyOptions{protect: prot}), table
}

// protection loads a policy and makes a keyring holding version 1 of every
// key id it names. When the policy seals columns per subject, subject keys
// are kept by a local provider in a directory of the test's.
func protection(t *testing.T, policyYAML string) *guard.Protection {
	t.Helper()
	pol, err := sqlrewrite.ParsePolicy([]byte(policyYAML))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	var dks []keys.DataKey
	for _, id := range keysconfig.KeyIDs(pol) {
		dk, err := keys.GenerateDataKey(id, 1, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dks = append(dks, dk)
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	prot := &guard.Protection{Policy: pol, Keyring: kr}
	if keysconfig.NeedsSubjectKeys(pol) {
		store, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(make([]byte, local.MasterKeySize)))
		if err != nil {
			t.Fatal(err)
		}
		if prot.Subjects, err = keys.NewSubjectKeys(kr, store, keys.SubjectKeysOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return prot
}

func simple(t *testing.T, conn *pgx.Conn, sql string, args ...any) (pgx.Rows, error) {
	t.Helper()
	return conn.Query(testContext(t), sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
}

func TestEncryptedWritesAreCiphertextAtRest(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	ctx := testContext(t)
	conn := p.app(t)
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO %s (id, ssn, first, note) VALUES (1, '999-49-3983', 'Alice368', 'plain note'), (2, '123-45-6789', 'O''Brien', NULL)", table),
		fmt.Sprintf("INSERT INTO %s (id, ssn, first) VALUES (3, NULL, 'Zed') ON CONFLICT (id) DO UPDATE SET first = 'never'", table),
		fmt.Sprintf("UPDATE %s SET first = 'Bob' WHERE ssn = '123-45-6789'", table),
	} {
		if _, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// Directly in PostgreSQL: every protected cell is ciphertext, the rest
	// is as written.
	rows, err := superuser(t).Query(ctx, fmt.Sprintf("SELECT id, ssn, first, note FROM %s ORDER BY id", table))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id int
		var ssn, first, note *string
		if err := rows.Scan(&id, &ssn, &first, &note); err != nil {
			t.Fatal(err)
		}
		n++
		for name, v := range map[string]*string{"ssn": ssn, "first": first} {
			if v != nil && !keys.IsCell([]byte(*v)) {
				t.Errorf("row %d: %s is plaintext at rest: %q", id, name, *v)
			}
		}
		if id == 1 && (note == nil || *note != "plain note") {
			t.Errorf("unprotected column changed: %v", note)
		}
		if id == 3 && ssn != nil {
			t.Errorf("NULL was not kept NULL")
		}
	}
	if n != 3 {
		t.Fatalf("%d rows at rest, want 3", n)
	}

	// Through phiguard: the original values.
	got := map[int][2]string{}
	rows, err = simple(t, conn, fmt.Sprintf("SELECT id, coalesce(note, ''), ssn, first FROM %s WHERE ssn IS NOT NULL ORDER BY id", table))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var note, ssn, first string
		if err := rows.Scan(&id, &note, &ssn, &first); err != nil {
			t.Fatal(err)
		}
		got[id] = [2]string{ssn, first}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[int][2]string{1: {"999-49-3983", "Alice368"}, 2: {"123-45-6789", "Bob"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("through phiguard: %v, want %v", got, want)
	}

	// Equality search on the deterministic column.
	var id int
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT id FROM %s WHERE ssn = '999-49-3983'", table), pgx.QueryExecModeSimpleProtocol).Scan(&id); err != nil || id != 1 {
		t.Fatalf("search by ssn: id %d, %v", id, err)
	}
}

func TestEncryptedColumnRefusals(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	ctx := testContext(t)
	conn := p.app(t)
	for q, want := range map[string]string{
		"SELECT id FROM %s WHERE ssn LIKE '999%%' OR id / 2 = 1":                 "ssn is encrypted (deterministic): operator LIKE",
		"SELECT id FROM %s WHERE first = 'Alice368' OR id / 2 = 1":               "first is encrypted (randomized): = on a randomized column",
		"SELECT id FROM %s WHERE id IN (SELECT id FROM %s ORDER BY ssn LIMIT 1)": "ORDER BY",
		"UPDATE %s SET first = upper(first)":                                     "a value computed by SQL in UPDATE",
		"INSERT INTO %s (id, ssn) SELECT 9, note FROM %s":                        "INSERT ... SELECT",
	} {
		sql := strings.ReplaceAll(q, "%s", table)
		_, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		pe := wantPgError(t, err, "0A000")
		if !strings.Contains(pe.Message, want) || !strings.Contains(pe.Message, "public."+table) {
			t.Errorf("%s: message %q lacks %q or the table", sql, pe.Message, want)
		}
	}
	// The session goes on, and an explicit transaction is aborted as by any
	// PostgreSQL error.
	if _, err := conn.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("session unusable after refusals: %v", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, "SELECT id FROM "+table+" ORDER BY ssn USING >", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "0A000")
	_, err = tx.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "25P02")
	tx.Rollback(ctx)

}

// TestEncryptedExtendedProtocol writes and reads through every pgx
// execution mode: named and unnamed statements, described or not, and a
// pipelined batch.
func TestEncryptedExtendedProtocol(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	ctx := testContext(t)
	conn := p.app(t)
	modes := []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec}
	for i, mode := range modes {
		ssn := fmt.Sprintf("100-00-%04d", i)
		if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn, first, note) VALUES ($1, $2, $3, $4)", mode, i, ssn, "name"+ssn, "n"); err != nil {
			t.Fatalf("%v: insert: %v", mode, err)
		}
		var got, first string
		var id int
		if err := conn.QueryRow(ctx, "SELECT id, ssn, first FROM "+table+" WHERE ssn = $1", mode, ssn).Scan(&id, &got, &first); err != nil {
			t.Fatalf("%v: select by ssn: %v", mode, err)
		}
		if id != i || got != ssn || first != "name"+ssn {
			t.Fatalf("%v: got %d %q %q", mode, id, got, first)
		}
	}
	b := &pgx.Batch{}
	for i := 10; i < 20; i++ {
		b.Queue("INSERT INTO "+table+" (id, ssn, first) VALUES ($1, $2, $3)", i, fmt.Sprintf("200-00-%04d", i), "batch")
	}
	b.Queue("SELECT count(*) FROM "+table+" WHERE first IS NOT NULL AND ssn IN ($1, $2)", "200-00-0010", "200-00-0019")
	br := conn.SendBatch(ctx, b)
	for i := 10; i < 20; i++ {
		if _, err := br.Exec(); err != nil {
			t.Fatalf("batch insert %d: %v", i, err)
		}
	}
	var n int
	if err := br.QueryRow().Scan(&n); err != nil || n != 2 {
		t.Fatalf("batch select: %d %v", n, err)
	}
	br.Close()

	// A refusal in the middle of a batch fails the batch, and the session
	// goes on.
	b = &pgx.Batch{}
	b.Queue("SELECT 1")
	b.Queue("SELECT id FROM "+table+" WHERE ssn ~ $1", "^1")
	err := conn.SendBatch(ctx, b).Close()
	wantPgError(t, err, "0A000")
	if err := conn.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
		t.Fatalf("after a refused batch: %d %v", n, err)
	}

	// Everything written is ciphertext at rest.
	var plain int
	if err := superuser(t).QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE ssn NOT LIKE '~phg~%' OR first NOT LIKE '~phg~%'").Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("%d plaintext cells at rest (%v)", plain, err)
	}
}

// TestEncryptedThroughPsql writes and reads through psql, a libpq client.
func TestEncryptedThroughPsql(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	script := fmt.Sprintf(`INSERT INTO %[1]s (id, ssn, first) VALUES (1, '555-12-3456', 'Ann');
SELECT ssn, first FROM %[1]s WHERE ssn = '555-12-3456';
`, table)
	cmd := exec.Command("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", p.url(appUser, "", appDB))
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "555-12-3456|Ann") {
		t.Fatalf("psql output lacks the decrypted row:\n%s", out)
	}
	var ssn string
	if err := superuser(t).QueryRow(testContext(t), "SELECT ssn FROM "+table).Scan(&ssn); err != nil || !keys.IsCell([]byte(ssn)) {
		t.Fatalf("at rest: %q %v", ssn, err)
	}
}

// TestEncryptedDefault: DEFAULT on a protected column is fine when the
// column has no default (NULL is stored), refused when it has one.
func TestEncryptedDefault(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p, table := encryptedTable(t)
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN first SET DEFAULT 'unknown'"); err != nil {
		t.Fatal(err)
	}
	conn := p.app(t) // connects after the ALTER, so its catalog sees the default
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn, first) VALUES (5, DEFAULT, 'x')", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("DEFAULT on a column without a default: %v", err)
	}
	_, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, first) VALUES ($1, DEFAULT)", 6)
	pe := wantPgError(t, err, "0A000")
	if !strings.Contains(pe.Message, "has a default value") {
		t.Fatalf("message: %q", pe.Message)
	}
}

// TestCatalogRefreshedAfterDDL: a session that creates a protected table,
// or adds a protected column, reads its own writes decrypted — phiguard
// re-reads the catalog after DDL, in either protocol and inside a
// transaction.
func TestCatalogRefreshedAfterDDL(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	ctx := testContext(t)
	if _, err := superuser(t).Exec(ctx, "DROP TABLE "+table); err != nil {
		t.Fatal(err)
	}
	conn := p.app(t) // its catalog has no such table yet
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, ssn text)", mode); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+table+" ADD COLUMN first text", mode); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (id, ssn, first) VALUES (1, '123-45-6789', 'Ann')", mode); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		var ssn, first string
		if err := tx.QueryRow(ctx, "SELECT ssn, first FROM "+table, mode).Scan(&ssn, &first); err != nil || ssn != "123-45-6789" || first != "Ann" {
			t.Fatalf("%v: read back %q %q %v", mode, ssn, first, err)
		}
		tx.Rollback(ctx)
	}

	// A unique index on the deterministic column enforces uniqueness of the
	// plaintext values.
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, ssn text, first text); CREATE UNIQUE INDEX ON "+table+" (ssn)", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn) VALUES ($1, $2)", 1, "555-55-5555"); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn) VALUES ($1, $2)", 2, "555-55-5555")
	wantPgError(t, err, "23505")
}

// TestEncryptedInsertSelectCopiesCells: INSERT ... SELECT may copy a cell
// within its own column (the cell still decrypts there), nothing else.
func TestEncryptedInsertSelectCopiesCells(t *testing.T) {
	t.Parallel()
	p, table := encryptedTable(t)
	ctx := testContext(t)
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn, first) VALUES ($1, $2, $3)", 1, "321-54-9876", "Cleo"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn, first) SELECT id + 100, ssn, first FROM "+table+" WHERE id = 1"); err != nil {
		t.Fatalf("copying cells within their columns: %v", err)
	}
	var ssn, first string
	if err := conn.QueryRow(ctx, "SELECT ssn, first FROM "+table+" WHERE id = 101").Scan(&ssn, &first); err != nil || ssn != "321-54-9876" || first != "Cleo" {
		t.Fatalf("copied row reads %q %q %v", ssn, first, err)
	}
	_, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, first) SELECT id + 200, ssn FROM "+table+" WHERE id = 1")
	wantPgError(t, err, "0A000")
}

// TestEncryptedJoinGroupDistinct: columns under one deterministic key join
// on ciphertext, and GROUP BY and DISTINCT on them group the plaintext
// values.
func TestEncryptedJoinGroupDistinct(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	a, b := uniqueName("pat"), uniqueName("claim")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE TABLE %[1]s (id int PRIMARY KEY, ssn text);
		CREATE TABLE %[2]s (id int PRIMARY KEY, member_ssn text, amount int);
		GRANT ALL ON %[1]s, %[2]s TO %[3]s`, a, b, appUser)); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn: {mode: deterministic, key: join-ssn, type: text}
  public.%s:
    columns:
      member_ssn: {mode: deterministic, key: join-ssn, type: text}
`, a, b))})
	conn := p.app(t)
	for i, ssn := range []string{"111-11-1111", "222-22-2222"} {
		if _, err := conn.Exec(ctx, "INSERT INTO "+a+" (id, ssn) VALUES ($1, $2)", i, ssn); err != nil {
			t.Fatal(err)
		}
	}
	for i, ssn := range []string{"111-11-1111", "111-11-1111", "222-22-2222", "333-33-3333"} {
		if _, err := conn.Exec(ctx, "INSERT INTO "+b+" (id, member_ssn, amount) VALUES ($1, $2, $3)", i, ssn, 10*(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.Query(ctx, "SELECT p.ssn, c.member_ssn, sum(c.amount) FROM "+a+" p JOIN "+b+" c ON c.member_ssn = p.ssn GROUP BY p.ssn, c.member_ssn")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for rows.Next() {
		var ssn, member string
		var sum int64
		if err := rows.Scan(&ssn, &member, &sum); err != nil {
			t.Fatal(err)
		}
		if ssn != member {
			t.Fatalf("joined %q to %q", ssn, member)
		}
		got[ssn] = sum
	}
	if fmt.Sprint(got) != fmt.Sprint(map[string]int64{"111-11-1111": 30, "222-22-2222": 30}) {
		t.Fatalf("join and group: %v", got)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM (SELECT DISTINCT member_ssn FROM "+b+") d").Scan(&n); err != nil || n != 3 {
		t.Fatalf("DISTINCT: %d %v", n, err)
	}
}
