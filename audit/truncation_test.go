package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// openLog starts an auditor on a file sink in dir with a file checkpoint
// next to it, records n statements and waits until they are written and
// checkpointed. The auditor stays open: the log has no audit_stop.
func openLog(t *testing.T, dir string, key MACKey, n int, mod func(*Options)) (*Auditor, FileCheckpoint) {
	t.Helper()
	cp := FileCheckpoint{Path: filepath.Join(dir, "audit.checkpoint")}
	a := openFile(t, dir, key, 1<<30, func(o *Options) {
		o.Checkpoint = cp
		if mod != nil {
			mod(o)
		}
	})
	t.Cleanup(func() { a.Close(t.Context()) })
	for i := range n {
		if err := a.Record(stmt(t, "SELECT ssn FROM patients WHERE id = 7", int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitCheckpoint(t, a, uint64(n+1))
	return a, cp
}

func waitCheckpoint(t *testing.T, a *Auditor, seq uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); a.Checkpointed() < seq; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint at seq %d, want %d", a.Checkpointed(), seq)
		}
	}
}

// dropLast removes the last n records of the newest file at a record
// boundary, as anyone who can write the audit directory can.
func dropLast(t *testing.T, dir string, n int) {
	t.Helper()
	fs := files(t, dir)
	ls := fileLines(t, fs[len(fs)-1])
	writeLines(t, fs[len(fs)-1], ls[:len(ls)-n])
}

