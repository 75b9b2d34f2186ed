package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// Subject keys live beside the keyring file, in the directory
// <file>.subjects/, keyed by subject tag (never by subject id). New keys
// and tombstones are records in pack files (pack_format.go), appended
// under an exclusive flock on <dir>/.lock; a shred overwrites the key's
// record in place with a tombstone (its wrapped bytes zeroed) and syncs.
//
// Stores written before packs hold one file per tag, which are still read
// and shredded as they were:
//
//	{"format": "phiguard-subject-key-v1", "wrapped": base64}     a key
//	{"format": "phiguard-subject-key-v1", "shredded": time}      a tombstone
//
// Creating a tag checks both, under the lock, so a tag is never created
// twice. Every process writing the directory must be of a version that
// takes the lock (an older one creates per-tag files unlocked).
//
// The wrapped key is sealed by the keyring's "subjects" data key, so the
// directory alone opens nothing. What a file system or SSD keeps of old
// blocks is outside phiguard's reach (docs/shredding.md).

const subjectFormat = "phiguard-subject-key-v1"

type subjectFile struct {
	Format   string     `json:"format"`
	Wrapped  []byte     `json:"wrapped,omitempty"`
	Shredded *time.Time `json:"shredded,omitempty"`
}

var _ keys.SubjectStore = (*Provider)(nil)

// SubjectDir is the directory holding the subject keys of the keyring
// file at path.
func SubjectDir(path string) string { return path + ".subjects" }

func (p *Provider) subjectPath(tag string) (string, error) {
	if _, ok := keys.SubjectTagOf(keys.SubjectKeyIDOf(tag)); !ok {
		return "", fmt.Errorf("local: %q is not a subject tag", tag)
	}
	return filepath.Join(SubjectDir(p.path), tag), nil
}

// GetSubjectKey implements keys.SubjectStore: the packs as far as this
// process has indexed them, then a per-tag file, then whatever the packs
// gained since.
func (p *Provider) GetSubjectKey(_ context.Context, tag string) ([]byte, error) {
	path, err := p.subjectPath(tag)
	if err != nil {
		return nil, err
	}
	if loc, ok := p.packs.lookup(tag); ok {
		return p.packedKey(loc, tag)
	}
	if w, err := readSubjectFile(path); !errors.Is(err, keys.ErrNoSubjectKey) {
		return w, err
	}
	dir := SubjectDir(p.path)
	if err := p.packs.withLock(dir, false, false, func() error { return p.packs.refresh(dir) }); err != nil {
		return nil, err
	}
	if loc, ok := p.packs.lookup(tag); ok {
		return p.packedKey(loc, tag)
	}
	return nil, fmt.Errorf("%w: %s", keys.ErrNoSubjectKey, tag)
}

// packedKey reads tag's record. One that fails its checksum is re-read
// under the shared lock (a shred may have been rewriting it); if it still
// fails, the key is damaged: an error, never "no key", so nothing
// creates a second key for the subject.
func (p *Provider) packedKey(loc packLoc, tag string) ([]byte, error) {
	rec, ok, err := p.packs.read(loc, tag)
	if err == nil && !ok {
		dir := SubjectDir(p.path)
		err = p.packs.withLock(dir, false, false, func() error {
			rec, ok, err = p.packs.readLocked(loc, tag)
			return err
		})
		if err == nil && !ok {
			err = fmt.Errorf("local: the pack record of subject key %s is damaged (checksum)", tag)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case rec.shredded:
		return nil, keys.ErrShredded
	}
	return rec.wrapped, nil
}

// readSubjectFile reads a per-tag file of a store written before packs.
func readSubjectFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, keys.ErrNoSubjectKey
	}
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	var f subjectFile
	if err := json.Unmarshal(raw, &f); err != nil || f.Format != subjectFormat {
		return nil, fmt.Errorf("local: subject key file %s is not a phiguard subject key", path)
	}
	if f.Shredded != nil {
		return nil, keys.ErrShredded
	}
	return f.Wrapped, nil
}

// CreateSubjectKey implements keys.SubjectStore: a batch of one.
func (p *Provider) CreateSubjectKey(ctx context.Context, tag string, wrapped []byte) error {
	conflicts, err := p.CreateSubjectKeys(ctx, map[string][]byte{tag: wrapped})
	if err != nil {
		return err
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("%w: subject key %s exists", keys.ErrConflict, tag)
	}
	return nil
}

