package integration

import (
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// catalogNamesAtLeast waits (the catalog read after a request is
// consumed after the client's ReadyForQuery) until phiguard counts at
// least n whole catalog reads whose names were result (shared or
// published), and fails after five seconds.
func catalogNamesAtLeast(t *testing.T, p *phiguard, result string, n float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := p.metric(t, "phiguard_proxy_catalog_names_total", "result", result)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalog reads whose names were %s: %v, want at least %v", result, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// namesAnswer fails unless q answers want, one row of one field.
func namesAnswer(t *testing.T, c *pgx.Conn, q, want string, mode pgx.QueryExecMode) {
	t.Helper()
	if got, err := rt4Rows(c, q, mode); err != nil || got != want+"\n" {
		t.Fatalf("%s: %q, %v, where the plaintext database answers %q", q, got, err, want)
	}
}

// TestCatalogNamesSharedBySessions: the sessions of one database share
// one snapshot of its relation and column names (guard/catalog_shared.go):
// the second session's read, of the same rows, takes the first's. DDL
// through one session has its read publish new names while the other
// still holds the old ones and answers as the plaintext database does;
// its own next read (it names the new table) takes the new snapshot, and
// a view over the encrypted column made afterwards by a third, direct
// session is still refused on both.
func TestCatalogNamesSharedBySessions(t *testing.T) {
	ctx := testContext(t)
	db := uniqueName("names")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	owner := connect(t, directURL(appUser, appPassword, db))
	rt31cExec(t, owner, "CREATE TABLE enc (id int, s text)")
	p := startProxy(t, proxyOptions{quiet: true, protect: protection(t, "version: 1\ntables:\n  public.enc:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n")})
	a := connect(t, p.url(appUser, appPassword, db))
	rt31cExec(t, a, "INSERT INTO enc (id, s) VALUES (1, 'secret')")
	catalogNamesAtLeast(t, p, "published", 1)
	if got := p.metric(t, "phiguard_proxy_catalog_names_total", "result", "shared"); got != 0 {
		t.Fatalf("%v reads shared names before a second session", got)
	}
	b := connect(t, p.url(appUser, appPassword, db))
	catalogNamesAtLeast(t, p, "shared", 1) // b's login read took a's names
	published := p.metric(t, "phiguard_proxy_catalog_names_total", "result", "published")

	rt31cExec(t, a, "CREATE TABLE made_since (x int)", "INSERT INTO made_since VALUES (7)")
	catalogNamesAtLeast(t, p, "published", published+1) // a's read after its DDL
	shared := p.metric(t, "phiguard_proxy_catalog_names_total", "result", "shared")
	const coalesced = "phiguard_proxy_catalog_reads_coalesced_total"
	took := p.metric(t, coalesced)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		namesAnswer(t, b, "SELECT s FROM enc WHERE id = 1", "secret", mode)
	}
	namesAnswer(t, b, "SELECT x FROM made_since", "7", pgx.QueryExecModeSimpleProtocol)
	if took = p.metric(t, coalesced) - took; took == 0 {
		// b's read after a's DDL took a's newer names (b did not take a's
		// whole read, guard/catalog_coalesce.go)
		catalogNamesAtLeast(t, p, "shared", shared+1)
	}
	shared -= took // a read b took is no read of names

	namesConcurrentLogins(t, p, db, 6)
	catalogNamesAtLeast(t, p, "shared", shared+7) // each login's read took them too

	rt31cExec(t, owner, "CREATE VIEW v AS SELECT id, length(s) AS n FROM enc")
	for _, c := range []*pgx.Conn{a, b} {
		_, err := rt4Rows(c, "SELECT n FROM v", pgx.QueryExecModeSimpleProtocol)
		rt33bRefused(t, "a view over the encrypted column made since", err, "v")
		namesAnswer(t, c, "SELECT s FROM enc WHERE id = 1", "secret", pgx.QueryExecModeExec)
	}
}

// namesConcurrentLogins logs n sessions in at once (each read taking or
// publishing the names while the others do: go test -race), each of
// which then reads the encrypted column.
func namesConcurrentLogins(t *testing.T, p *phiguard, db string, n int) {
	t.Helper()
	ctx := testContext(t)
	var wg gosync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, p.url(appUser, appPassword, db))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(context.Background())
			var s string
			if err := c.QueryRow(ctx, "SELECT s FROM enc WHERE id = 1").Scan(&s); err != nil || s != "secret" {
				errs <- fmt.Errorf("SELECT s: %q, %v, where the plaintext database answers \"secret\"", s, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
