//go:build unix

package local

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// flock takes an advisory lock on f (exclusive or shared) and returns its
// release. It blocks until granted: writers hold it for one fsync.
func flock(f *os.File, exclusive bool) (func(), error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("local: lock %s: %w", f.Name(), err)
		}
		return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }, nil
	}
}
