package soak

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/keys"
)

// readBatch is how many ids one end-check query asks for.
const readBatch = 2000

// checkReadThrough reads every acknowledged row back through phiguard,
// batches alternating between the extended and the simple protocol, and
// compares it with what was written.
func checkReadThrough(t *testing.T, ctx context.Context, r *rig, w *workload, f *figures) {
	t.Helper()
	conn, err := pgx.Connect(ctx, r.url(probeUser))
	if err != nil {
		t.Fatalf("read-through: connect: %v", err)
	}
	defer conn.Close(context.Background())
	ids := w.acks.all()
	rt := &f.readThrough
	rt.ids = len(ids)
	for b := 0; b*readBatch < len(ids); b++ {
		batch := ids[b*readBatch : min(len(ids), (b+1)*readBatch)]
		mode := pgx.QueryExecModeCacheStatement
		if b%2 == 1 {
			mode = pgx.QueryExecModeSimpleProtocol
		}
		rows, err := conn.Query(ctx, "SELECT id, ssn, name, birthdate FROM patients WHERE id = ANY($1)", mode, batch)
		if err != nil {
			t.Fatalf("read-through: %v", err)
		}
		got := map[int64]row{}
		for rows.Next() {
			var id int64
			var v row
			var birth time.Time
			if err := rows.Scan(&id, &v.ssn, &v.name, &birth); err != nil {
				t.Fatalf("read-through: %v", err)
			}
			v.birthdate = birth.Format(time.DateOnly)
			got[id] = v
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read-through: %v", err)
		}
		for _, id := range batch {
			v, ok := got[id]
			switch {
			case !ok:
				rt.missing++
			case v != rowFor(r.p.seed, id):
				rt.wrong++
			}
		}
	}
	f.check("every acknowledged write reads back through phiguard as written", rt.missing == 0 && rt.wrong == 0,
		"%d acknowledged ids: %d missing, %d different from what was written", rt.ids, rt.missing, rt.wrong)
}

// checkAtRest reads the table straight from PostgreSQL: every
// acknowledged id is there, and every PHI cell of every row (acknowledged
// or not) is a phiguard cell, never plaintext.
func checkAtRest(t *testing.T, ctx context.Context, r *rig, w *workload, f *figures) {
	t.Helper()
	conn, err := pgx.Connect(ctx, r.pg.URL(r.pg.Superuser, r.pg.Password, "postgres"))
	if err != nil {
		t.Fatalf("at rest: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id, ssn, name, birthdate FROM patients")
	if err != nil {
		t.Fatalf("at rest: %v", err)
	}
	present := map[int64]bool{}
	ar := &f.atRest
	for rows.Next() {
		var id int64
		var cells [3]*string
		if err := rows.Scan(&id, &cells[0], &cells[1], &cells[2]); err != nil {
			t.Fatalf("at rest: %v", err)
		}
		ar.rows++
		present[id] = true
		for _, c := range cells {
			if c == nil || !keys.IsCell([]byte(*c)) {
				ar.notCell++
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("at rest: %v", err)
	}
	acked := w.acks.all()
	for _, id := range acked {
		if !present[id] {
			ar.ackedMissing++
		}
	}
	f.check("every acknowledged write is in PostgreSQL", ar.ackedMissing == 0,
		"%d acknowledged, %d missing from the table (%d rows in it)", len(acked), ar.ackedMissing, ar.rows)
	f.check("every PHI cell at rest is encrypted", ar.notCell == 0,
		"%d rows × 3 PHI columns: %d not a phiguard cell", ar.rows, ar.notCell)
}

// goroutineSlack and fdSlack are what the end may hold beyond the
// post-warm-up figures: runtime and HTTP housekeeping, a key recheck or
// checkpoint store in flight.
const (
	goroutineSlack = 10
	fdSlack        = 10
	rssTolerance   = 1.10
)

// judge turns the client counters, the chaos actions and the idle figures
// into checks.
func judge(t *testing.T, w *workload, f *figures) {
	t.Helper()
	c := f.clients
	f.check("reads return what was written", c.wrongReads == 0, "%d wrong reads (first: %s)", c.wrongReads, c.wrongSample)
	f.check("reader role writes refused", c.readerWrote == 0, "%d reader INSERTs went through; %d refused with 42501", c.readerWrote, c.refused)
	var stuck []string
	for _, cl := range w.clients {
		if !cl.st.lastOK.After(f.chaosEnd) {
			stuck = append(stuck, cl.user)
		}
	}
	f.check("every client recovered after the chaos", len(stuck) == 0,
		"%d of %d clients had no successful statement in the %s cool-down: %v", len(stuck), len(w.clients), w.p.cooldown, stuck)
	f.check("keys never withdrawn (OpenBao outages shorter than the grace)", c.errors["58000"] == 0 && f.audit.withdrawn == 0,
		"%d statements refused with 58000, %d key withdrawn records", c.errors["58000"], f.audit.withdrawn)
	for _, a := range f.actions {
		for _, p := range a.problems {
			f.check(fmt.Sprintf("chaos %s at %.0fs", a.kind, a.at.Seconds()), false, "%s", p)
		}
	}
	if f.end.rssKB == 0 {
		f.check("RSS, goroutines and descriptors back at their post-warm-up level", false, "not measured: phiguard did not survive the chaos")
	} else {
		judgeProcess(f)
	}
	f.check("clean shutdown", strings.HasPrefix(f.shutdown, "exit 0"), "%s", f.shutdown)
}

// judgeProcess compares the idle figures at the end with those after
// the warm-up.
//
// The RSS limit is 10% over the post-warm-up level, plus
// PHIGUARD_SOAK_RSS_SLACK_MB (8 for the 45 s sample of make test, 0 for
// make soak): after a peak the Go runtime keeps a few MiB of its own
// (span and stack metadata) whatever the heap, which against the
// sample's ~38 MiB baseline is 9–13% from run to run.
func judgeProcess(f *figures) {
	slackKB := int64(f.params.rssSlackMB) * 1024
	limit := int64(float64(f.warm.rssKB)*rssTolerance) + slackKB
	f.check(fmt.Sprintf("RSS back within 10%% (+%d MiB) of post-warm-up", f.params.rssSlackMB), f.end.rssKB <= limit,
		"post-warm-up %.1f MiB, end %.1f MiB (%+.1f%%), limit %.1f MiB", mib(f.warm.rssKB), mib(f.end.rssKB),
		100*(float64(f.end.rssKB)/float64(f.warm.rssKB)-1), mib(limit))
	f.check("no goroutine growth", f.end.goroutines <= f.warm.goroutines+goroutineSlack,
		"post-warm-up %d, end %d (slack %d)", f.warm.goroutines, f.end.goroutines, goroutineSlack)
	f.check("no descriptor growth", f.end.fds <= f.warm.fds+fdSlack,
		"post-warm-up %d, end %d (slack %d)", f.warm.fds, f.end.fds, fdSlack)
}

func mib(kb int64) float64 { return float64(kb) / 1024 }
