package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// packStore is this process's view of the pack files of one subject
// directory: which tags they hold and where. Other processes (a second
// proxy, a backfill) append to the same files, so the index is only ever
// a prefix of the truth: a tag not found makes it read what was appended
// since (refresh) before the tag is reported missing.
//
// Writers take an exclusive flock(2) on <dir>/.lock around "refresh,
// check which tags exist, append, fsync", so no tag is ever created twice;
// a refresh takes the shared lock, so it never reads a record half
// written. flock locks belong to the open file, which all goroutines of
// this process share: mu serialises them before they reach the kernel.
type packStore struct {
	mu    sync.Mutex
	lock  *os.File
	files []*os.File // pack-000001, pack-000002, ...
	ends  []int64    // per pack: offset indexed up to (record-aligned)
	index map[string]packLoc
}

type packLoc struct {
	pack int
	off  int64
}

func packName(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("pack-%06d", i+1))
}

// withLock runs fn holding mu and the directory's flock. If create is
// false and the directory does not exist yet, fn is not run: there is
// nothing to read.
func (ps *packStore) withLock(dir string, exclusive, create bool, fn func() error) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.lock == nil {
		flags := os.O_RDWR
		if create {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("local: %w", err)
			}
			flags |= os.O_CREATE
		}
		f, err := os.OpenFile(filepath.Join(dir, ".lock"), flags, 0o600)
		if !create && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		ps.lock = f
		ps.index = make(map[string]packLoc)
	}
	unlock, err := flock(ps.lock, exclusive)
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// refresh indexes the records appended to the packs since the last call.
// The caller holds mu and the flock, so no record is being written: a
// record that fails its checksum is a torn write from a crash (its batch
// never returned) and is skipped for good.
func (ps *packStore) refresh(dir string) error {
	for i := 0; ; i++ {
		if i == len(ps.files) {
			f, err := os.OpenFile(packName(dir, i), os.O_RDWR, 0)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("local: %w", err)
			}
			ps.files = append(ps.files, f)
			ps.ends = append(ps.ends, 0)
		}
		f := ps.files[i]
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		size := st.Size() / packRecordSize * packRecordSize
		if ps.ends[i] == 0 {
			if size == 0 {
				continue // created, header not yet written: a crashed writer's
			}
			h := make([]byte, packRecordSize)
			if _, err := f.ReadAt(h, 0); err != nil {
				return fmt.Errorf("local: %s: %w", f.Name(), err)
			}
			if err := checkPackHeader(h); err != nil {
				return fmt.Errorf("local: %s: %w", f.Name(), err)
			}
			ps.ends[i] = packRecordSize
		}
		if size <= ps.ends[i] {
			continue
		}
		buf := make([]byte, size-ps.ends[i])
		if _, err := f.ReadAt(buf, ps.ends[i]); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("local: %s: %w", f.Name(), err)
		}
		for o := 0; o+packRecordSize <= len(buf); o += packRecordSize {
			rec, ok := decodeRecord(buf[o : o+packRecordSize])
			if !ok {
				continue
			}
			if _, dup := ps.index[rec.tag]; !dup {
				ps.index[rec.tag] = packLoc{pack: i, off: ps.ends[i] + int64(o)}
			}
		}
		ps.ends[i] = size
	}
}

// lookup returns where tag's record is, if indexed.
func (ps *packStore) lookup(tag string) (packLoc, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	loc, ok := ps.index[tag]
	return loc, ok
}

// read returns the record at loc. Pack files are never closed or
// replaced, so this needs no lock; a shred rewriting the record at the
// same moment can make it fail its checksum (ok false).
func (ps *packStore) read(loc packLoc, tag string) (packRecord, bool, error) {
	ps.mu.Lock()
	f := ps.files[loc.pack]
	ps.mu.Unlock()
	return readRecord(f, loc, tag)
}

// readLocked is read for a caller that holds mu.
func (ps *packStore) readLocked(loc packLoc, tag string) (packRecord, bool, error) {
	return readRecord(ps.files[loc.pack], loc, tag)
}

func readRecord(f *os.File, loc packLoc, tag string) (packRecord, bool, error) {
	b := make([]byte, packRecordSize)
	if _, err := f.ReadAt(b, loc.off); err != nil {
		return packRecord{}, false, fmt.Errorf("local: %s: %w", f.Name(), err)
	}
	rec, ok := decodeRecord(b)
	return rec, ok && rec.tag == tag, nil
}

// appendRecords writes recs at the end of the current pack (a new one
// when there is none or it is full) and fsyncs it. The caller holds mu,
// the exclusive flock, and has refreshed.
func (ps *packStore) appendRecords(dir string, recs []packRecord) error {
	buf := make([]byte, len(recs)*packRecordSize)
	for i, rec := range recs {
		if err := encodeRecord(buf[i*packRecordSize:], rec); err != nil {
			return err
		}
	}
	cur, fresh := len(ps.files)-1, false
	if cur < 0 || ps.ends[cur] >= packRecordSize*(packMaxRecords+1) {
		f, err := os.OpenFile(packName(dir, cur+1), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		ps.files = append(ps.files, f)
		ps.ends = append(ps.ends, 0)
		cur, fresh = cur+1, true
	}
	f := ps.files[cur]
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	// Past any torn tail: a partial record stays where it is, skipped by
	// its checksum, so readers that indexed up to it miss nothing.
	pos := (st.Size() + packRecordSize - 1) / packRecordSize * packRecordSize
	if pos == 0 {
		buf = append(packHeader(), buf...)
	}
	if _, err := f.WriteAt(buf, pos); err != nil {
		return fmt.Errorf("local: %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("local: %s: %w", f.Name(), err)
	}
	if fresh {
		syncDir(dir)
	}
	return ps.refresh(dir)
}

// rewrite overwrites the record at loc with rec and fsyncs: a shred. The
// caller holds mu and the exclusive flock.
func (ps *packStore) rewrite(loc packLoc, rec packRecord) error {
	b := make([]byte, packRecordSize)
	if err := encodeRecord(b, rec); err != nil {
		return err
	}
	f := ps.files[loc.pack]
	if _, err := f.WriteAt(b, loc.off); err != nil {
		return fmt.Errorf("local: %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("local: %s: %w", f.Name(), err)
	}
	return nil
}
