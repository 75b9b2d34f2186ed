package local

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// syncFiles makes the files (all in dir) durable with one syncfs(2) of the
// file system holding dir: one flush for a whole batch of new key files.
func syncFiles(dir string, _ []string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("local: syncfs: %w", err)
	}
	return nil
}

// errNoUnnamed: the file system or process cannot make unnamed files;
// the caller writes named temporary files instead.
var errNoUnnamed = errors.New("local: unnamed files unsupported")

// procFD tells whether /proc/self/fd is there: linkUnnamed names a file
// through it (linkat with AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// createUnnamed writes data to a new 0600 file in dir that has no name
// (O_TMPFILE). Profiling the backfill showed that creating named temporary
// files in a directory of 100,000 keys, then removing them, cost more CPU
// than anything else in key creation: an unnamed file takes no directory
// entry until linkUnnamed gives it its final one, and one that never gets
// a name (an error, a crash) disappears by itself.
func createUnnamed(dir string, data []byte) (*os.File, error) {
	if !procFD() {
		return nil, errNoUnnamed
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		return nil, errNoUnnamed
	case err != nil:
		return nil, fmt.Errorf("local: %w", err)
	}
	f := os.NewFile(uintptr(fd), dir+"/(unnamed)")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("local: %w", err)
	}
	return f, nil
}

// linkUnnamed gives the unnamed file f the name path. Like link(2) it
// fails with an error matching fs.ErrExist if path exists.
func linkUnnamed(f *os.File, path string) error {
	old := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Linkat(unix.AT_FDCWD, old, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	return nil
}
