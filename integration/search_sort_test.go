package integration

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
)

// Proxy-side ORDER BY on encrypted columns (issue 13, docs/search.md):
// the same statements on plaintext tables directly and on their encrypted
// twins through phiguard return the same rows in the same order, in both
// protocols and both result formats.

// sortFixture is a people/addresses pair of tables, plaintext and
// encrypted.
type sortFixture struct {
	people, addresses [2]string // [plain, enc]
	via, dir          *pgx.Conn
	p                 *phiguard
	prot              *guard.Protection
}

const sortPeopleCols = "id int PRIMARY KEY, name text, born date, score numeric(6,2), tag text, grp int"
const sortAddressCols = "id int PRIMARY KEY, person int, sequence int, active boolean, city text"

func newSortFixture(t *testing.T, n int, configure func(*config.Config)) *sortFixture {
	t.Helper()
	return newSortFixtureWith(t, n, configure, sortPolicy)
}

// sortPolicy is the sort fixture's policy: %[1]s people, %[2]s addresses.
const sortPolicy = `version: 1
tables:
  public.%[1]s:
    columns:
      name: {mode: randomized, key: sort-pii, type: text}
      born: {mode: randomized, key: sort-pii, type: date}
      score: {mode: randomized, key: sort-pii, type: "numeric(6,2)"}
      tag: {mode: deterministic, key: sort-tag, type: text}
  public.%[2]s:
    columns:
      city: {mode: randomized, key: sort-pii, type: text}
`

// newSortFixtureWith is newSortFixture under policy pol (a template of
// sortPolicy's form).
func newSortFixtureWith(t *testing.T, n int, configure func(*config.Config), pol string) *sortFixture {
	t.Helper()
	ctx := testContext(t)
	f := &sortFixture{
		people:    [2]string{uniqueName("sortp_plain"), uniqueName("sortp_enc")},
		addresses: [2]string{uniqueName("sorta_plain"), uniqueName("sorta_enc")},
	}
	su := superuser(t)
	for i := range 2 {
		pc, ac := sortPeopleCols, sortAddressCols
		if i == 1 {
			pc = "id int PRIMARY KEY, name text, born text, score text, tag text, grp int"
			ac = "id int PRIMARY KEY, person int, sequence int, active boolean, city text"
		}
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s); CREATE TABLE %s (%s); GRANT ALL ON %s, %s TO %s",
			f.people[i], pc, f.addresses[i], ac, f.people[i], f.addresses[i], appUser)); err != nil {
			t.Fatal(err)
		}
	}
	pol = fmt.Sprintf(pol, f.people[1], f.addresses[1])
	f.prot = protection(t, pol)
	f.p = startProxy(t, proxyOptions{protect: f.prot, configure: configure, quiet: true})
	f.via, f.dir = f.p.app(t), direct(t)
	f.fill(t, n)
	return f
}

// fill writes n people and 2n addresses, with ties and NULLs in every
// column a statement sorts by.
func (f *sortFixture) fill(t *testing.T, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 13))
	names := []string{"Smith", "smith", "Smyth", "Ölz", "Adams", "adams", "Zhang", "", "Ann-Marie", "O'Neil"}
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		r = rand.New(rand.NewPCG(uint64(n), 13))
		b := &pgx.Batch{}
		for id := 1; id <= n; id++ {
			var name, born, score, tag any
			if r.IntN(10) > 0 {
				name = names[r.IntN(len(names))]
			}
			if r.IntN(8) > 0 {
				born = time.Date(1940+r.IntN(60), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format("2006-01-02")
			}
			if r.IntN(8) > 0 {
				score = fmt.Sprintf("%d.%02d", r.IntN(200)-100, r.IntN(4)*25)
			}
			if r.IntN(5) > 0 {
				tag = fmt.Sprintf("t%d", r.IntN(7))
			}
			b.Queue(fmt.Sprintf("INSERT INTO %s (id, name, born, score, tag, grp) VALUES ($1, $2, $3, $4, $5, $6)", f.people[side]),
				id, name, born, score, tag, r.IntN(5))
		}
		for id := 1; id <= 2*n; id++ {
			var seq, city any
			if r.IntN(4) > 0 {
				seq = r.IntN(3)
			}
			if r.IntN(6) > 0 {
				city = []string{"Bern", "bern", "Zürich", "Aarau", "Basel"}[r.IntN(5)]
			}
			b.Queue(fmt.Sprintf("INSERT INTO %s (id, person, sequence, active, city) VALUES ($1, $2, $3, $4, $5)", f.addresses[side]),
				id, 1+r.IntN(n), seq, r.IntN(3) > 0, city)
		}
		if err := conn.SendBatch(testContext(t), b).Close(); err != nil {
			t.Fatalf("fill side %d: %v", side, err)
		}
	}
}