func verifyCP(t *testing.T, key MACKey, cp CheckpointStore, fs ...string) VerifyResult {
	t.Helper()
	r, err := VerifyCheckpoint(StaticKey(key.Secret), cp, fs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenLogTailTruncationDetected(t *testing.T) {
	key := testKey(t)
	for _, cut := range []int{1, 300} {
		dir := t.TempDir()
		_, cp := openLog(t, dir, key, 400, nil)
		fs := files(t, dir)
		r := verifyCP(t, key, cp, fs...)
		if !r.OK() || r.Ended || r.Records != 401 || r.Checkpoint == nil || r.Checkpoint.Seq != 401 {
			t.Fatalf("healthy open log: %+v %v", r, r.Problem)
		}
		dropLast(t, dir, cut)
		// The chain alone cannot tell: what is left is a valid chain.
		if r := verify(t, key, fs...); !r.OK() || r.LastSeq != uint64(401-cut) {
			t.Fatalf("cut %d, chain only: %+v", cut, r)
		}
		r = verifyCP(t, key, cp, fs...)
		p := r.Problem
		if p == nil || p.Kind != Truncated || p.File != fs[0] || p.Line != 402-cut || p.Seq != uint64(402-cut) {
			t.Fatalf("cut %d: got %+v, %v", cut, r, p)
		}
		want := "seq 401 at "
		if !strings.Contains(p.Detail, want) || !strings.Contains(p.Detail, cp.Path) {
			t.Errorf("cut %d: the problem does not name the checkpointed seq and where it is: %v", cut, p)
		}
		t.Logf("cut %d: %v", cut, p)
	}
}

func TestCheckpointMismatchAndTamper(t *testing.T) {
	key := testKey(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	_, cpA := openLog(t, dirA, key, 10, nil)
	_, cpB := openLog(t, dirB, key, 10, nil)
	// Another log's checkpoint: the record at its seq is not the one it names.
	r := verifyCP(t, key, cpB, files(t, dirA)...)
	if p := r.Problem; p == nil || p.Kind != Altered || p.Seq != 11 || p.Line != 11 || !strings.Contains(p.Detail, "another log") {
		t.Errorf("a foreign checkpoint: %+v %v", r, r.Problem)
	}
	// A checkpoint edited to an earlier seq (to hide a cut) no longer checks.
	raw, _ := os.ReadFile(cpA.Path)
	os.WriteFile(cpA.Path, []byte(strings.Replace(string(raw), `"seq":11`, `"seq":5`, 1)), 0o600)
	r = verifyCP(t, key, cpA, files(t, dirA)...)
	if p := r.Problem; p == nil || p.Kind != Altered || p.File != cpA.Path || !strings.Contains(p.Detail, "MAC does not check") {
		t.Errorf("an edited checkpoint: %+v %v", r, r.Problem)
	}
	// Under another key it does not check either.
	os.WriteFile(cpA.Path, raw, 0o600)
	if r := verifyCP(t, testKey(t), cpA, files(t, dirA)...); r.OK() {
		t.Error("a checkpoint verified under the wrong key")
	}
	// An empty store: nothing to compare with; the caller decides.
	if r := verifyCP(t, key, FileCheckpoint{Path: filepath.Join(dirA, "none")}, files(t, dirA)...); !r.OK() || r.Checkpoint != nil {
		t.Errorf("no checkpoint: %+v", r)
	}
	// Files that begin after the checkpoint's seq (older ones archived,
	// --partial) cannot be compared with it, and need not be.
	old := FileCheckpoint{Path: filepath.Join(t.TempDir(), "cp")}
	old.Store(sealCheckpoint(checkpointMAC(key.Secret), Checkpoint{Seq: 2, MAC: "x", KeyID: key.ID, KeyVersion: key.Version}))
	tail := filepath.Join(t.TempDir(), "audit-00000000000000000005.jsonl")
	writeLines(t, tail, fileLines(t, files(t, dirA)[0])[4:])
	if r := verifyCP(t, key, old, tail); !r.OK() || r.FirstSeq != 5 || r.Checkpoint.Seq != 2 {
		t.Errorf("checkpoint at seq 2, files from seq 5: %+v %v", r, r.Problem)
	}
	if r := verifyCP(t, key, old, files(t, dirA)...); r.OK() {
		t.Error("a checkpoint naming another record at seq 2 went unnoticed")
	}
}

func TestRestartRefusedAfterTruncation(t *testing.T) {
	key := testKey(t)
	dir := t.TempDir()
	a, cp := openLog(t, dir, key, 20, nil)
	closeA(t, a)
	if got := a.Checkpointed(); got != 22 {
		t.Fatalf("checkpoint after a clean close at seq %d, want 22 (the audit_stop)", got)
	}
	// A clean restart continues the chain and the checkpoint.
	a, _ = openLog(t, dir, key, 5, nil)
	waitCheckpoint(t, a, 28)
	closeA(t, a)
	if r := verifyCP(t, key, cp, files(t, dir)...); !r.OK() || !r.Ended || r.Checkpoint.Seq != 29 {
		t.Fatalf("after a restart: %+v %v", r, r.Problem)
	}
	// A restart under a rotated key compares the seq of a checkpoint
	// sealed under the old one, and seals the next under the new one.
	k2 := testKey(t)
	k2.Version = 2
	a, _ = openLog(t, dir, k2, 1, func(o *Options) { o.Key = k2 })
	closeA(t, a)
	both := func(id string, v uint32) (keys.Secret, error) { return map[uint32]MACKey{1: key, 2: k2}[v].Secret, nil }
	if r, err := VerifyCheckpoint(both, cp, files(t, dir)...); err != nil || !r.OK() || r.Checkpoint.Seq != 32 || r.Checkpoint.KeyVersion != 2 {
		t.Fatalf("after a key rotation: %+v %v %v", r, r.Problem, err)
	}
	// Cut while the proxy was down: a restart would give the missing seqs
	// to new records and hide the cut, so it is refused.
	dropLast(t, dir, 3)
	_, err := New(Options{Key: key, Sink: NewFileSink(FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 1 << 30}), Checkpoint: cp})
	if err == nil || !strings.Contains(err.Error(), "the log ends at seq 29 but the checkpoint "+cp.Path+" records seq 32") {
		t.Fatalf("restart after a cut: %v", err)
	}
	// So is a checkpoint that does not check.
	os.WriteFile(cp.Path, []byte("{}\n"), 0o600)
	_, err = New(Options{Key: key, Sink: NewFileSink(FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 1 << 30}), Checkpoint: cp})
	if err == nil || !strings.Contains(err.Error(), "not a phiguard audit checkpoint; move it away") {
		t.Fatalf("restart with a bad checkpoint: %v", err)
	}
}

func TestCheckpointWaitsForSync(t *testing.T) {
	key := testKey(t)
	dir := t.TempDir()
	cp := FileCheckpoint{Path: filepath.Join(dir, "audit.checkpoint")}
	a := openFile(t, dir, key, 1<<30, func(o *Options) { o.Checkpoint, o.SyncInterval = cp, time.Hour })
	for range 5 {
		a.Record(stmt(t, "SELECT 1", 1))
	}
	for deadline := time.Now().Add(5 * time.Second); strings.Count(string(readAll(t, files(t, dir))), "\n") < 6; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not written")
		}
	}
	if got := a.Checkpointed(); got != 0 {
		t.Errorf("with fsync interval the checkpoint named seq %d before any sync", got)
	}
	closeA(t, a)
	if got := a.Checkpointed(); got != 7 {
		t.Errorf("after close: checkpoint at %d, want 7", got)
	}
}

