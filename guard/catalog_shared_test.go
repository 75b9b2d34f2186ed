package guard

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// namesRows are the DataRow bodies of a catalog read's database-wide
// names on a database of tables tables of ten columns each (col_0 ...
// col_9, and a column named after each table), in schemas public and
// s1 (every tenth table in both), with extra relations named extra..., the
// highest OID maxOID and the search path public.
func namesRows(t testing.TB, tables int, maxOID string, extra ...string) [][]byte {
	var rows [][][]byte
	for i := range tables {
		name := []byte(fmt.Sprintf("table_%05d", i))
		rows = append(rows, [][]byte{[]byte("public"), name, []byte("false")})
		if i%10 == 0 {
			rows = append(rows, [][]byte{[]byte("s1"), name, []byte("true+")})
		}
	}
	for _, e := range extra {
		rows = append(rows, [][]byte{[]byte("public"), []byte(e), []byte("false")})
	}
	rows = append(rows, [][]byte{{}, []byte("1234")}, [][]byte{nil, []byte(maxOID)}) // a function running SQL as text; the highest OID
	for i := range 10 {
		rows = append(rows, [][]byte{[]byte(fmt.Sprintf("col_%d", i))})
	}
	for i := range tables {
		rows = append(rows, [][]byte{[]byte(fmt.Sprintf("ref_%05d", i))})
	}
	rows = append(rows, [][]byte{[]byte("key"), nil, nil, nil, nil, nil})         // funcOutQuery's
	rows = append(rows, [][]byte{[]byte("public"), nil, nil, nil, nil, nil, nil}) // pathQuery's
	rows = append(rows, [][]byte{[]byte("public.made"), []byte("table")})         // latestQuery's
	bodies := make([][]byte, len(rows))
	for i, r := range rows {
		msg, err := (&pgproto3.DataRow{Values: r}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = msg[5:]
	}
	return bodies
}

// readNames builds a catalog from rows as a whole read of database does
// (srv nil: without sharing, as before catalog_shared.go).
func readNames(t testing.TB, srv *Shared, database string, rows [][]byte) *catalog {
	b := newCatalogBuilder(nil)
	b.probes = []sqlrewrite.TableName{{Schema: "public", Name: "made"}}
	for _, r := range rows {
		if err := b.add(pgwire.BeDataRow, r); err != nil {
			t.Error(err)
		}
	}
	b.share(srv, database)
	return b.cat
}

// TestCatalogNamesShared: two reads of the same rows of one database
// share one snapshot of its names; a read of other rows (a relation made
// since) publishes its own, and a catalog holding the older one keeps
// it, unchanged. The rows of the session's own (the highest OID, the
// search path, a probe) are not part of it.
func TestCatalogNamesShared(t *testing.T) {
	srv := &Shared{}
	rows := namesRows(t, 200, "20000")
	first, second := readNames(t, srv, "db", rows), readNames(t, srv, "db", namesRows(t, 200, "20007"))
	if first.shared == nil || first.shared != second.shared {
		t.Fatalf("two reads of the same names: %p and %p, want one snapshot", first.shared, second.shared)
	}
	if second.maxOID != 20007 || first.maxOID != 20000 || !second.pathRead || len(second.path) != 1 || !second.madeSince[sqlrewrite.TableName{Schema: "public", Name: "made"}] {
		t.Fatalf("the session's own parts: maxOID %d, path %v %v, madeSince %v", second.maxOID, second.pathRead, second.path, second.madeSince)
	}
	if other := readNames(t, srv, "other", rows); other.shared == first.shared {
		t.Fatalf("another database's read took this one's names")
	}
	newer := readNames(t, srv, "db", namesRows(t, 200, "20000", "made_since"))
	if newer.shared == first.shared || srv.names["db"] != newer.shared {
		t.Fatalf("a read of other rows shared the older names")
	}
	made := sqlrewrite.TableName{Name: "made_since"}
	if first.knows(made) || !newer.knows(made) || len(first.names().relations) != 200 || len(newer.names().relations) != 201 {
		t.Fatalf("made_since: known to the older catalog %v, to the newer %v", first.knows(made), newer.knows(made))
	}
	if third := readNames(t, srv, "db", namesRows(t, 200, "20000", "made_since")); third.shared != newer.shared {
		t.Fatalf("a read of the newer rows did not share the newer names")
	}
	// The same rows in another order give the schemas other indexes.
	swapped := namesRows(t, 200, "20000")
	swapped[0], swapped[1] = swapped[1], swapped[0]
	if readNames(t, srv, "db", swapped).shared == first.shared {
		t.Fatalf("rows in another order shared the names")
	}
	for _, c := range []*catalog{first, second, newer} {
		if !c.knows(sqlrewrite.TableName{Schema: "s1", Name: "table_00010"}) || c.knows(sqlrewrite.TableName{Schema: "s1", Name: "table_00011"}) ||
			!c.hasRules(sqlrewrite.TableName{Schema: "s1", Name: "table_00010"}) || !c.names().sqlText[1234] {
			t.Fatalf("names read wrong")
		}
		if _, ok := c.names().attnames["ref_00007"]; !ok {
			t.Fatalf("column names read wrong")
		}
		if _, ok := c.names().funcOut["key"]; !ok {
			t.Fatalf("OUT parameter names read wrong")
		}
	}
}

// TestCatalogNamesPathReadKeepsThem: a read of the search path alone
// (readPathFirst) copies the catalog with its names and neither writes
// into them nor publishes any.
func TestCatalogNamesPathReadKeepsThem(t *testing.T) {
	srv := &Shared{}
	cur := readNames(t, srv, "db", namesRows(t, 50, "20000"))
	before := len(cur.names().relations)
	next := *cur
	next.path, next.pathRead, next.whole = nil, false, cur
	b := &catalogBuilder{cat: &next, resolved: map[string]string{}}
	for _, r := range [][][]byte{{[]byte("s1"), nil, nil, nil, nil, nil, nil}, {[]byte("x"), []byte("s1"), nil, nil, nil, nil, nil, nil}} {
		msg, _ := (&pgproto3.DataRow{Values: r}).Encode(nil)
		if err := b.add(pgwire.BeDataRow, msg[5:]); err != nil {
			t.Fatal(err)
		}
	}
	b.share(srv, "db")
	if next.shared != cur.shared || srv.names["db"] != cur.shared || len(cur.names().relations) != before || len(next.path) != 1 {
		t.Fatalf("a read of the path alone changed the names: %p %p", next.shared, cur.shared)
	}
}

// TestCatalogNamesConcurrentReads: reads of one database building and
// sharing names at once, while others read the shared ones (-race).
func TestCatalogNamesConcurrentReads(t *testing.T) {
	srv := &Shared{}
	same, other := namesRows(t, 100, "20000"), namesRows(t, 100, "20000", "made_since")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				rows := same
				if (g+i)%3 == 0 {
					rows = other
				}
				c := readNames(t, srv, "db", rows)
				if !c.knows(sqlrewrite.TableName{Name: "table_00042"}) || c.knows(sqlrewrite.TableName{Name: "made_since"}) != (len(rows) == len(other)) {
					t.Errorf("a shared read lists the wrong names")
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestCatalogNamesMemory: the heap that 20 sessions' catalogs hold on a
// database of 10,000 tables, each with its own names and sharing them.
func TestCatalogNamesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 40 catalogs of 10,000 tables")
	}
	const sessions = 20
	rows := namesRows(t, 10000, "20000")
	per := func(srv *Shared) float64 {
		cats := make([]*catalog, sessions)
		before := heapAfterGC()
		for i := range cats {
			cats[i] = readNames(t, srv, "db", rows)
		}
		after := heapAfterGC()
		runtime.KeepAlive(cats)
		runtime.KeepAlive(srv)
		return float64(int64(after)-int64(before)) / sessions
	}
	shared, own := per(&Shared{}), per(nil)
	t.Logf("heap per session's catalog, %d sessions, 10,000 tables: %.0f bytes own, %.0f shared", sessions, own, shared)
	if shared > own/5 {
		t.Fatalf("shared names: %.0f bytes a session, own %.0f", shared, own)
	}
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCatalogNamesRead: building a catalog from the names' rows of
// a database of 6,715 relations, with the digest and without (the
// digest's cost is the difference).
func BenchmarkCatalogNamesRead(b *testing.B) {
	rows := namesRows(b, 6715, "20000")
	b.Run("build+digest", func(b *testing.B) {
		srv := &Shared{}
		for b.Loop() {
			readNames(b, srv, "db", rows)
		}
	})
	b.Run("digest-only", func(b *testing.B) {
		for b.Loop() {
			cb := &catalogBuilder{}
			for _, r := range rows {
				cb.hashRow(r)
			}
		}
	})
}
