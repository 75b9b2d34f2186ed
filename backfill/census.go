package backfill

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/keys"
)

// census counts every column's cells by kind in one scan of the table.
func census(ctx context.Context, conn *pgx.Conn, t *table) (map[string]Census, error) {
	out, _, err := scan(ctx, conn, t, nil)
	return out, err
}

// scan counts cells and, given converters, the rows at least one of them
// would change.
func scan(ctx context.Context, conn *pgx.Conn, t *table, convs []*converter) (map[string]Census, int64, error) {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = c.ident + "::text"
	}
	rows, err := conn.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+t.ident)
	if err != nil {
		return nil, 0, fmt.Errorf("table %s: %w", t.name(), err)
	}
	defer rows.Close()
	cs := make([]Census, len(t.columns))
	var pending int64
	for rows.Next() {
		raw := rows.RawValues()
		needs := false
		for i, c := range t.columns {
			cs[i].classify(c.pol, raw[i], raw[i] == nil)
			if convs != nil && !needs && raw[i] != nil && convs[i].needs(raw[i]) {
				needs = true
			}
		}
		if needs {
			pending++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("table %s: %w", t.name(), err)
	}
	out := make(map[string]Census, len(cs))
	for i, c := range t.columns {
		out[c.pol.Name] = cs[i]
	}
	return out, pending, nil
}

// dryRun counts what a run would change and times one batch in a
// transaction it rolls back.
func dryRun(ctx context.Context, conn *pgx.Conn, t *table, o Options) (TableResult, error) {
	res := TableResult{Table: t.name()}
	if err := resolveLocales(ctx, conn, t, o); err != nil {
		return res, err
	}
	b, err := newBatcher(t, o)
	if err != nil {
		return res, err
	}
	b.trial = true
	for _, cv := range b.convs {
		if cv.perSubject && cv.op != Decrypt {
			// The timed batch seals under the column key: it must not create
			// subject keys in the store, which no rollback would remove.
			cv.sk = nil
		}
	}
	res.Census, res.Pending, err = scan(ctx, conn, t, b.convs)
	if err != nil {
		return res, err
	}
	for _, c := range t.columns {
		if !c.holdsCells() && o.Op != Decrypt {
			res.Converted = append(res.Converted, fmt.Sprintf("%s (%s)", c.pol.Name, c.dbType))
		}
	}
	var total int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+t.ident).Scan(&total); err != nil {
		return res, err
	}
	if err := b.start(ctx, conn, nil); err != nil {
		return res, err
	}
	start := time.Now()
	j, _, err := b.plan(ctx, conn, nil)
	if err != nil {
		return res, err
	}
	st, err := b.runBatch(ctx, conn, j)
	if err != nil {
		return res, fmt.Errorf("table %s: trial batch: %w", t.name(), err)
	}
	if el := time.Since(start); st.rows > 0 {
		res.Estimate = time.Duration(float64(el) * float64(total) / float64(st.rows))
	}
	res.Rows = total
	return res, nil
}

// needs tells whether convert would change v (v not NULL), or would if
// the row has a subject that was not shredded: seal it, or rewrite its
// terms.
func (c *converter) needs(v []byte) bool {
	if c.needsSeal(v) {
		return true
	}
	if !keys.IsCell(v) {
		return false
	}
	info, err := keys.Inspect(v)
	return err == nil && (info.KeyID == c.col.Key || isSubjectKey(info.KeyID)) && c.needsTerms(v)
}

// needsSeal tells whether convert would seal v anew (or, on Decrypt,
// open it).
func (c *converter) needsSeal(v []byte) bool {
	var cs Census
	cs.classify(c.col, v, false)
	switch c.op {
	case Decrypt:
		return cs.Plaintext == 0 && cs.OtherKey == 0
	case Encrypt:
		return cs.Plaintext == 1
	default:
		if c.perSubject { // plaintext and every column-key cell go to the subject key
			return cs.Plaintext == 1 || len(cs.Versions) > 0
		}
		return cs.Plaintext == 1 || cs.Versions[c.write] == 0 && cs.OtherKey == 0 && cs.Subject == 0
	}
}

// String writes a census as "plaintext 10, v1 5, v2 3, null 2".
func (c Census) String() string {
	parts := []string{fmt.Sprintf("plaintext %d", c.Plaintext)}
	vs := make([]uint32, 0, len(c.Versions))
	for v := range c.Versions {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("v%d %d", v, c.Versions[v]))
	}
	if c.Subject > 0 {
		parts = append(parts, fmt.Sprintf("subject keys %d", c.Subject))
	}
	if c.OtherKey > 0 {
		parts = append(parts, fmt.Sprintf("other key %d", c.OtherKey))
	}
	parts = append(parts, fmt.Sprintf("null %d", c.Null))
	if c.Terms != nil {
		parts = append(parts, c.Terms.String())
	}
	return strings.Join(parts, ", ")
}