var _ keys.SubjectBatchCreator = (*Provider)(nil)

// CreateSubjectKeys implements keys.SubjectBatchCreator: the backfill
// creates a key for every patient of a batch. Under the exclusive lock,
// the tags already in a pack or a per-tag file are left out (returned as
// conflicts) and the others appended to the current pack as one write and
// one fsync: a crash before the fsync returns leaves at most a torn tail
// that readers skip. One file per key instead cost about 120 µs of kernel
// time per key (BENCHMARKS.md).
func (p *Provider) CreateSubjectKeys(_ context.Context, wrapped map[string][]byte) ([]string, error) {
	paths := make(map[string]string, len(wrapped))
	for tag := range wrapped {
		path, err := p.subjectPath(tag)
		if err != nil {
			return nil, err
		}
		paths[tag] = path
	}
	if len(wrapped) == 0 {
		return nil, nil
	}
	dir := SubjectDir(p.path)
	var conflicts []string
	err := p.packs.withLock(dir, true, true, func() error {
		if err := p.packs.refresh(dir); err != nil {
			return err
		}
		recs := make([]packRecord, 0, len(wrapped))
		for tag, w := range wrapped {
			if _, ok := p.packs.index[tag]; ok {
				conflicts = append(conflicts, tag)
				continue
			}
			switch _, err := os.Lstat(paths[tag]); {
			case err == nil:
				conflicts = append(conflicts, tag)
				continue
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("local: %w", err)
			}
			recs = append(recs, packRecord{tag: tag, wrapped: w})
		}
		if len(recs) == 0 {
			return nil
		}
		return p.packs.appendRecords(dir, recs)
	})
	if err != nil {
		return nil, err
	}
	return conflicts, nil
}

// ShredSubjectKey implements keys.SubjectStore. Under the exclusive lock:
// a packed key's record is overwritten in place by a tombstone (flag
// shredded, wrapped bytes zero) and fsynced; a per-tag key file is zeroed,
// synced and replaced by a tombstone file as before; a subject with no
// key gets a tombstone record, so its key cannot be created later.
func (p *Provider) ShredSubjectKey(_ context.Context, tag string) (keys.ShredOutcome, error) {
	path, err := p.subjectPath(tag)
	if err != nil {
		return 0, err
	}
	dir := SubjectDir(p.path)
	var outcome keys.ShredOutcome
	err = p.packs.withLock(dir, true, true, func() error {
		if err := p.packs.refresh(dir); err != nil {
			return err
		}
		if loc, ok := p.packs.index[tag]; ok {
			rec, ok, err := p.packs.readLocked(loc, tag)
			switch {
			case err != nil:
				return err
			case ok && rec.shredded:
				outcome = keys.ShredAlready
				return nil
			}
			// A damaged record is shredded too: whatever it held goes.
			outcome = keys.ShredDestroyed
			return p.packs.rewrite(loc, packRecord{tag: tag, shredded: true})
		}
		switch _, err := readSubjectFile(path); {
		case errors.Is(err, keys.ErrShredded):
			outcome = keys.ShredAlready
			return nil
		case errors.Is(err, keys.ErrNoSubjectKey):
			outcome = keys.ShredNoKey
			return p.packs.appendRecords(dir, []packRecord{{tag: tag, shredded: true}})
		default:
			// A per-tag key file, or one that does not parse: destroy it.
			outcome = keys.ShredDestroyed
			return p.shredFile(path)
		}
	})
	if err != nil {
		return 0, err
	}
	return outcome, nil
}

// shredFile destroys a per-tag key file: zeroed and synced in place, then
// replaced by a tombstone file.
func (p *Provider) shredFile(path string) error {
	if err := zeroFile(path); err != nil {
		return err
	}
	now := p.now().UTC()
	data, err := json.Marshal(subjectFile{Format: subjectFormat, Shredded: &now})
	if err != nil {
		return err
	}
	tmp, err := p.writeTemp(data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// writeTemp writes data to a new synced 0600 file in the subject directory.
func (p *Provider) writeTemp(data []byte) (string, error) {
	dir := SubjectDir(p.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("local: %w", err)
	}
	return f.Name(), nil
}

// zeroFile overwrites a file's bytes with zeros and syncs it, so the
// wrapped key does not linger in the blocks the tombstone replaces (as far
// as the file system honours in-place writes).
func zeroFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if _, err := f.WriteAt(make([]byte, st.Size()), 0); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return f.Sync()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
