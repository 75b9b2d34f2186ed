package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FileOptions configure a FileSink.
type FileOptions struct {
	Dir    string
	Prefix string // file names are <Prefix>-<first seq, 20 digits>.jsonl
	// MaxBytes rotates to a new file before a write would take the current
	// one past it (a single record larger than MaxBytes gets a file of its
	// own).
	MaxBytes int64
	// SyncEachWrite fsyncs after every Write (the auditor writes in
	// batches, so one fsync carries every record queued meanwhile).
	// Otherwise durability comes from the auditor's periodic Sync.
	SyncEachWrite bool
}

// FileSink appends records to size-rotated files in one directory, 0600 in
// a 0700 directory. It never rewrites a complete record: on a failed write
// it truncates the file back to the end of the last whole record (and if
// even that fails, it continues in a new file), and on start it cuts off
// a torn last record left by a crash, reporting its size in Tail.
//
// A chain (directory and prefix) has one writer: Resume takes the lock
// file <Dir>/<Prefix>.lock (flock) until Close, and fails with
// ErrChainInUse, naming the holder's pid and host, while another sink
// holds it. Resume also refuses a directory it cannot create, write and
// fsync a file in.
type FileSink struct {
	o    FileOptions
	lock *chainLock
	f    *os.File
	name string
	size int64 // bytes of whole records in f
	buf  []byte
}

// NewFileSink returns a sink; nothing is opened until Resume.
func NewFileSink(o FileOptions) *FileSink { return &FileSink{o: o} }

// Resume implements Sink: it creates the directory if needed, takes the
// chain's lock, checks that the directory is writable and finds the newest
// file's last record. On error it holds nothing.
func (s *FileSink) Resume() (Tail, error) {
	if err := os.MkdirAll(s.o.Dir, 0o700); err != nil {
		return Tail{}, fmt.Errorf("audit: create %s: %w", s.o.Dir, err)
	}
	lock, err := lockChain(s.o.Dir, s.o.Prefix)
	if err != nil {
		return Tail{}, err
	}
	if err := probeWritable(s.o.Dir, s.o.Prefix); err != nil {
		lock.release()
		return Tail{}, err
	}
	t, err := s.resume()
	if err != nil {
		lock.release()
		return Tail{}, err
	}
	s.lock = lock
	return t, nil
}

// resume finds the newest file's last record and keeps that file open for
// appending when it has room.
func (s *FileSink) resume() (Tail, error) {
	files, err := Files(s.o.Dir, s.o.Prefix)
	if err != nil {
		return Tail{}, err
	}
	var t Tail
	for i := len(files) - 1; i >= 0; i-- {
		f, err := os.OpenFile(files[i], os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return Tail{}, fmt.Errorf("audit: open %s: %w", files[i], err)
		}
		last, end, torn, err := lastLine(f)
		if err == nil && torn > 0 {
			err = f.Truncate(end)
			t.TornBytes += torn
		}
		if err != nil {
			f.Close()
			return Tail{}, fmt.Errorf("audit: %s: %w", files[i], err)
		}
		if last == nil { // empty file: look at the one before
			f.Close()
			continue
		}
		t.Seq, t.MAC, err = parseTail(last)
		if err != nil {
			f.Close()
			return Tail{}, fmt.Errorf("audit: %s: %w; move the file away to start a new chain", files[i], err)
		}
		t.File = files[i]
		if end < s.o.MaxBytes {
			s.f, s.name, s.size = f, files[i], end
		} else {
			f.Close()
		}
		break
	}
	return t, nil
}

// lastLine returns the last complete line of f, the offset just past it,
// and how many bytes follow it without a newline.
func lastLine(f *os.File) (line []byte, end, torn int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, 0, err
	}
	size := fi.Size()
	const chunk = 64 << 10
	var tail []byte
	for off := size; off > 0; {
		n := min(chunk, off)
		off -= n
		b := make([]byte, n, int(n)+len(tail))
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			return nil, 0, 0, err
		}
		tail = append(b, tail...)
		// Find the newline that ends the last complete line, then the one before it.
		i := bytes.LastIndexByte(tail, '\n')
		if i < 0 {
			continue
		}
		end = off + int64(i) + 1
		j := bytes.LastIndexByte(tail[:i], '\n')
		if j < 0 && off > 0 {
			continue
		}
		return tail[j+1 : i], end, size - end, nil
	}
	return nil, 0, size, nil // no complete line at all
}

