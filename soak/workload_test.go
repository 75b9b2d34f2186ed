package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// role is a client's policy role; each client has its own database user,
// so the audit records can be counted per client.
type role int

const (
	clinician role = iota // reads and writes everything in plaintext
	billing               // writes; reads the SSN masked
	reader                // reads only; its writes must be refused (42501)
)

var roleNames = [...]string{"clinician", "billing", "reader"}

func (r role) String() string { return roleNames[r] }

// roleOf: half the clients clinicians, a quarter billing, a quarter
// readers; the protocol alternates every four clients, so every role runs
// both.
func roleOf(i int) role {
	switch i % 4 {
	case 0, 1:
		return clinician
	case 2:
		return billing
	}
	return reader
}

func modeOf(i int) pgx.QueryExecMode {
	if (i/4)%2 == 0 {
		return pgx.QueryExecModeSimpleProtocol
	}
	return pgx.QueryExecModeCacheStatement
}

func modeName(m pgx.QueryExecMode) string {
	if m == pgx.QueryExecModeSimpleProtocol {
		return "simple"
	}
	return "extended"
}

var userPrefix = [...]string{"clin", "bill", "read"}

func userName(i int) string { return fmt.Sprintf("%s_%03d", userPrefix[roleOf(i)], i) }

// soakPolicy encrypts three columns (deterministic, randomized, a date)
// and binds every client user to its role, and the harness's probe user
// to clinician.
func soakPolicy(users []string) string {
	byRole := make([][]string, len(roleNames))
	byRole[clinician] = []string{probeUser}
	for i, u := range users {
		byRole[roleOf(i)] = append(byRole[roleOf(i)], u)
	}
	list := func(r role) string { return "[" + strings.Join(byRole[r], ", ") + "]" }
	return fmt.Sprintf(`version: 1
tables:
  public.patients:
    columns:
      ssn:       {mode: deterministic, key: soak-ssn, type: text}
      name:      {mode: randomized,    key: soak-pii, type: text}
      birthdate: {mode: randomized,    key: soak-pii, type: date}
roles:
  clinician:
    users: %s
    statements: [read, write, utility]
    other_columns: plaintext
  billing:
    users: %s
    statements: [read, write, utility]
    other_columns: plaintext
    columns:
      patients.ssn: {masked: '***-**-{last4}'}
  reader:
    users: %s
    statements: [read, utility]
    other_columns: plaintext
`, list(clinician), list(billing), list(reader))
}

// row is the PHI of one patient. It is a function of the id and the seed,
// so the checks need not keep what every client wrote.
type row struct{ ssn, name, birthdate string }

func rowFor(seed uint64, id int64) row {
	h := rand.New(rand.NewPCG(seed, uint64(id)))
	birth := time.Date(1920, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, h.IntN(36500))
	return row{
		ssn:       fmt.Sprintf("%03d-%02d-%04d", 1+h.IntN(899), 1+h.IntN(99), 1+h.IntN(9999)),
		name:      fmt.Sprintf("zq%012x", h.Uint64()&0xffffffffffff),
		birthdate: birth.Format(time.DateOnly),
	}
}

func masked(ssn string) string { return "***-**-" + ssn[len(ssn)-4:] }

// The statements the clients run. pgx sends the arguments as parameters
// in the extended protocol and inlines them as literals in the simple one.
const (
	insertSQL   = "INSERT INTO patients (id, ssn, name, birthdate, writer) VALUES ($1, $2, $3, $4, $5)"
	selectByID  = "SELECT ssn, name, birthdate FROM patients WHERE id = $1"
	selectBySSN = "SELECT id, name FROM patients WHERE ssn = $1"
)

// workload is the set of clients and what they have had acknowledged.
type workload struct {
	r       *rig
	p       params
	clients []*client
	acks    ackSet
}

func newWorkload(r *rig, p params) *workload {
	w := &workload{r: r, p: p}
	for i := 0; i < p.clients; i++ {
		w.clients = append(w.clients, newClient(w, i))
	}
	return w
}

// runFor runs every client until d has passed, or until during returns
// when it is not nil, then stops them and waits until each has closed its
// session.
func (w *workload) runFor(ctx context.Context, d time.Duration, during func()) {
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }() // also when during fails the test
	for _, c := range w.clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(runCtx) }()
	}
	if during != nil {
		during()
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ackSet holds every acknowledged id, for the readers.
type ackSet struct {
	mu  sync.RWMutex
	ids []int64
}

func (a *ackSet) add(ids ...int64) {
	a.mu.Lock()
	a.ids = append(a.ids, ids...)
	a.mu.Unlock()
}

func (a *ackSet) random(rng *rand.Rand) (int64, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.ids) == 0 {
		return 0, false
	}
	return a.ids[rng.IntN(len(a.ids))], true
}

func (a *ackSet) all() []int64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return append([]int64(nil), a.ids...)
}

// totals adds up every client's counters.
func (w *workload) totals() stats {
	t := newStats()
	for _, c := range w.clients {
		t.merge(&c.st)
	}
	return t
}

// stats are one client's counters (only its goroutine writes them), or
// their sum.
type stats struct {
	attempts, ok map[string]int64 // by statement kind: insert, select, transaction; and connect
	errors       map[string]int64 // by SQLSTATE, or a network class (doc.go)
	errSample    map[string]string
	acked        int64 // rows whose INSERT (or COMMIT) succeeded
	refused      int64 // reader writes refused with 42501 as they should be
	wrongReads   int64 // a read that did not return what was written
	wrongSample  string
	readerWrote  int64 // a reader's write that went through
	reconnects   int64
	lastOK       time.Time
}

func newStats() stats {
	return stats{attempts: map[string]int64{}, ok: map[string]int64{}, errors: map[string]int64{}, errSample: map[string]string{}}
}

func (s *stats) merge(o *stats) {
	for k, v := range o.attempts {
		s.attempts[k] += v
	}
	for k, v := range o.ok {
		s.ok[k] += v
	}
	for k, v := range o.errors {
		s.errors[k] += v
	}
	for k, v := range o.errSample {
		if _, ok := s.errSample[k]; !ok {
			s.errSample[k] = v
		}
	}
	s.acked += o.acked
	s.refused += o.refused
	s.wrongReads += o.wrongReads
	if s.wrongSample == "" {
		s.wrongSample = o.wrongSample
	}
	s.readerWrote += o.readerWrote
	s.reconnects += o.reconnects
	if o.lastOK.After(s.lastOK) {
		s.lastOK = o.lastOK
	}
}
