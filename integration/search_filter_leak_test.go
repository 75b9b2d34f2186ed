package integration

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
)

// byteRelay stands between phiguard and PostgreSQL and keeps every byte
// phiguard sends the database: what the database receives, and so what
// its log (log_statement = 'all'), pg_stat_activity or an error report
// could show.
type byteRelay struct {
	port int
	mu   gosync.Mutex
	sent bytes.Buffer
}

func (r *byteRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.Write(p)
}

func (r *byteRelay) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := bytes.Clone(r.sent.Bytes())
	r.sent.Reset()
	return out
}

func startByteRelay(t *testing.T) *byteRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &byteRelay{port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			db, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pg.Port)))
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(db, io.TeeReader(c, r)); db.Close() }()
			go func() { _, _ = io.Copy(c, db); c.Close() }()
		}
	}()
	return r
}

// TestFilterConstantsNeverReachDatabase: the values a proxy-side WHERE
// compares with an encrypted column — a name, a birth date, a score, a
// LIKE pattern and its ESCAPE, as literals and as parameters (text and
// binary) — are not in any byte phiguard sends the database, while the
// answers stay those of the plaintext tables.
func TestFilterConstantsNeverReachDatabase(t *testing.T) {
	t.Parallel()
	relay := startByteRelay(t)
	f := newSortFixture(t, 80, func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
	})
	relay.take() // the fixture's own writes
	secrets := []string{"Quixleak", "1937-04-26", "77.77", "Zebuleak", "Parampleak", "1941-06-22", "Pattleak",
		"Ilkleak", "Lowleak", "Ipleak", "Upleak", "Tildeleak", "Spelleak"}
	for _, s := range secrets[7:] { // and as phiguard folds them
		secrets = append(secrets, strings.ToLower(s), strings.ToUpper(s))
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT id, name FROM %[1]s WHERE name <> 'Quixleak' AND born > '1937-04-26' AND score < 77.77 ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name NOT LIKE 'Zebuleak#%%' ESCAPE '#' AND born BETWEEN DATE '1937-04-26' AND $1", []any{"1941-06-22"}},
		{"SELECT id, born FROM %[1]s WHERE name IS DISTINCT FROM $1 AND born >= $2::date ORDER BY born, id LIMIT 7", []any{"Parampleak", "1941-06-22"}},
		{"SELECT id FROM %[1]s WHERE name NOT LIKE $1 ESCAPE $2 AND grp < 3", []any{"Pattleak#_%", "#"}},
		{"SELECT id FROM %[1]s WHERE name NOT ILIKE '%%Ilkleak%%' AND lower(name) <> lower('Lowleak') ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name NOT ILIKE $1 ESCAPE '#' AND upper(name) IS DISTINCT FROM upper($2)", []any{"Ipleak#%", "Upleak"}},
		{"SELECT id, name FROM %[1]s WHERE name !~~* 'Tildeleak' AND upper(name) NOT LIKE $1 ORDER BY name, id", []any{"Spelleak%"}},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
	// A birth date bound in binary (pgx sends a time.Time so).
	when := time.Date(1962, 6, 22, 0, 0, 0, 0, time.UTC)
	got, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s WHERE born < $1 ORDER BY id", 1), pgx.QueryExecModeCacheStatement, 0, when)
	want, werr := rowsRaw(t, f.dir, f.sql("SELECT id FROM %[1]s WHERE born < $1 ORDER BY id", 0), pgx.QueryExecModeCacheStatement, 0, when)
	if err != nil || werr != nil || got != want || strings.Count(got, "\n") < 2 {
		t.Fatalf("a binary date parameter: through phiguard %v\n%s\ndirectly %v\n%s", err, got, werr, want)
	}
	noSecretsSent(t, relay.take(), []string{f.people[1], "true AND true"}, secrets) // the first statement's WHERE, after its operator gate
}

// TestFilterParameterTypes: a parameter the text sent no longer holds is
// declared by phiguard as the client declared it, or else as PostgreSQL
// would infer it: ParameterDescription and the answers are the
// plaintext table's. A parameter also used where the database evaluates
// it is refused: the database would need its value.
func TestFilterParameterTypes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	for _, c := range []struct {
		sql    string
		oids   []uint32
		values []string
	}{
		{"SELECT id FROM %[1]s WHERE born > $1 ORDER BY id", []uint32{1082}, []string{"1960-01-01"}},
		{"SELECT id FROM %[1]s WHERE score > $1 ORDER BY id", []uint32{20}, []string{"-5"}},
		{"SELECT id FROM %[1]s WHERE name >= $1 AND born < CAST($2 AS date) ORDER BY id", []uint32{1043, 0}, []string{"O", "1980-01-01"}},
	} {
		answer := func(conn *pgx.Conn, side int) ([]uint32, string) {
			sd, err := conn.PgConn().Prepare(ctx, "", f.sql(c.sql, side), c.oids)
			if err != nil {
				t.Fatalf("%s (side %d): %v", c.sql, side, err)
			}
			vals := make([][]byte, len(c.values))
			for i, v := range c.values {
				vals[i] = []byte(v)
			}
			res := conn.PgConn().ExecParams(ctx, f.sql(c.sql, side), vals, sd.ParamOIDs, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("%s (side %d): %v", c.sql, side, res.Err)
			}
			var rows []string
			for _, r := range res.Rows {
				rows = append(rows, string(r[0]))
			}
			return sd.ParamOIDs, strings.Join(rows, ",")
		}
		wantOIDs, want := answer(f.dir, 0)
		gotOIDs, got := answer(f.via, 1)
		if !slices.Equal(gotOIDs, wantOIDs) || got != want || want == "" {
			t.Fatalf("%s: through phiguard %v %q, directly %v %q", c.sql, gotOIDs, got, wantOIDs, want)
		}
	}
	// A parameter the text leaves untyped stays PostgreSQL's error.
	q := "SELECT id FROM %[1]s WHERE grp = $1 AND born < $3"
	_, werr := f.dir.PgConn().Prepare(ctx, "", f.sql(q, 0), nil)
	_, gerr := f.via.PgConn().Prepare(ctx, "", f.sql(q, 1), nil)
	wantCode(t, werr, "42P18", "")
	wantCode(t, gerr, "42P18", "")
	_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s WHERE name > $1 AND grp::text <> $1", 1), pgx.QueryExecModeCacheStatement, 0, "S")
	wantCode(t, err, "0A000", "")
}

// noSecretsSent fails unless the bytes sent to the database hold every
// one of seen (the statements went through the relay) and none of
// secrets.
func noSecretsSent(t *testing.T, sent []byte, seen, secrets []string) {
	t.Helper()
	for _, s := range seen {
		if !bytes.Contains(sent, []byte(s)) {
			t.Fatalf("the relay did not see the statements (%d bytes)", len(sent))
		}
	}
	for _, s := range secrets {
		if i := bytes.Index(sent, []byte(s)); i >= 0 {
			t.Errorf("the database received %q: …%q…", s, sent[max(i-80, 0):min(i+40, len(sent))])
		}
	}
}