// sql fills a statement's %[1]s (people) and %[2]s (addresses).
func (f *sortFixture) sql(q string, side int) string {
	return fmt.Sprintf(q, f.people[side], f.addresses[side])
}

// rowsRaw is a query's rows, each field as hex of its wire bytes.
func rowsRaw(t *testing.T, conn *pgx.Conn, sql string, mode pgx.QueryExecMode, format int16, args ...any) (string, error) {
	args = append([]any{mode, pgx.QueryResultFormats{format}}, args...)
	rows, err := conn.Query(testContext(t), sql, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		for i, v := range rows.RawValues() {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("<NULL>")
			} else if format == pgx.TextFormatCode {
				b.Write(v)
			} else {
				b.WriteString(hex.EncodeToString(v))
			}
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	tag := rows.CommandTag()
	fmt.Fprintf(&b, "(%s)", tag.String())
	return b.String(), nil
}

// same checks one statement in both protocols and, in the extended one,
// both result formats.
func (f *sortFixture) same(t *testing.T, q string, args ...any) {
	t.Helper()
	f.compare(t, q, func(s string) string { return s }, args...)
}

// compare runs q directly and through phiguard in both protocols and
// both result formats, and fails unless the answers, as key makes them
// comparable, are equal.
func (f *sortFixture) compare(t *testing.T, q string, key func(string) string, args ...any) {
	t.Helper()
	for _, mode := range bothModes {
		for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
			if mode == pgx.QueryExecModeSimpleProtocol && format == pgx.BinaryFormatCode {
				continue
			}
			want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, format, args...)
			if err != nil {
				t.Fatalf("directly (%v): %s: %v", mode, q, err)
			}
			got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, format, args...)
			if err != nil {
				t.Fatalf("through phiguard (%v, format %d): %s: %v", mode, format, q, err)
			}
			if key(got) != key(want) {
				t.Fatalf("%s (%v, format %d): through phiguard\n%s\ndirectly\n%s", q, mode, format, got, want)
			}
		}
	}
}

func TestSortEncryptedShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	f.same(t, `SELECT "a"."id", "a"."name" FROM %[1]s "a" ORDER BY "a"."name" ASC, "a"."id" ASC`)
	f.same(t, `SELECT a.id, a.city, b.name FROM %[2]s a LEFT JOIN %[1]s b ON b.id = a.person WHERE a.person IN ($1, $2, $3) AND a.active = $4 ORDER BY b.name ASC, a.sequence ASC NULLS FIRST, a.id ASC`, 3, 5, 8, true)
	f.same(t, `SELECT id FROM %[1]s ORDER BY born DESC NULLS FIRST, id LIMIT $1 OFFSET $2`, 11, 4)
	f.same(t, `SELECT id, score FROM %[1]s ORDER BY 2 DESC, name, id LIMIT 7 OFFSET 3`)
	f.same(t, `SELECT id, name AS n FROM %[1]s ORDER BY n NULLS FIRST, id FETCH FIRST 10 ROWS ONLY`)
	f.same(t, `SELECT a.id, b.born FROM %[2]s a JOIN %[1]s b ON b.id = a.person ORDER BY b.born, a.city DESC, a.id`)
	f.same(t, `SELECT id, tag FROM %[1]s ORDER BY tag DESC, grp, score NULLS FIRST, id OFFSET 140`)
	f.same(t, `SELECT id FROM %[1]s WHERE id < 0 ORDER BY name`)
	f.same(t, `WITH c AS (SELECT id, name FROM %[1]s) SELECT c.id, c.name FROM c ORDER BY c.name DESC, c.id`)
	f.same(t, `SELECT s.id FROM (SELECT id, born FROM %[1]s WHERE grp = 1) s ORDER BY s.born, s.id`)
	f.same(t, `SELECT born FROM %[1]s ORDER BY born DESC`) // no hidden column at all
	// A pipeline of sorted statements (one Sync for all).
	batchOf := func(conn *pgx.Conn, side int) string {
		b := &pgx.Batch{}
		for _, lim := range []int{3, 5, 7} {
			b.Queue(f.sql("SELECT id, name FROM %[1]s ORDER BY name DESC, id LIMIT $1", side), lim)
		}
		br := conn.SendBatch(testContext(t), b)
		defer br.Close()
		var out strings.Builder
		for range 3 {
			rows, err := br.Query()
			if err != nil {
				t.Fatalf("batch, side %d: %v", side, err)
			}
			for rows.Next() {
				fmt.Fprintln(&out, rows.RawValues())
			}
			if rows.Err() != nil {
				t.Fatalf("batch, side %d: %v", side, rows.Err())
			}
		}
		return out.String()
	}
	if got, want := batchOf(f.via, 1), batchOf(f.dir, 0); got != want {
		t.Fatalf("pipelined: through phiguard\n%s\ndirectly\n%s", got, want)
	}
	// Texts that differ only in an ordinal sort by different columns.
	f.same(t, `SELECT id, name, born FROM %[1]s WHERE id > 10 ORDER BY 2, 1`)
	f.same(t, `SELECT id, name, born FROM %[1]s WHERE id > 10 ORDER BY 3, 1`)
	// pgx's other extended-protocol modes: unnamed statements, described
	// or not, Describe of the portal.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeCacheDescribe} {
		q := "SELECT id, born, name FROM %[1]s WHERE grp = $1 ORDER BY born DESC, name, id LIMIT $2"
		want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.BinaryFormatCode, 2, 9)
		got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.BinaryFormatCode, 2, 9)
		if werr != nil || gerr != nil || got != want {
			t.Fatalf("%v: through phiguard (%v)\n%s\ndirectly (%v)\n%s", mode, gerr, got, werr, want)
		}
	}
	f.same(t, `SELECT id FROM %[1]s ORDER BY name, id LIMIT ALL`)
	f.same(t, `SELECT id FROM %[1]s ORDER BY name, id LIMIT 0`)
	f.same(t, `SELECT * FROM %[1]s ORDER BY name DESC, born, id LIMIT NULL OFFSET 100`)
	f.same(t, `SELECT b.*, a.id FROM %[2]s a JOIN %[1]s b ON b.id = a.person ORDER BY b.tag NULLS FIRST, a.id DESC LIMIT 30`)
	// A negative LIMIT or OFFSET is PostgreSQL's error, with its code.
	const negative = "SELECT id FROM %[1]s WHERE id > $3 ORDER BY name, id LIMIT $1 OFFSET $2"
	for _, bounds := range [][]any{{-1, 0, 0}, {1, -1, 0}, {-1, 0, 1000}, {1, -1, 1000}} { // with rows, and none
		for _, mode := range bothModes {
			_, werr := rowsRaw(t, f.dir, f.sql(negative, 0), mode, 0, bounds...)
			_, gerr := rowsRaw(t, f.via, f.sql(negative, 1), mode, 0, bounds...)
			var wpe, gpe *pgconn.PgError
			if !errors.As(werr, &wpe) || !errors.As(gerr, &gpe) || wpe.Code != gpe.Code || wpe.Message != gpe.Message {
				t.Fatalf("LIMIT/OFFSET %v (%v): through phiguard %v, directly %v", bounds, mode, gerr, werr)
			}
		}
	}
}

