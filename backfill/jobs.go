package backfill

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

type jobResult struct {
	j   job
	st  batchStats
	err error
}

// runJobs plans the table's batches on conn and runs them, Workers at a
// time, each worker on its own connection. Progress is saved after each
// batch that completes the run of batches before it, so the resume point
// never passes a batch that did not commit; a resumed run may examine again
// the few batches that committed after it, and leaves their cells alone.
func runJobs(ctx context.Context, conn *pgx.Conn, b *batcher, o Options, key progressKey, from []string, report func(batchStats)) error {
	workers := o.Workers
	if o.Connect == nil {
		workers = 1
	} else if workers <= 0 {
		workers = 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, 2*workers)
	results := make(chan jobResult, 2*workers)
	var wg sync.WaitGroup
	defer func() {
		close(jobs)
		cancel()
		wg.Wait()
	}()

	if workers == 1 && o.Connect == nil {
		// One connection: plan and run in turn on it.
		cursor := from
		for {
			j, last, err := b.plan(ctx, conn, cursor)
			if err != nil {
				return err
			}
			st, err := b.runWithRetry(ctx, conn, j)
			if err != nil {
				return err
			}
			if err := saveProgress(ctx, conn, key, j.end(), st.rows); err != nil {
				return err
			}
			report(st)
			if last {
				return nil
			}
			cursor = j.end()
		}
	}

	for w := 0; w < workers; w++ {
		wc, err := o.Connect(ctx)
		if err != nil {
			return fmt.Errorf("worker connection: %w", err)
		}
		if err := prepareSession(ctx, wc); err != nil {
			wc.Close(context.Background())
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer wc.Close(context.Background())
			for j := range jobs {
				st, err := b.runWithRetry(ctx, wc, j)
				results <- jobResult{j: j, st: st, err: err}
				if err != nil {
					return
				}
			}
		}()
	}

	cursor, seq, next, inflight := from, 0, 0, 0
	planned := false
	pending := map[int]jobResult{}
	for {
		for !planned && inflight < 2*workers {
			j, last, err := b.plan(ctx, conn, cursor)
			if err != nil {
				return err
			}
			j.seq = seq
			seq++
			jobs <- j
			inflight++
			cursor, planned = j.end(), last
		}
		if inflight == 0 {
			return nil
		}
		var r jobResult
		select {
		case r = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		inflight--
		if r.err != nil {
			return r.err
		}
		pending[r.j.seq] = r
		for {
			pr, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := saveProgress(ctx, conn, key, pr.j.end(), pr.st.rows); err != nil {
				return err
			}
			report(pr.st)
		}
	}
}