// failingStore fails while fail is set.
type failingStore struct {
	FileCheckpoint
	fail atomic.Bool
}

func (f *failingStore) Store(line []byte) error {
	if f.fail.Load() {
		return errors.New("disk gone")
	}
	return f.FileCheckpoint.Store(line)
}

func TestCheckpointFailureIsRetried(t *testing.T) {
	key := testKey(t)
	dir := t.TempDir()
	st := &failingStore{FileCheckpoint: FileCheckpoint{Path: filepath.Join(dir, "audit.checkpoint")}}
	st.fail.Store(true)
	a := openFile(t, dir, key, 1<<30, func(o *Options) { o.Checkpoint = st })
	for range 5 {
		if err := a.Record(stmt(t, "SELECT 1", 1)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(a.m.checkpointErrors) < 2; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no retries counted")
		}
	}
	if a.Checkpointed() != 0 || a.Healthy() != nil {
		t.Fatalf("failing checkpoint: checkpointed %d, healthy %v (records must still be accepted)", a.Checkpointed(), a.Healthy())
	}
	st.fail.Store(false)
	waitCheckpoint(t, a, 6)
	closeA(t, a)
	if r := verifyCP(t, key, st, files(t, dir)...); !r.OK() || r.Checkpoint.Seq != 7 {
		t.Errorf("after recovery: %+v %v", r, r.Problem)
	}
}

// Verifying a log while the proxy writes and rotates it: the files are
// listed after the checkpoint is read, so the checkpoint never names a
// record in a file the listing lacks. list here makes the race certain:
// before returning its listing it waits until the writer has rotated to
// a newer file and checkpointed a record there.
func TestVerifyCheckpointWhileWriting(t *testing.T) {
	key := testKey(t)
	dir := t.TempDir()
	cp := FileCheckpoint{Path: filepath.Join(dir, "audit.checkpoint")}
	a := openFile(t, dir, key, 2000, func(o *Options) { o.Checkpoint, o.BatchDelay = cp, -1 })
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
				a.Record(stmt(t, "SELECT 1", 1))
			}
		}
	}()
	waitCheckpoint(t, a, 10)
	list := func() ([]string, error) {
		fs, err := Files(dir, "audit")
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			now := files(t, dir)
			first, _, _ := parseName(filepath.Base(now[len(now)-1]), "audit")
			if len(now) > len(fs)+1 && a.Checkpointed() >= first {
				break
			}
		}
		return fs, err
	}
	for range 3 {
		r, err := VerifyCheckpointListed(StaticKey(key.Secret), cp, list)
		if err != nil {
			t.Fatal(err)
		}
		if p := r.Problem; p != nil && strings.Contains(p.Detail, "removed from its end") {
			t.Fatalf("a live log reported cut: %v", p)
		}
	}
	close(stop)
	<-done
	closeA(t, a)
	if r := verifyCP(t, key, cp, files(t, dir)...); !r.OK() || !r.Ended || r.Checkpoint.Seq != r.LastSeq {
		t.Fatalf("after close: %+v %v", r, r.Problem)
	}
}