// Write implements Sink.
func (s *FileSink) Write(lines []Line) (int, error) {
	done := 0
	for done < len(lines) {
		if s.f == nil || (s.size > 0 && s.size+int64(len(lines[done].B)) > s.o.MaxBytes) {
			if err := s.rotate(lines[done].Seq); err != nil {
				return done, err
			}
		}
		// Take as many lines as fit in this file.
		s.buf = s.buf[:0]
		n := done
		for n < len(lines) && (n == done || s.size+int64(len(s.buf)+len(lines[n].B)) <= s.o.MaxBytes) {
			s.buf = append(s.buf, lines[n].B...)
			n++
		}
		if _, err := s.f.Write(s.buf); err != nil {
			s.takeBack()
			return done, fmt.Errorf("audit: write %s: %w", s.name, err)
		}
		s.size += int64(len(s.buf))
		done = n
	}
	if s.o.SyncEachWrite {
		if err := s.Sync(); err != nil {
			return done, err
		}
	}
	return done, nil
}

// takeBack removes a partial write; if it cannot, the next write goes to
// a new file and verify will show the torn line in this one.
func (s *FileSink) takeBack() {
	if err := s.f.Truncate(s.size); err != nil {
		s.f.Close()
		s.f = nil
	}
}

func (s *FileSink) rotate(firstSeq uint64) error {
	if s.f != nil {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit: sync %s: %w", s.name, err)
		}
		s.f.Close()
		s.f = nil
	}
	base := fmt.Sprintf("%s-%020d", s.o.Prefix, firstSeq)
	for n := 0; ; n++ {
		name := filepath.Join(s.o.Dir, base+".jsonl")
		if n > 0 {
			name = filepath.Join(s.o.Dir, base+"-"+strconv.Itoa(n)+".jsonl")
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) && n < 100 {
			continue
		}
		if err != nil {
			return fmt.Errorf("audit: create %s: %w", name, err)
		}
		if d, err := os.Open(s.o.Dir); err == nil {
			d.Sync() // make the new name durable
			d.Close()
		}
		s.f, s.name, s.size = f, name, 0
		return nil
	}
}

// Sync implements Sink.
func (s *FileSink) Sync() error {
	if s.f == nil {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync %s: %w", s.name, err)
	}
	return nil
}

// Close implements Sink: it syncs and closes the current file, then
// releases the chain's lock.
func (s *FileSink) Close() error {
	var err error
	if s.f != nil {
		err = s.f.Sync()
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
	}
	if lerr := s.lock.release(); err == nil {
		err = lerr
	}
	s.lock = nil
	return err
}

// Files lists the audit files of prefix in dir in chain order (by the
// first seq in their name, then by the -N suffix a name collision gets).
func Files(dir, prefix string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: list %s: %w", dir, err)
	}
	type named struct {
		path   string
		seq, n uint64
	}
	var out []named
	for _, e := range ents {
		seq, n, ok := parseName(e.Name(), prefix)
		if ok && e.Type().IsRegular() {
			out = append(out, named{filepath.Join(dir, e.Name()), seq, n})
		}
	}
	slices.SortFunc(out, func(a, b named) int {
		if a.seq != b.seq {
			return cmpU(a.seq, b.seq)
		}
		return cmpU(a.n, b.n)
	})
	paths := make([]string, len(out))
	for i, f := range out {
		paths[i] = f.path
	}
	return paths, nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseName reads <prefix>-<20 digits>[-N].jsonl.
func parseName(name, prefix string) (seq, n uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return 0, 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".jsonl")
	if !ok || len(rest) < 20 {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(rest[:20], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if rest = rest[20:]; rest != "" {
		if rest[0] != '-' {
			return 0, 0, false
		}
		if n, err = strconv.ParseUint(rest[1:], 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return seq, n, true
}
