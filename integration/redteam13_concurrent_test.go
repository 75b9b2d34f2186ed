package integration

import (
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam13ConcurrentSealing: sessions sealing and opening cells at
// once (keys' pooled sealing buffers, the proxy's shared presentation of
// DataRow values and canonicalisation of Bind values without a copy):
// every session reads back exactly the values it wrote, randomized and
// deterministic, by text and binary parameters and by literal, and its
// tree and term-free filters find them. A pooled buffer handed to two
// cells, or a value presented from a buffer reused before it is written
// out, shows as another session's value or a mangled one.
func TestRedTeam13ConcurrentSealing(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 1, nil)
	const sessions, rows = 6, 40
	conns := make([]*pgx.Conn, sessions)
	for i := range conns {
		conns[i] = f.p.app(t)
	}
	ctx := testContext(t)
	errs := make(chan error, sessions)
	var wg gosync.WaitGroup
	for s := range sessions {
		wg.Add(1)
		go func(s int, conn *pgx.Conn) {
			defer wg.Done()
			errs <- func() error {
				for r := range rows {
					id := 1000 + s*rows + r
					name := fmt.Sprintf("n%02d-%03d-%s", s, r, string(rune('A'+r%26)))
					tag := fmt.Sprintf("s%d", s)
					var err error
					switch r % 3 {
					case 0:
						_, err = conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, name, born, tag, grp) VALUES ($1, $2, $3, $4, $5)", f.people[1]),
							id, name, fmt.Sprintf("19%02d-01-%02d", 40+s, 1+r%28), tag, 100+s)
					case 1:
						_, err = conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, name, born, tag, grp) VALUES ($1, $2, $3, $4, $5)", f.people[1]),
							id, name, time.Date(1900+40+s, 1, 1+r%28, 0, 0, 0, 0, time.UTC), tag, 100+s) // a binary date
					default:
						_, err = conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, name, born, tag, grp) VALUES (%d, '%s', '19%02d-01-%02d', '%s', %d)",
							f.people[1], id, name, 40+s, 1+r%28, tag, 100+s), pgx.QueryExecModeSimpleProtocol)
					}
					if err != nil {
						return fmt.Errorf("session %d insert %d: %w", s, r, err)
					}
				}
				for round := range 3 {
					for _, q := range []string{
						"SELECT id, name, born, tag FROM %s WHERE grp = $1 AND $2::text IS NOT NULL ORDER BY id",
						"SELECT id, name, born, tag FROM %s WHERE (tag = $2 OR name = 'x') AND grp = $1 ORDER BY name",
					} {
						got, err := conn.Query(ctx, fmt.Sprintf(q, f.people[1]), 100+s, fmt.Sprintf("s%d", s))
						if err != nil {
							return fmt.Errorf("session %d round %d: %w", s, round, err)
						}
						n := 0
						for got.Next() {
							var id int
							var name, tag string
							var bornT time.Time
							if err := got.Scan(&id, &name, &bornT, &tag); err != nil {
								return err
							}
							r := id - 1000 - s*rows
							born := bornT.Format("2006-01-02")
							want := fmt.Sprintf("n%02d-%03d-%s", s, r, string(rune('A'+r%26)))
							if name != want || tag != fmt.Sprintf("s%d", s) || born != fmt.Sprintf("19%02d-01-%02d", 40+s, 1+r%28) {
								return fmt.Errorf("session %d row %d: got %q %q %q", s, id, name, born, tag)
							}
							n++
						}
						if err := got.Err(); err != nil {
							return err
						}
						if n != rows {
							return fmt.Errorf("session %d: %d rows of %d", s, n, rows)
						}
					}
				}
				return nil
			}()
		}(s, conns[s])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
