package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/integration/vaultemu"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/keys/vault"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// shredPolicy seals the randomized columns of patients and encounters per
// patient; the SSN stays deterministic under its column key.
const shredPolicy = `
version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      ssn:       {mode: deterministic, key: shred-ssn, type: text}
      first:     {mode: randomized,    key: shred-pii, type: text}
      last:      {mode: randomized,    key: shred-pii, type: text}
      birthdate: {mode: randomized,    key: shred-pii, type: date}
  public.encounters:
    subject_column: patient
    columns:
      reason:    {mode: randomized,    key: shred-enc, type: text}
`

const shredSchema = `
CREATE TABLE patients (id text PRIMARY KEY, ssn text, first text, last text, birthdate text, city text);
CREATE TABLE encounters (id int PRIMARY KEY, patient text REFERENCES patients, reason text);`

// lockedBuffer is an audit sink the test reads while the auditor writes.
type lockedBuffer struct {
	mu chan struct{} // a one-slot lock: package sync's name is taken here
	b  bytes.Buffer
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{mu: make(chan struct{}, 1)} }

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.String()
}

// shredProvider is a key provider with a subject store: the local keyring
// file or Vault (the emulator).
func shredProviders(t *testing.T) map[string]keys.Provider {
	t.Helper()
	lp, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(bytes.Repeat([]byte{3}, local.MasterKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	emu := vaultemu.New(vaultemu.Options{RootToken: "shred-root"})
	emu.CreateTransitKey("phiguard")
	srv := emu.Start()
	t.Cleanup(srv.Close)
	vp, err := vault.New(vault.Config{Address: srv.URL, Token: keys.NewSecret([]byte("shred-root")), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]keys.Provider{"local": lp, "vault": vp}
}

// TestShredSurvivesBackups is the crypto-shredding scenario of issue 6:
// patients written through phiguard (literals, parameters, COPY), a
// pg_dump, `shred` of one patient, then reads through phiguard of the live
// database and of the old dump restored into a fresh database: the
// shredded patient's sealed cells read NULL (with an audit record), every
// other patient decrypts. Run with the local provider and with Vault.
func TestShredSurvivesBackups(t *testing.T) {
	for name, provider := range shredProviders(t) {
		t.Run(name, func(t *testing.T) { shredScenario(t, provider) })
	}
}

func shredScenario(t *testing.T, provider keys.Provider) {
	ctx := testContext(t)
	pol, err := sqlrewrite.ParsePolicy([]byte(shredPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Init(ctx, keysconfig.KeyIDs(pol)); err != nil {
		t.Fatal(err)
	}
	kr, err := provider.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := keys.SubjectStoreOf(provider)
	const ttl = 300 * time.Millisecond
	sk, err := keys.NewSubjectKeys(kr, store, keys.SubjectKeysOptions{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	sink := newLockedBuffer()
	auditor, err := audit.New(audit.Options{Key: audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{5}, 32))}, Sink: audit.NewWriterSink(sink)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = auditor.Close(context.Background()) })
	p := startProxy(t, proxyOptions{auditor: auditor, protect: &guard.Protection{Policy: pol, Keyring: kr, Subjects: sk}})

	db := uniqueName("shred")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, directURL(appUser, appPassword, db)).Exec(ctx, shredSchema); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, p.url(appUser, appPassword, db))

	// Twelve patients: literals in a simple Query, parameters in the
	// extended protocol, and an UPDATE pinned to the patient.
	const n = 12
	id := func(i int) string { return fmt.Sprintf("9c5b94b1-35ad-49bb-b118-8e8fc24abf%02d", i) }
	for i := 0; i < n; i++ {
		var err error
		if i%2 == 0 {
			_, err = conn.Exec(ctx, fmt.Sprintf("INSERT INTO patients (id, ssn, first, last, birthdate, city) VALUES ('%s', '999-00-%04d', 'First%d', 'Last%d', '1970-01-%02d', 'Boston')",
				id(i), i, i, i, i+1), pgx.QueryExecModeSimpleProtocol)
		} else {
			_, err = conn.Exec(ctx, "INSERT INTO patients (id, ssn, first, last, birthdate, city) VALUES ($1, $2, $3, $4, $5, 'Boston')",
				id(i), fmt.Sprintf("999-00-%04d", i), fmt.Sprintf("First%d", i), fmt.Sprintf("Last%d", i), fmt.Sprintf("1970-01-%02d", i+1))
		}
		if err != nil {
			t.Fatalf("insert patient %d: %v", i, err)
		}
	}
	if _, err := conn.Exec(ctx, "UPDATE patients SET last = $1 WHERE id = $2", "Updated3", id(3)); err != nil {
		t.Fatalf("update: %v", err)
	}
	// Encounters by COPY: the subject column is a field of each row.
	var copyData strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&copyData, "%d\t%s\tReason %d\n", i, id(i), i)
	}
	if tag, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(copyData.String()), "COPY encounters (id, patient, reason) FROM STDIN"); err != nil || tag.RowsAffected() != n {
		t.Fatalf("COPY encounters: %v %v", tag, err)
	}

	// A subject literal in a prepared statement, with the value a parameter.
	if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO encounters (id, patient, reason) VALUES (100, '%s', $1)", id(3)), "Follow-up"); err != nil {
		t.Fatalf("prepared insert with a literal subject: %v", err)
	}

	// A literal value whose subject is a parameter cannot be sealed at Parse.
	_, err = conn.Exec(ctx, "INSERT INTO encounters (id, patient, reason) VALUES (101, $1, 'x')", id(4))
	if pe := wantPgError(t, err, "0A000"); !strings.Contains(pe.Message, "pass the value as a parameter too") {
		t.Errorf("literal value, parameter subject: %s", pe.Message)
	}

	// What phiguard cannot attribute to a subject is refused.
	_, err = conn.Exec(ctx, "UPDATE patients SET first = 'x' WHERE city = 'Boston'", pgx.QueryExecModeSimpleProtocol)
	if pe := wantPgError(t, err, "0A000"); !strings.Contains(pe.Message, "public.patients.first") || !strings.Contains(pe.Message, "public.patients.id") {
		t.Errorf("refusal message: %s", pe.Message)
	}
	_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader("99\tx\n"), "COPY encounters (id, reason) FROM STDIN")
	wantPgError(t, err, "0A000")

	// At rest: the randomized cells are sealed per subject, the SSN under
	// its column key, and no cell names a patient id.
	direct := connect(t, directURL(appUser, appPassword, db))
	var first, ssn string
	if err := direct.QueryRow(ctx, "SELECT first, ssn FROM patients WHERE id = $1", id(5)).Scan(&first, &ssn); err != nil {
		t.Fatal(err)
	}
	if !keys.IsSubjectCell([]byte(first)) || keys.IsSubjectCell([]byte(ssn)) || !keys.IsCell([]byte(ssn)) {
		t.Fatalf("at rest: first subject cell %v, ssn column cell %v", keys.IsSubjectCell([]byte(first)), keys.IsCell([]byte(ssn)))
	}

	// Backup before the shred.
	dump := filepath.Join(t.TempDir(), "before-shred.dump")
	pgTool(t, "pg_dump", "-Fc", "-f", dump, "-d", db)

	// Shred patient 3, as `phiguard shred` does: a separate SubjectKeys
	// over the same store (another process); the proxy's cache forgets the
	// key within its TTL.
	victim := id(3)
	other, _ := keys.NewSubjectKeys(kr, store, keys.SubjectKeysOptions{})
	if _, out, err := other.Shred(ctx, strings.ToUpper(victim)); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred: %v %v", out, err)
	}
	if _, out, _ := other.Shred(ctx, victim); out != keys.ShredAlready {
		t.Fatalf("second shred: %v", out)
	}
	time.Sleep(ttl + 100*time.Millisecond)

	check := func(t *testing.T, conn *pgx.Conn, where string) {
		t.Helper()
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			rows, err := conn.Query(ctx, "SELECT p.id, p.ssn, p.first, p.last, p.birthdate, e.reason FROM patients p JOIN encounters e ON e.patient = p.id AND e.id < 100 ORDER BY p.id", mode)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			seen := 0
			for rows.Next() {
				var pid, pssn string
				var pfirst, plast, reason *string
				var birth *time.Time
				if err := rows.Scan(&pid, &pssn, &pfirst, &plast, &birth, &reason); err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				seen++
				i := seen - 1
				if pssn != fmt.Sprintf("999-00-%04d", i) {
					t.Errorf("%s: patient %d ssn %q (deterministic columns stay under their column key)", where, i, pssn)
				}
				if pid == victim {
					if pfirst != nil || plast != nil || birth != nil || reason != nil {
						t.Errorf("%s: the shredded patient is readable: %v %v %v %v", where, pfirst, plast, birth, reason)
					}
					continue
				}
				wantLast := fmt.Sprintf("Last%d", i)
				if pfirst == nil || *pfirst != fmt.Sprintf("First%d", i) || plast == nil || *plast != wantLast ||
					birth == nil || birth.Day() != i+1 || reason == nil || *reason != fmt.Sprintf("Reason %d", i) {
					t.Errorf("%s: patient %d reads %v %v %v %v", where, i, pfirst, plast, birth, reason)
				}
			}
			if err := rows.Err(); err != nil || seen != n {
				t.Fatalf("%s: %d rows, %v", where, seen, err)
			}
		}
		// COPY TO STDOUT: NULL for the shredded patient's reason.
		var out bytes.Buffer
		if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY encounters (patient, reason) TO STDOUT"); err != nil {
			t.Fatalf("%s: COPY TO: %v", where, err)
		}
		if !strings.Contains(out.String(), victim+"\t\\N\n") || !strings.Contains(out.String(), id(4)+"\tReason 4\n") {
			t.Errorf("%s: COPY TO:\n%s", where, out.String())
		}
	}
	t.Run("live", func(t *testing.T) { check(t, conn, "live database") })

	// No new data for a shredded patient.
	_, err = conn.Exec(ctx, "UPDATE patients SET first = $1 WHERE id = $2", "Back", victim)
	wantPgError(t, err, "55000")

	// The old backup restored into a fresh database: the patient stays gone.
	restored := db + "_restored"
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", restored, appUser)); err != nil {
		t.Fatal(err)
	}
	pgTool(t, "pg_restore", "--no-owner", "--role", appUser, "-d", restored, dump)
	var atRest string
	if err := connect(t, directURL(appUser, appPassword, restored)).QueryRow(ctx, "SELECT first FROM patients WHERE id = $1", victim).Scan(&atRest); err != nil || !keys.IsSubjectCell([]byte(atRest)) {
		t.Fatalf("the dump does not hold the patient's cell: %v", err)
	}
	t.Run("restored", func(t *testing.T) { check(t, connect(t, p.url(appUser, appPassword, restored)), "restored backup") })

	// With a marker configured, shredded text cells read as the marker;
	// other types still read NULL.
	marked := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: kr, Subjects: sk, ShreddedMarker: "[erased]"}})
	var mFirst string
	var mBirth *time.Time
	var follow string
	mc := connect(t, marked.url(appUser, appPassword, restored))
	if err := mc.QueryRow(ctx, "SELECT first, birthdate FROM patients WHERE id = $1", victim).Scan(&mFirst, &mBirth); err != nil || mFirst != "[erased]" || mBirth != nil {
		t.Errorf("with a marker: %q %v %v", mFirst, mBirth, err)
	}
	if err := mc.QueryRow(ctx, "SELECT reason FROM encounters WHERE id = 100").Scan(&follow); err != nil || follow != "[erased]" {
		t.Errorf("the prepared insert's cell after the shred: %q %v", follow, err)
	}

	// The audit trail says which sealed cells were read as shredded,
	// naming the subject key by tag, never the patient id.
	tag := keys.SubjectKeyIDOf(other.Tag(victim))
	waitFor(t, 5*time.Second, "shredded_read audit record", func() bool {
		return strings.Contains(sink.String(), `"action":"shredded_read","key_id":"`+tag+`"`)
	})
	for _, line := range strings.Split(sink.String(), "\n") {
		if strings.Contains(line, "shredded_read") && strings.Contains(line, victim) {
			t.Errorf("a shredded_read record names the patient: %s", line)
		}
	}
	if got := p.metric(t, "phiguard_proxy_shredded_cells_read_total"); got < 4 {
		t.Errorf("shredded cells read metric = %v", got)
	}
}

// pgTool runs a PostgreSQL client program of the server's version against
// the test cluster as the superuser.
func pgTool(t *testing.T, name string, args ...string) {
	t.Helper()
	bin := os.Getenv("PG_BIN")
	if bin == "" {
		bin = "/usr/lib/postgresql/15/bin"
	}
	cmd := exec.Command(filepath.Join(bin, name), append([]string{"-h", pg.Host, "-p", fmt.Sprint(pg.Port), "-U", pg.Superuser}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password, "PGSSLMODE=disable")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}
