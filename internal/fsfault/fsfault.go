//go:build linux

package fsfault

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Unwritable makes the existing directory dir refuse new files until
// Writable or the end of the test. It skips the test where that is not
// possible.
func Unwritable(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot make %s immutable as root (chattr +i: %v %s)", dir, err, strings.TrimSpace(string(out)))
		}
	} else if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Writable(t, dir) })
	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Skipf("%s is still writable", dir)
	}
}

// Writable undoes Unwritable.
func Writable(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "-i", dir).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v %s", dir, err, out)
		}
		return
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Error(err)
	}
}

// Disk is a small tmpfs mounted over a directory; Fill and Free make it
// full and not.
type Disk struct {
	Dir    string
	filler string
}

// Mount mounts a tmpfs of size bytes (at least a page) over the existing
// directory dir, owner-only, and unmounts it at the end of the test (what
// the test wrote there goes with it). It skips the test without the
// privilege to mount.
func Mount(t testing.TB, dir string, size int) *Disk {
	t.Helper()
	opts := "size=" + strconv.Itoa(size) + ",mode=0700"
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return &Disk{Dir: dir, filler: filepath.Join(dir, ".fsfault-filler")}
}

// Fill writes a file that takes every free byte, so that the next write
// of any size fails with ENOSPC.
func (d *Disk) Fill(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(d.filler, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		_, err := f.Write(buf)
		if errors.Is(err, unix.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Take the last bytes of a partial page too.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			return
		}
	}
}

// Free removes what Fill wrote.
func (d *Disk) Free(t testing.TB) {
	t.Helper()
	if err := os.Remove(d.filler); err != nil {
		t.Fatal(err)
	}
}
