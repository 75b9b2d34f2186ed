package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// opTimeout bounds one statement or transaction; beyond it the client
// counts a timeout and reconnects.
const opTimeout = 15 * time.Second

// client is one application session: its own user, role and protocol.
// It keeps one connection and opens a new one after any error.
type client struct {
	w     *workload
	i     int
	user  string
	role  role
	mode  pgx.QueryExecMode
	rng   *rand.Rand
	seq   int64   // ids are i*1e9 + seq: unique without coordination
	acked []int64 // its own acknowledged ids
	conn  *pgx.Conn
	fails int // consecutive failures, for the backoff
	st    stats
}

func newClient(w *workload, i int) *client {
	return &client{w: w, i: i, user: userName(i), role: roleOf(i), mode: modeOf(i),
		rng: rand.New(rand.NewPCG(w.p.seed, uint64(i)+1)), st: newStats()}
}

func (c *client) run(ctx context.Context) {
	defer c.disconnect()
	for ctx.Err() == nil {
		if c.conn == nil && !c.connect(ctx) {
			c.backoff(ctx)
			continue
		}
		if err := c.step(ctx); err != nil {
			if ctx.Err() != nil {
				return // stopped mid-statement: neither a success nor a fault
			}
			c.fail(err)
			c.disconnect()
			c.backoff(ctx)
			continue
		}
		c.fails = 0
		c.st.lastOK = time.Now()
	}
}

func (c *client) connect(ctx context.Context) bool {
	cfg, err := pgx.ParseConfig(c.w.r.url(c.user))
	if err != nil {
		panic("BUG: client URL: " + err.Error())
	}
	cfg.DefaultQueryExecMode = c.mode
	c.st.attempts["connect"]++
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		if ctx.Err() == nil {
			c.record("connect "+errCode(err), err)
		}
		return false
	}
	c.st.ok["connect"]++
	if c.st.ok["connect"] > 1 {
		c.st.reconnects++
	}
	c.conn = conn
	return true
}

func (c *client) disconnect() {
	if c.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	c.conn.Close(ctx)
	cancel()
	c.conn = nil
}

func (c *client) backoff(ctx context.Context) {
	c.fails++
	d := min(time.Second, 50*time.Millisecond<<min(c.fails, 5))
	d = d/2 + time.Duration(c.rng.Int64N(int64(d)))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// step runs one operation, chosen by role with the client's seeded rng.
func (c *client) step(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n := c.rng.IntN(100)
	switch c.role {
	case clinician:
		switch {
		case n < 35 || len(c.acked) == 0:
			return c.insert(ctx)
		case n < 50:
			return c.insertTx(ctx)
		case n < 80:
			return c.readByID(ctx, c.acked[c.rng.IntN(len(c.acked))])
		default:
			return c.readBySSN(ctx)
		}
	case billing:
		if n < 40 || len(c.acked) == 0 {
			return c.insert(ctx)
		}
		return c.readByID(ctx, c.acked[c.rng.IntN(len(c.acked))])
	default:
		if n < 10 {
			return c.writeRefused(ctx)
		}
		id, ok := c.w.acks.random(c.rng)
		if !ok {
			return nil
		}
		return c.readByID(ctx, id)
	}
}

func (c *client) newID() int64 {
	c.seq++
	return int64(c.i)*1_000_000_000 + c.seq
}

func (c *client) exec(ctx context.Context, kind, sql string, args ...any) error {
	c.st.attempts[kind]++
	if _, err := c.conn.Exec(ctx, sql, args...); err != nil {
		return err
	}
	c.st.ok[kind]++
	return nil
}

func (c *client) insertRow(ctx context.Context, id int64) error {
	v := rowFor(c.w.p.seed, id)
	return c.exec(ctx, "insert", insertSQL, id, v.ssn, v.name, v.birthdate, c.user)
}

// insert writes one row in its own implicit transaction: acknowledged
// when the INSERT succeeds.
func (c *client) insert(ctx context.Context) error {
	id := c.newID()
	if err := c.insertRow(ctx, id); err != nil {
		return err
	}
	c.ack(id)
	return nil
}

// insertTx writes two rows in BEGIN ... COMMIT: acknowledged when the
// COMMIT succeeds.
func (c *client) insertTx(ctx context.Context) error {
	if err := c.exec(ctx, "transaction", "BEGIN"); err != nil {
		return err
	}
	ids := []int64{c.newID(), c.newID()}
	for _, id := range ids {
		if err := c.insertRow(ctx, id); err != nil {
			return err // the reconnect ends the transaction
		}
	}
	if err := c.exec(ctx, "transaction", "COMMIT"); err != nil {
		return err
	}
	c.ack(ids...)
	return nil
}

func (c *client) ack(ids ...int64) {
	c.acked = append(c.acked, ids...)
	c.st.acked += int64(len(ids))
	c.w.acks.add(ids...)
}

// readByID reads an acknowledged row and compares it with what was
// written: billing sees the SSN masked, the others in plaintext.
func (c *client) readByID(ctx context.Context, id int64) error {
	c.st.attempts["select"]++
	var got row
	var birth time.Time
	err := c.conn.QueryRow(ctx, selectByID, id).Scan(&got.ssn, &got.name, &birth)
	if errors.Is(err, pgx.ErrNoRows) {
		c.st.ok["select"]++
		c.wrong(fmt.Sprintf("acknowledged id %d not found (%s, %s)", id, c.role, modeName(c.mode)))
		return nil
	}
	if err != nil {
		return err
	}
	c.st.ok["select"]++
	got.birthdate = birth.Format(time.DateOnly)
	want := rowFor(c.w.p.seed, id)
	if c.role == billing {
		want.ssn = masked(want.ssn)
	}
	if got != want {
		c.wrong(fmt.Sprintf("id %d read as %s sees a row other than the one written (%s)", id, c.role, modeName(c.mode)))
	}
	return nil
}

// readBySSN finds an own row by its deterministic SSN.
func (c *client) readBySSN(ctx context.Context) error {
	id := c.acked[c.rng.IntN(len(c.acked))]
	want := rowFor(c.w.p.seed, id)
	c.st.attempts["select"]++
	rows, err := c.conn.Query(ctx, selectBySSN, want.ssn)
	if err != nil {
		return err
	}
	var ids []int64
	var names []string
	for rows.Next() {
		var got int64
		var name string
		if err := rows.Scan(&got, &name); err != nil {
			rows.Close()
			return err
		}
		ids, names = append(ids, got), append(names, name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.st.ok["select"]++
	if k := slices.Index(ids, id); k < 0 || names[k] != want.name {
		c.wrong(fmt.Sprintf("id %d not found by its SSN (%d rows, %s)", id, len(ids), modeName(c.mode)))
	}
	return nil
}

// writeRefused: a reader's INSERT must be refused by phiguard with 42501.
func (c *client) writeRefused(ctx context.Context) error {
	err := c.insertRow(ctx, c.newID())
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		c.st.readerWrote++
		return nil
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		c.st.refused++
		return nil
	}
	return err
}

func (c *client) wrong(what string) {
	c.st.wrongReads++
	if c.st.wrongSample == "" {
		c.st.wrongSample = what
	}
}

func (c *client) fail(err error) { c.record(errCode(err), err) }

func (c *client) record(code string, err error) {
	c.st.errors[code]++
	if _, ok := c.st.errSample[code]; !ok {
		c.st.errSample[code] = err.Error()
	}
}

// errCode names an error by its SQLSTATE, or by what happened to the
// connection when there was none.
func errCode(err error) string {
	var pgErr *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code
	case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}
