package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/phiguard/phiguard/keys"
)

// The chain alone cannot show records cut from the end of a log that is
// still open: what is left is a valid chain that merely stops early. A
// checkpoint is the chain head (seq and MAC of the last durable record)
// kept in a second place, so that a log ending before the checkpoint's
// seq, or holding a different record at that seq, fails verification.
// It is only as good as the separation of the two places: whoever can
// rewrite both (or holds the chain key) can rewind both together.

// Checkpoint is the chain head as the auditor last stored it.
type Checkpoint struct {
	Version    int    `json:"checkpoint"` // format version, 1
	Instance   string `json:"instance"`
	Seq        uint64 `json:"seq"`
	MAC        string `json:"mac"` // the record's MAC at Seq
	Time       string `json:"time"`
	KeyID      string `json:"key_id"` // the chain key the checkpoint is sealed with
	KeyVersion uint32 `json:"key_version"`
}

// CheckpointStore keeps the newest sealed checkpoint line. Store replaces
// what was there; Load returns nil when nothing was stored yet.
type CheckpointStore interface {
	Store(line []byte) error
	Load() ([]byte, error)
	// Where names the store in messages (a path, a table).
	Where() string
}

var cmacPrefix = []byte(`,"cmac":"`)

// checkpointMAC keys the checkpoint's MAC from the chain key under its own
// label, so a checkpoint's MAC can never stand in for a record's.
func checkpointMAC(chainKey keys.Secret) hash.Hash {
	raw := chainKey.Expose()
	defer clear(raw)
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("phiguard audit checkpoint v1"))
	return hmac.New(sha256.New, m.Sum(nil))
}

// sealCheckpoint encodes c as one line with its MAC ("cmac") last, over
// the bytes before it.
func sealCheckpoint(h hash.Hash, c Checkpoint) []byte {
	c.Version = 1
	b, _ := json.Marshal(c) // strings and integers only: cannot fail
	b = append(b[:len(b)-1], cmacPrefix...)
	mac := macOf(h, b[:len(b)-len(cmacPrefix)])
	return append(append(b, mac...), "\"}\n"...)
}

// errKeyNotHeld from a KeyFunc makes openCheckpoint skip the MAC check.
var errKeyNotHeld = errors.New("audit: key not held")

// badCheckpoint says a stored checkpoint is not one, or does not check:
// evidence of tampering, where other errors are failures to read.
type badCheckpoint string

func (b badCheckpoint) Error() string { return string(b) }

// openCheckpoint parses a stored line and checks its MAC with the chain
// key it names.
func openCheckpoint(key KeyFunc, line []byte) (Checkpoint, error) {
	var c Checkpoint
	line = bytes.TrimSpace(line)
	n := len(line)
	tail := len(cmacPrefix) + macLen + 2
	if n < tail || !bytes.Equal(line[n-tail:n-tail+len(cmacPrefix)], cmacPrefix) || json.Unmarshal(line, &c) != nil || c.Version != 1 || c.Seq == 0 {
		return c, badCheckpoint("not a phiguard audit checkpoint")
	}
	k, err := key(c.KeyID, c.KeyVersion)
	if errors.Is(err, errKeyNotHeld) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("key %q version %d: %w", c.KeyID, c.KeyVersion, err)
	}
	want := macOf(checkpointMAC(k), line[:n-tail])
	if !hmac.Equal([]byte(want), line[n-macLen-2:n-2]) {
		return c, badCheckpoint("its MAC does not check: it was altered or sealed with another key")
	}
	return c, nil
}

// LoadCheckpoint reads and checks the checkpoint in s; nil when s holds none.
func LoadCheckpoint(key KeyFunc, s CheckpointStore) (*Checkpoint, error) {
	line, err := s.Load()
	if err != nil || line == nil {
		return nil, err
	}
	c, err := openCheckpoint(key, line)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint %s: %w", s.Where(), err)
	}
	return &c, nil
}

// describe is how messages name a checkpoint.
func (c *Checkpoint) describe(where string) string {
	return fmt.Sprintf("the checkpoint %s records seq %d at %s", where, c.Seq, c.Time)
}

// checkResume refuses to continue a chain whose log ends before the
// checkpoint: the next records would take the missing seqs and, once
// checkpointed, hide the gap for good.
//
// The auditor holds only its current key: a checkpoint sealed under the
// key this restart rotated away from is compared by seq without its MAC
// (verify checks it with every key).
func checkResume(s CheckpointStore, k MACKey, t Tail) error {
	c, err := LoadCheckpoint(func(id string, v uint32) (keys.Secret, error) {
		if id != k.ID || v != k.Version {
			return keys.Secret{}, errKeyNotHeld
		}
		return k.Secret, nil
	}, s)
	switch {
	case err != nil:
		return fmt.Errorf("%w; move it away (keep it as evidence) to start a new checkpoint", err)
	case c == nil:
		return nil
	case c.Seq > t.Seq:
		return fmt.Errorf("audit: the log ends at seq %d but %s: %s removed from its end (or lost in a host crash with audit.fsync none); keep both as evidence, and move the checkpoint away to start",
			t.Seq, c.describe(s.Where()), seqRange(t.Seq+1, c.Seq))
	case c.Seq == t.Seq && c.MAC != t.MAC:
		return fmt.Errorf("audit: the last record of the log (seq %d) is not the one %s: the log was rewritten; keep both as evidence, and move the checkpoint away to start",
			t.Seq, c.describe(s.Where()))
	}
	return nil
}

// FileCheckpoint stores the checkpoint in a file of its own, replaced
// atomically (write a temporary file, fsync, rename). Put it where the
// log's owner cannot write: another volume, host or account.
type FileCheckpoint struct{ Path string }

// Where implements CheckpointStore.
func (f FileCheckpoint) Where() string { return f.Path }

// Load implements CheckpointStore.
func (f FileCheckpoint) Load() ([]byte, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	return b, nil
}

// Store implements CheckpointStore. A host crash may leave the previous
// checkpoint in place (the rename is not synced), never a torn one.
func (f FileCheckpoint) Store(line []byte) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	tmp := f.Path + ".tmp"
	w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	_, err = w.Write(line)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.Path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	return nil
}
