package backfill

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestDebugPhases(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.conn.Exec(ctx, "ALTER TABLE patients ALTER COLUMN birthdate TYPE text USING birthdate::text")
	tb, _ := describe(ctx, f.conn, f.pol.Tables()[0], nil)
	b, _ := newBatcher(tb, Options{Op: Encrypt, Keyring: f.keyring(t), Batch: 2000})
	prepareSession(ctx, f.conn)
	var sel, conv, upd, commit time.Duration
	var lo []string
	for {
		j, last, err := b.plan(ctx, f.conn, lo)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		tx, _ := f.conn.Begin(ctx)
		sql, args := b.pkSelect(j)
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		var raws [][][]byte
		for rows.Next() {
			r := rows.RawValues()
			cp := make([][]byte, len(r))
			for i := range r {
				cp[i] = append([]byte(nil), r[i]...)
			}
			raws = append(raws, cp)
		}
		rows.Close()
		t1 := time.Now()
		var ctids []string
		vals := make([][]string, 3)
		for _, r := range raws {
			ctids = append(ctids, string(r[0]))
			for i, cv := range b.convs {
				out, _ := cv.convert(r[2+i], false, "")
				vals[i] = append(vals[i], string(out))
			}
		}
		t2 := time.Now()
		_, err = tx.Exec(ctx, b.updateSQL([]bool{true, true, true}), ctids, vals[0], vals[1], vals[2])
		if err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		tx.Commit(ctx)
		t4 := time.Now()
		sel += t1.Sub(t0)
		conv += t2.Sub(t1)
		upd += t3.Sub(t2)
		commit += t4.Sub(t3)
		if last {
			break
		}
		lo = j.end()
	}
	t.Logf("select+lock %v, convert %v, update %v, commit %v", sel, conv, upd, commit)
	_ = pgx.Identifier{}
}