// TestSortEncryptedRefusals: past the row cap, under a collation other
// than C; a row limit on Execute is served.
func TestSortEncryptedRefusals(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	ctx := testContext(t)
	_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s ORDER BY name, id", 1), pgx.QueryExecModeSimpleProtocol, 0)
	wantCode(t, err, "54000", "limits.proxy_sort_rows")
	_, err = rowsRaw(t, f.via, f.sql("SELECT b.*, a.id FROM %[2]s a JOIN %[1]s b ON b.id = a.person WHERE a.id < 5 ORDER BY 2, 7", 1), pgx.QueryExecModeSimpleProtocol, 0)
	wantCode(t, err, "0A000", "ORDER BY 2 sorts by encrypted column")
	if _, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s WHERE id <= 20 ORDER BY name, id", 1), pgx.QueryExecModeCacheStatement, 0); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	// The session goes on after the refusal.
	if _, err := f.via.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	// ICU's collations are refused (libc's sort: TestSortEncryptedUnderLocale).
	coll := "und-x-icu"
	su := superuser(t)
	if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN city TYPE text COLLATE %q`, f.addresses[1], coll)); err != nil {
		t.Fatal(err)
	}
	f.via = f.p.app(t) // a session reading its catalog after the DDL
	_, err = rowsRaw(t, f.via, f.sql("SELECT id FROM %[2]s ORDER BY city, id", 1), pgx.QueryExecModeCacheStatement, 0)
	wantCode(t, err, "0A000", "under collation")
	t.Logf("collation %s: %v", coll, err)
	// A plaintext key keeps its collation: PostgreSQL ranks it.
	for i := range 2 {
		if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN street text COLLATE %q;
UPDATE %s SET street = (ARRAY['Bern', 'bern', 'Zürich', 'aarau', 'Aarau', 'a-b', 'ab'])[1 + id %% 7]`, f.addresses[i], coll, f.addresses[i])); err != nil {
			t.Fatal(err)
		}
	}
	// The first result showing the column the other session added is
	// refused (40001: the session's catalog predates it); the session
	// reads its catalog before the next statement.
	_, err = rowsRaw(t, f.via, f.sql("SELECT street FROM %[2]s LIMIT 0", 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil {
		wantCode(t, err, "40001", "changed since this session read them")
	}
	f.same(t, "SELECT a.id, a.street FROM %[2]s a LEFT JOIN %[1]s b ON b.id = a.person WHERE a.id <= 20 ORDER BY a.street DESC, b.name, a.id")

	// Execute with a row limit (a fetch size): its portion, then
	// PortalSuspended (search_portions_test.go reads on).
	pc := f.via.PgConn()
	fe := pc.Frontend()
	fe.Send(parse("", f.sql("SELECT id FROM %[1]s WHERE id <= 20 ORDER BY name, id", 1)))
	fe.Send(bind("", ""))
	fe.Send(execute("", 5))
	fe.Send(sync)
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var code string
	rows, suspended := 0, false
	for {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			rows++
		case *pgproto3.ErrorResponse:
			code = m.Code
		case *pgproto3.PortalSuspended:
			suspended = true
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	if code != "" || rows != 5 || !suspended {
		t.Fatalf("Execute with max_rows 5: error %q, %d rows, suspended %v; want 5 rows and PortalSuspended", code, rows, suspended)
	}
}

func wantCode(t *testing.T, err error, code, words string) {
	t.Helper()
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || pe.Code != code || !strings.Contains(pe.Message, words) {
		t.Fatalf("want %s naming %q, got %v", code, words, err)
	}
}
