package backfill

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/phiguard/phiguard/keys"
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

	sel string // ctid mode: the batch query; pk mode: built per job

	// ctid mode: pages [page, page+pagesPer) per batch, up to pages.
	page, pages, pagesPer int64
}

// job is one batch: in pk mode the keys in (lo, hi] (lo nil: from the
// first row; hi nil: to the last), in ctid mode the pages [p0, p1).
type job struct {
	seq    int
	lo, hi []string
	p0, p1 int64
}

// end is the resume point after the job.
func (j job) end() []string {
	if j.hi != nil {
		return j.hi
	}
	if j.p1 > 0 {
		return []string{strconv.FormatInt(j.p1, 10)}
	}
	return j.lo
}

type batchStats struct {
	rows, changed, cells int64
	// noSubject and shredded count cells skipped (or, for noSubject, kept
	// under the column key) for those reasons; see skip.
	noSubject, shredded int64
}

func newBatcher(t *table, o Options) (*batcher, error) {
	b := &batcher{t: t, batch: o.Batch, writes: map[string]uint32{}}
	for _, c := range t.columns {
		cv, err := newConverter(o.Op, c.pol, o.Keyring, o.Subjects, c.loc)
		if err != nil {
			return nil, err
		}
		cv.rebuild, cv.marker = o.RebuildTerms, o.ShreddedMarker
		b.convs = append(b.convs, cv)
		b.writes[c.pol.Key] = cv.write
	}
	if len(t.pk) == 0 {
		cols := make([]string, len(t.columns))
		for i, c := range t.columns {
			cols[i] = fmt.Sprintf("t.%s::text AS v%d", c.ident, i)
		}
		if t.subject != "" {
			cols = append(cols, "t."+t.subject+"::text AS s")
		}
		b.sel = "SELECT t.ctid::text AS ctid, " + strings.Join(cols, ", ") + " FROM " + t.ident + " AS t" +
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
		if cv.perSubject {
			parts[i] += "+subject"
		}
		if cv.op != Decrypt && cv.col.Search != 0 {
			parts[i] += fmt.Sprintf("+terms:%s@%d", strings.ReplaceAll(cv.col.Search.String(), ", ", "/"), cv.col.SearchKeyVersion)
		}
		if cv.rebuild {
			parts[i] += "+rebuild"
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

// start reads what ctid mode needs (the table's pages) and the resume point.
func (b *batcher) start(ctx context.Context, conn *pgx.Conn, last []string) error {
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

// pkSelect is the batch query of a pk-mode job. Output columns get
// aliases of their own and the key is qualified, so that ORDER BY names the
// table's column, not the text output.
func (b *batcher) pkSelect(j job) (string, []any) {
	t := b.t
	out := []string{"t.ctid::text AS ctid"}
	for i, k := range t.pk {
		out = append(out, fmt.Sprintf("t.%s::text AS k%d", k.ident, i))
	}
	for i, c := range t.columns {
		out = append(out, fmt.Sprintf("t.%s::text AS v%d", c.ident, i))
	}
	if t.subject != "" {
		out = append(out, "t."+t.subject+"::text AS s")
	}
	var where []string
	var args []any
	bound := func(op string, key []string) {
		ps := make([]string, len(t.pk))
		for i, k := range t.pk {
			args = append(args, key[i])
			ps[i] = fmt.Sprintf("$%d::%s", len(args), k.typ)
		}
		where = append(where, "("+t.keyList("t.")+") "+op+" ("+strings.Join(ps, ", ")+")")
	}
	if j.lo != nil {
		bound(">", j.lo)
	}
	if j.hi != nil {
		bound("<=", j.hi)
	}
	sql := "SELECT " + strings.Join(out, ", ") + " FROM " + t.ident + " AS t"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	return sql + " ORDER BY " + t.keyList("t.") + " FOR UPDATE", args
}

// plan returns the job that follows lo, and whether it is the last one.
// In pk mode it looks up the key batch rows further on; when fewer remain
// the job is open-ended, so rows inserted meanwhile (through phiguard,
// already encrypted) are passed over quickly.
func (b *batcher) plan(ctx context.Context, conn *pgx.Conn, lo []string) (job, bool, error) {
	if len(b.t.pk) == 0 {
		p0 := b.page
		if len(lo) == 1 {
			p0, _ = strconv.ParseInt(lo[0], 10, 64)
		}
		j := job{p0: p0, p1: p0 + b.pagesPer}
		return j, j.p1 >= b.pages, nil
	}
	keys := make([]string, len(b.t.pk))
	for i, k := range b.t.pk {
		keys[i] = fmt.Sprintf("t.%s::text AS k%d", k.ident, i)
	}
	var args []any
	sql := "SELECT " + strings.Join(keys, ", ") + " FROM " + b.t.ident + " AS t"
	if lo != nil {
		ps := make([]string, len(b.t.pk))
		for i, k := range b.t.pk {
			ps[i] = fmt.Sprintf("$%d::%s", i+1, k.typ)
			args = append(args, lo[i])
		}
		sql += " WHERE (" + b.t.keyList("t.") + ") > (" + strings.Join(ps, ", ") + ")"
	}
	sql += fmt.Sprintf(" ORDER BY %s LIMIT 1 OFFSET %d", b.t.keyList("t."), b.batch-1)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return job{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return job{lo: lo}, true, rows.Err()
	}
	hi := make([]string, len(b.t.pk))
	for i, v := range rows.RawValues() {
		hi[i] = string(v)
	}
	return job{lo: lo, hi: hi}, false, rows.Err()
}

// runWithRetry runs one job, retrying it when an application's
// transaction deadlocked with it or held a row lock too long.
func (b *batcher) runWithRetry(ctx context.Context, conn *pgx.Conn, j job) (batchStats, error) {
	for attempt := 1; ; attempt++ {
		st, err := b.runBatch(ctx, conn, j)
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

// runBatch locks, converts and writes one job's rows in one transaction.
// On a dry run's trial it writes but does not commit.
func (b *batcher) runBatch(ctx context.Context, conn *pgx.Conn, j job) (batchStats, error) {
	var st batchStats
	tx, err := conn.Begin(ctx)
	if err != nil {
		return st, err
	}
	defer tx.Rollback(context.Background())

	var rows pgx.Rows
	if len(b.t.pk) == 0 {
		rows, err = tx.Query(ctx, b.sel, j.p0, j.p1)
	} else {
		sql, args := b.pkSelect(j)
		rows, err = tx.Query(ctx, sql, args...)
	}
	if err != nil {
		return st, err
	}
	batch, err := b.readRows(rows)
	if err != nil {
		return st, err
	}
	st.rows = int64(len(batch))
	if err := b.prepareSubjects(ctx, batch); err != nil {
		return st, err
	}
	ctids := []string{}
	vals := make([][]pgtype.Text, len(b.convs))
	for _, r := range batch {
		changed := false
		for i, cv := range b.convs {
			in := cellIn{v: r.vals[i], ctid: r.ctid}
			if cv.perSubject {
				in.subject = r.subject
			}
			out, why, err := cv.convert(ctx, in)
			if err != nil {
				return st, err
			}
			switch why {
			case skipNoSubject:
				st.noSubject++
			case skipShredded:
				st.shredded++
			}
			if out != nil {
				changed = true
			}
			vals[i] = append(vals[i], pgtype.Text{String: string(out), Valid: out != nil})
		}
		if changed {
			ctids = append(ctids, r.ctid)
			st.changed++
		} else {
			for i := range vals {
				vals[i] = vals[i][:len(vals[i])-1]
			}
		}
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
	if b.trial {
		return st, nil // rolled back by the deferred Rollback
	}
	return st, tx.Commit(ctx)
}

// batchRow is one locked row of a batch, its values copied out of the
// driver's buffer.
type batchRow struct {
	ctid    string
	vals    [][]byte // the protected columns', in b.convs order; nil for NULL
	subject []byte   // the subject column's text; nil when NULL or not read
}

// readRows reads a batch's rows into memory, so that the subject keys the
// batch needs can be fetched together before any cell is sealed.
func (b *batcher) readRows(rows pgx.Rows) ([]batchRow, error) {
	defer rows.Close()
	nk := len(b.t.pk)
	var out []batchRow
	for rows.Next() {
		raw := rows.RawValues()
		r := batchRow{ctid: string(raw[0]), vals: make([][]byte, len(b.convs))}
		for i := range b.convs {
			if v := raw[1+nk+i]; v != nil {
				r.vals[i] = append([]byte{}, v...)
			}
		}
		if b.t.subject != "" {
			if v := raw[1+nk+len(b.convs)]; v != nil {
				r.subject = append([]byte{}, v...)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// subjectParallel is how many subject keys a batch fetches or creates at
// once: the store's latency (fsyncs, HTTP round trips), not CPU, bounds it.
const subjectParallel = 16

// prepareSubjects loads, creating where missing, the keys of the subjects
// whose cells this batch will seal, concurrently (keys.SubjectKeys.Prepare)
// rather than one store request per new subject in turn.
func (b *batcher) prepareSubjects(ctx context.Context, batch []batchRow) error {
	if b.t.subject == "" || b.op() == Decrypt {
		return nil
	}
	var sk *keys.SubjectKeys
	for _, cv := range b.convs {
		if cv.perSubject && cv.sk != nil {
			sk = cv.sk
		}
	}
	if sk == nil {
		return nil
	}
	var subjects []string
	for _, r := range batch {
		if r.subject == nil {
			continue
		}
		for i, cv := range b.convs {
			// Cells to seal, and subject cells whose terms are rewritten
			// (opened with their key: a shredded one is cached as such).
			if cv.perSubject && r.vals[i] != nil && cv.needs(r.vals[i]) {
				subjects = append(subjects, string(r.subject))
				break
			}
		}
	}
	if err := sk.Prepare(ctx, subjects, subjectParallel); err != nil {
		return fmt.Errorf("subject keys: %w", err)
	}
	return nil
}

func (b *batcher) op() Op {
	if len(b.convs) == 0 {
		return 0
	}
	return b.convs[0].op
}
