package backfill

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// batcher walks one table in batches.
type batcher struct {
	t      *table
	batch  int
	convs  []*converter
	writes map[string]uint32 // key id -> write version, for notes
	// trial is set for a dry run's timed batch: columns that cannot hold
	// cells yet are converted in Go but not written.
	trial bool

	selFirst, selNext, update string

	lastKey []string // pk mode: the last key done
	// ctid mode: pages [page, page+pagesPer) per batch, up to pages.
	page, pages, pagesPer int64
}

type batchStats struct {
	rows, changed, cells int64
	last                 bool
}

func newBatcher(t *table, o Options) (*batcher, error) {
	b := &batcher{t: t, batch: o.Batch, writes: map[string]uint32{}}
	for _, c := range t.columns {
		cv, err := newConverter(o.Op, c.pol, o.Keyring)
		if err != nil {
			return nil, err
		}
		b.convs = append(b.convs, cv)
		b.writes[c.pol.Key] = cv.write
	}
	// Output columns get aliases of their own and the key is qualified, so
	// that ORDER BY names the table's column, not the text output.
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = fmt.Sprintf("t.%s::text AS v%d", c.ident, i)
	}
	if len(t.pk) > 0 {
		keys := make([]string, len(t.pk))
		params := make([]string, len(t.pk))
		for i, k := range t.pk {
			keys[i] = fmt.Sprintf("t.%s::text AS k%d", k.ident, i)
			params[i] = fmt.Sprintf("$%d::%s", i+1, k.typ)
		}
		head := "SELECT t.ctid::text AS ctid, " + strings.Join(keys, ", ") + ", " + strings.Join(cols, ", ") + " FROM " + t.ident + " AS t"
		tail := fmt.Sprintf(" ORDER BY %s LIMIT %d FOR UPDATE", t.keyList("t."), b.batch)
		b.selFirst = head + tail
		b.selNext = head + " WHERE (" + t.keyList("t.") + ") > (" + strings.Join(params, ", ") + ")" + tail
	} else {
		b.selNext = "SELECT t.ctid::text AS ctid, " + strings.Join(cols, ", ") + " FROM " + t.ident + " AS t" +
			" WHERE t.ctid >= format('(%s,0)', $1::bigint)::tid AND t.ctid < format('(%s,0)', $2::bigint)::tid FOR UPDATE"
	}
	return b, nil
}

// signature names the columns and the key versions they are converted to;
// a saved run with another signature is not resumed.
func (b *batcher) signature() string {
	parts := make([]string, len(b.convs))
	for i, cv := range b.convs {
		parts[i] = fmt.Sprintf("%s:%s@%d", cv.col.Name, cv.col.Key, cv.write)
		if cv.op == Decrypt {
			parts[i] = cv.col.Name + ":" + cv.col.Key
		}
	}
	return strings.Join(parts, ",")
}

// updateSQL writes the given columns of the rows named by ctid (the rows
// are locked FOR UPDATE in the same transaction, so their ctids hold). A
// NULL in the arrays means "leave this cell as it is".
func (b *batcher) updateSQL(write []bool) string {
	var sets, names []string
	args := []string{"$1::text[]"}
	names = append(names, "k")
	for i, c := range b.t.columns {
		if !write[i] {
			continue
		}
		v := fmt.Sprintf("v%d", i)
		sets = append(sets, fmt.Sprintf("%s = COALESCE(u.%s, t.%s)", c.ident, v, c.ident))
		args = append(args, fmt.Sprintf("$%d::text[]", len(args)+1))
		names = append(names, v)
	}
	return "UPDATE " + b.t.ident + " AS t SET " + strings.Join(sets, ", ") + " FROM unnest(" + strings.Join(args, ", ") +
		") AS u(" + strings.Join(names, ", ") + ") WHERE t.ctid = u.k::tid"
}

