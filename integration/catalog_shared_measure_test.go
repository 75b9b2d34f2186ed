package integration

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCatalogNamesMeasure measures the heap 50 sessions through phiguard
// hold on a database of 10,000 tables (three columns each, one named
// after its table), in this process (phiguard runs in it): the figures of
// docs/memory.md. Run with PHIGUARD_MEASURE_CATALOG=1.
func TestCatalogNamesMeasure(t *testing.T) {
	if os.Getenv("PHIGUARD_MEASURE_CATALOG") == "" {
		t.Skip("a measurement: PHIGUARD_MEASURE_CATALOG=1")
	}
	const tables, sessions = 10000, 50
	ctx := testContext(t)
	db := uniqueName("names_measure")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	owner := connect(t, directURL(appUser, appPassword, db))
	rt31cExec(t, owner, "CREATE TABLE enc (id int, s text)")
	for from := 0; from < tables; from += 1000 {
		rt31cExec(t, owner, fmt.Sprintf(`DO $$ BEGIN FOR i IN %d..%d LOOP
  EXECUTE pg_catalog.format('CREATE TABLE t%%s (id int, name text, ref%%s int)', i, i); END LOOP; END $$`, from, from+999))
	}
	p := startProxy(t, proxyOptions{quiet: true, protect: protection(t, "version: 1\ntables:\n  public.enc:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n")})
	warm := connect(t, p.url(appUser, appPassword, db)) // the first read: the names' snapshot, once
	rt31cExec(t, warm, "SELECT 1")
	before := heapInUse()
	conns := make([]*pgx.Conn, sessions)
	for i := range conns {
		conns[i] = connect(t, p.url(appUser, appPassword, db))
	}
	after := heapInUse()
	t.Logf("%d sessions on %d tables: heap %.1f MB more, %.0f KB a session; reads sharing names %v, publishing %v",
		sessions, tables, float64(after-before)/1e6, float64(after-before)/sessions/1e3,
		p.metric(t, "phiguard_proxy_catalog_names_total", "result", "shared"), p.metric(t, "phiguard_proxy_catalog_names_total", "result", "published"))
	runtime.KeepAlive(conns)
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
