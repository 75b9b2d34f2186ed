package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrChainInUse is matched (errors.Is) by the error a FileSink's Resume
// returns when another process (or another sink in this one) writes the
// same chain: the same directory and prefix.
var ErrChainInUse = errors.New("audit chain in use by another writer")

// chainLock is the lock file <dir>/<prefix>.lock, held with flock(2) for
// the life of a FileSink. Two writers of one chain would interleave their
// records and break it (verify reports them as reordered); the lock makes
// the second one refuse to start instead. The kernel drops a flock when
// its holder dies, so a crash leaves no stale lock, only a stale file,
// which the next holder overwrites with its own pid and host.
type chainLock struct {
	f *os.File
}

// lockChain takes the chain's lock or says who holds it.
func lockChain(dir, prefix string) (*chainLock, error) {
	path := filepath.Join(dir, prefix+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, notWritable(dir, err)
	}
	held, err := tryFlock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: lock %s: %w", path, err)
	}
	if !held {
		holder := readHolder(f)
		f.Close()
		return nil, fmt.Errorf("%w: %s (chain %q) is written by %s, found in the lock file %s; "+
			"give each instance its own audit.dir or audit.file_prefix", ErrChainInUse, dir, prefix, holder, path)
	}
	if err := writeHolder(f); err != nil {
		f.Close()
		return nil, notWritable(dir, err)
	}
	return &chainLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a third
// process lock a new file of the same name while a second still waits on
// the old one.
func (l *chainLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}

// writeHolder puts this process's pid, host and start time in the lock
// file, for the error a second writer shows.
func writeHolder(f *os.File) error {
	host, _ := os.Hostname()
	s := fmt.Sprintf("pid=%d\nhost=%s\nsince=%s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(s), 0); err != nil {
		return err
	}
	return f.Sync()
}

// readHolder describes the holder from its lock file: "pid 4242 on host
// db1 since 2026-01-02T03:04:05Z", or "another process" when the file does
// not say (the holder took the lock a moment ago and has not written yet).
func readHolder(f *os.File) string {
	b := make([]byte, 512)
	n, _ := f.ReadAt(b, 0)
	kv := map[string]string{}
	for _, line := range strings.Split(string(b[:n]), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	pid, err := strconv.Atoi(kv["pid"])
	if err != nil {
		return "another process"
	}
	s := "pid " + strconv.Itoa(pid)
	if h := kv["host"]; h != "" {
		s += " on host " + h
	}
	if t := kv["since"]; t != "" {
		s += " since " + t
	}
	return s
}

// probeWritable creates, writes, fsyncs and removes a file in dir, so that
// a directory the process cannot write (permissions, a read-only or full
// file system) stops the start instead of the first statement on PHI.
func probeWritable(dir, prefix string) error {
	path := filepath.Join(dir, prefix+".probe")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return notWritable(dir, err)
	}
	_, err = f.Write([]byte("phiguard audit write probe\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(path); err == nil {
		err = rerr
	}
	if err != nil {
		return notWritable(dir, err)
	}
	return nil
}

func notWritable(dir string, err error) error {
	return fmt.Errorf("audit: the directory %s is not writable (%w): phiguard does not start without a place to record what it does", dir, err)
}
