package integration

import (
	"fmt"
	"os"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam34EpochLoad measures what a session running cheap DDL in a
// loop costs the database's other sessions: each of a's ALTER TABLEs
// moves the DDL epoch, and every other session reads its catalog before
// its next request. b runs SELECT s FROM enc WHERE id = 1 (a prepared
// Query, or pgx's cache mode with PHIGUARD_RT34_MODE=cache) for a while with a idle, then with a
// running DDL at the rates of PHIGUARD_RT34_RATES (per second, 0 for as
// fast as it goes); b's queries per second and its catalog reads are
// logged; PHIGUARD_RT34_DDL=truncate runs TRUNCATE instead, which costs
// a the same catalog read and does not move the epoch. PHIGUARD_RT34_TABLES extra plain tables make the catalog the
// size of a real database's. PHIGUARD_RT34_READERS sessions of b's role
// (default 1) run b's loop at once: their queries a second are summed,
// and the catalog reads they made (those they took from another
// session's read, guard/catalog_coalesce.go, not counted) logged. A
// measurement, not a check: it runs only with PHIGUARD_RT34_LOAD set.
func TestRedTeam34EpochLoad(t *testing.T) {
	if os.Getenv("PHIGUARD_RT34_LOAD") == "" {
		t.Skip("a measurement: set PHIGUARD_RT34_LOAD=1")
	}
	su, a, b, p, enc, _ := rt34Proxy(t)
	ctx := testContext(t)
	extra, _ := strconv.Atoi(os.Getenv("PHIGUARD_RT34_TABLES"))
	if extra > 0 {
		rt31cExec(t, su, fmt.Sprintf("DO $$ BEGIN FOR i IN 1..%d LOOP EXECUTE format('CREATE TABLE %s_x%%s (id int, a text, b text, c int)', i); END LOOP; END $$", extra, enc))
	}
	rt31cExec(t, a, "CREATE TABLE "+enc+"_d (a int)")
	const reads, coalesced = "phiguard_proxy_catalog_reads_for_other_sessions_ddl_total", "phiguard_proxy_catalog_reads_coalesced_total"
	readers := []*pgx.Conn{b}
	n, _ := strconv.Atoi(os.Getenv("PHIGUARD_RT34_READERS"))
	for len(readers) < n {
		readers = append(readers, p.app(t))
	}
	run := func(rate int, dur time.Duration) {
		stop := make(chan struct{})
		var ddl atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			if rate < 0 {
				return
			}
			tick := time.Duration(0)
			if rate > 0 {
				tick = time.Second / time.Duration(rate)
			}
			next := time.Now()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				stmt := fmt.Sprintf("ALTER TABLE %s_d ALTER COLUMN a SET DEFAULT %d", enc, i%100)
				if os.Getenv("PHIGUARD_RT34_DDL") == "truncate" { // the control: DDL that does not move the epoch
					stmt = "TRUNCATE " + enc + "_d"
				}
				if _, err := a.Exec(ctx, stmt); err != nil {
					t.Error(err)
					return
				}
				ddl.Add(1)
				if tick > 0 {
					next = next.Add(tick)
					time.Sleep(time.Until(next))
				}
			}
		}()
		before, tookBefore := p.metric(t, reads), p.metric(t, coalesced)
		wholeBefore := p.metric(t, "phiguard_proxy_catalog_names_total", "result", "shared") + p.metric(t, "phiguard_proxy_catalog_names_total", "result", "published")
		start := time.Now()
		var n atomic.Int64
		mode := pgx.QueryExecModeSimpleProtocol
		if os.Getenv("PHIGUARD_RT34_MODE") == "cache" {
			mode = pgx.QueryExecModeCacheStatement
		}
		var wg gosync.WaitGroup
		for _, r := range readers {
			wg.Add(1)
			go func(r *pgx.Conn) {
				defer wg.Done()
				var s string
				for time.Since(start) < dur {
					if err := r.QueryRow(ctx, "SELECT s FROM "+enc+" WHERE id = 1", mode).Scan(&s); err != nil {
						t.Error(err)
						return
					}
					n.Add(1)
				}
			}(r)
		}
		wg.Wait()
		el := time.Since(start)
		close(stop)
		<-done
		took := p.metric(t, coalesced) - tookBefore
		whole := p.metric(t, "phiguard_proxy_catalog_names_total", "result", "shared") + p.metric(t, "phiguard_proxy_catalog_names_total", "result", "published") - wholeBefore
		t.Logf("RESULT tables+%d a's DDL rate %d/s (done %.0f/s): %d readers %.0f queries/s, %.3f ms each, their catalog reads %v (%.0f/s), catalogs taken from another's read %v; whole reads of every session %v",
			extra, rate, float64(ddl.Load())/el.Seconds(), len(readers), float64(n.Load())/el.Seconds(), el.Seconds()*1000*float64(len(readers))/float64(n.Load()),
			p.metric(t, reads)-before-took, (p.metric(t, reads)-before-took)/el.Seconds(), took, whole)
	}
	rates := []int{-1, 10, 100, 0, -1}
	if r := os.Getenv("PHIGUARD_RT34_RATES"); r != "" {
		rates = nil
		for _, f := range splitComma(r) {
			v, _ := strconv.Atoi(f)
			rates = append(rates, v)
		}
	}
	for _, r := range rates {
		run(r, 4*time.Second)
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
