package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/keys"
)

// TestSortEncryptedAudit: a statement sorted or filtered in the proxy is
// recorded as the client saw it: the rows it returned (after the WHERE
// and LIMIT), the subjects of those rows only, and the sort key or
// filtered column among the columns read.
func TestSortEncryptedAudit(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("sortaudit")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (id int PRIMARY KEY, name text); GRANT ALL ON %[1]s TO %[2]s", table, appUser)); err != nil {
		t.Fatal(err)
	}
	var sink bytes.Buffer
	key := audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{7}, 32))}
	a, err := audit.New(audit.Options{Key: key, Sink: audit.NewWriterSink(&sink)})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{auditor: a, quiet: true, protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    subject_column: id
    columns:
      name: {mode: randomized, key: sortaudit-pii, type: text}
`, table))})
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, name) VALUES (41, 'e'), (42, 'b'), (43, 'd'), (44, 'a'), (45, 'c')"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range bothModes {
		for _, q := range []struct {
			sql  string
			want []int
		}{
			{"SELECT id FROM " + table + " ORDER BY name LIMIT 2", []int{44, 42}},
			{"SELECT id FROM " + table + " WHERE name > 'b' ORDER BY id DESC LIMIT 2", []int{45, 43}},
		} {
			var got []int
			rows, err := conn.Query(ctx, q.sql, mode)
			if err == nil {
				got, err = pgx.CollectRows(rows, pgx.RowTo[int])
			}
			if err != nil || !slices.Equal(got, q.want) {
				t.Fatalf("%v: %s: %v %v", mode, q.sql, got, err)
			}
		}
	}
	conn.Close(ctx)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	type record struct {
		Event    string   `json:"event"`
		Read     []string `json:"read"`
		Rows     int64    `json:"rows"`
		Subjects []struct {
			IDs []string `json:"ids"`
		} `json:"subjects"`
	}
	var sorted []record
	sc := bufio.NewScanner(bytes.NewReader(sink.Bytes()))
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Event == "statement" && len(r.Read) > 0 {
			sorted = append(sorted, r)
		}
	}
	if len(sorted) != 4 {
		t.Fatalf("%d records of the sorted and filtered statements, want 4:\n%s", len(sorted), sink.String())
	}
	for i, r := range sorted {
		ids := []string{}
		for _, s := range r.Subjects {
			ids = append(ids, s.IDs...)
		}
		slices.Sort(ids)
		want := [][]string{{"42", "44"}, {"43", "45"}}[i%2] // the statements alternate
		if r.Rows != 2 || !slices.Equal(ids, want) || !slices.Contains(r.Read, "public."+table+".name") {
			t.Errorf("record %+v: want 2 rows, subjects %v, name read", r, want)
		}
	}
}