// start positions the batcher at a resume point.
func (b *batcher) start(ctx context.Context, conn *pgx.Conn, last []string) error {
	b.lastKey = last
	if len(b.t.pk) > 0 {
		return nil
	}
	var pages, tuples float64
	err := conn.QueryRow(ctx, `SELECT pg_relation_size($1::regclass) / current_setting('block_size')::bigint, greatest(c.reltuples, 0)
		FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`, b.t.ident).Scan(&pages, &tuples)
	if err != nil {
		return err
	}
	b.pages = int64(pages)
	perPage := 50.0
	if pages > 0 && tuples > 0 {
		perPage = tuples / pages
	}
	b.pagesPer = max(1, int64(float64(b.batch)/max(perPage, 1)))
	if len(last) == 1 {
		b.page, err = strconv.ParseInt(last[0], 10, 64)
	}
	return err
}

// batchWithRetry runs one batch, retrying it when an application's
// transaction deadlocked with it or held a row lock too long.
func (b *batcher) batchWithRetry(ctx context.Context, conn *pgx.Conn, key progressKey) (batchStats, error) {
	for attempt := 1; ; attempt++ {
		st, err := b.runBatch(ctx, conn, key)
		if err == nil || !retryable(err) || attempt == 10 {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}

// runBatch locks, converts and writes one batch and saves the progress
// point, in one transaction. On a dry run's trial it writes but does not
// commit.
func (b *batcher) runBatch(ctx context.Context, conn *pgx.Conn, key progressKey) (batchStats, error) {
	var st batchStats
	tx, err := conn.Begin(ctx)
	if err != nil {
		return st, err
	}
	defer tx.Rollback(context.Background())

	var rows pgx.Rows
	nextPage := b.page + b.pagesPer
	switch {
	case len(b.t.pk) == 0:
		rows, err = tx.Query(ctx, b.selNext, b.page, nextPage)
	case b.lastKey == nil:
		rows, err = tx.Query(ctx, b.selFirst)
	default:
		args := make([]any, len(b.lastKey))
		for i, k := range b.lastKey {
			args[i] = k
		}
		rows, err = tx.Query(ctx, b.selNext, args...)
	}
	if err != nil {
		return st, err
	}
	nk := len(b.t.pk)
	ctids := []string{}
	vals := make([][]pgtype.Text, len(b.convs))
	var last []string
	for rows.Next() {
		raw := rows.RawValues()
		st.rows++
		ctid := string(raw[0])
		changed := false
		for i, cv := range b.convs {
			v := raw[1+nk+i]
			out, err := cv.convert(v, v == nil, ctid)
			if err != nil {
				rows.Close()
				return st, err
			}
			if out != nil {
				changed = true
			}
			vals[i] = append(vals[i], pgtype.Text{String: string(out), Valid: out != nil})
		}
		if changed {
			ctids = append(ctids, ctid)
			st.changed++
		} else {
			for i := range vals {
				vals[i] = vals[i][:len(vals[i])-1]
			}
		}
		if nk > 0 {
			last = last[:0]
			for _, k := range raw[1 : 1+nk] {
				last = append(last, string(k))
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	if len(ctids) > 0 {
		write := make([]bool, len(b.convs))
		args := []any{ctids}
		for i := range b.convs {
			write[i] = !b.trial || b.t.columns[i].holdsCells()
			if write[i] {
				args = append(args, vals[i])
				for _, v := range vals[i] {
					if v.Valid {
						st.cells++
					}
				}
			}
		}
		if len(args) > 1 {
			if _, err := tx.Exec(ctx, b.updateSQL(write), args...); err != nil {
				return st, err
			}
		}
	}
	if nk > 0 {
		st.last = st.rows < int64(b.batch)
		if st.rows == 0 {
			last = b.lastKey
		}
	} else {
		st.last = nextPage >= b.pages
		last = []string{strconv.FormatInt(nextPage, 10)}
	}
	if b.trial {
		return st, nil // rolled back by the deferred Rollback
	}
	if err := saveProgress(ctx, tx, key, last, st.rows); err != nil {
		return st, err
	}
	if err := tx.Commit(ctx); err != nil {
		return st, err
	}
	b.lastKey = last
	if nk == 0 {
		b.page = nextPage
	}
	return st, nil
}
