package integration

import (
	"bytes"
	"io"
	"net"
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
	secrets := []string{"Quixleak", "1937-04-26", "77.77", "Zebuleak", "Parampleak", "1941-06-22", "Pattleak"}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT id, name FROM %[1]s WHERE name <> 'Quixleak' AND born > '1937-04-26' AND score < 77.77 ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name NOT LIKE 'Zebuleak#%%' ESCAPE '#' AND born BETWEEN DATE '1937-04-26' AND $1", []any{"1941-06-22"}},
		{"SELECT id, born FROM %[1]s WHERE name IS DISTINCT FROM $1 AND born >= $2::date ORDER BY born, id LIMIT 7", []any{"Parampleak", "1941-06-22"}},
		{"SELECT id FROM %[1]s WHERE name NOT LIKE $1 ESCAPE $2 AND grp < 3", []any{"Pattleak#_%", "#"}},
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
	sent := relay.take()
	if !bytes.Contains(sent, []byte(f.people[1])) || !bytes.Contains(sent, []byte("WHERE true")) {
		t.Fatalf("the relay did not see the statements (%d bytes)", len(sent))
	}
	for _, s := range secrets {
		if i := bytes.Index(sent, []byte(s)); i >= 0 {
			t.Errorf("the database received %q: …%q…", s, sent[max(i-80, 0):min(i+40, len(sent))])
		}
	}
}
