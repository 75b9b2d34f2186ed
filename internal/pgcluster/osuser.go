package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// osUser is the unprivileged account the server runs as when we are root.
// A nil *osUser means "run as ourselves" and makes every method a no-op, so
// callers need not care which case they are in.
type osUser struct {
	name     string
	uid, gid int
}

// serverUser picks the account for initdb and postgres. Both binaries exit
// at once when started as root, to keep a SQL-level compromise from owning
// the machine; we honour that rather than patch around it.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &osUser{name: name, uid: uid, gid: gid}, nil
	}
	return nil, errors.New("running as root, and there is no OS user postgres or nobody to run PostgreSQL as (it refuses to run as root)")
}

func (u *osUser) sysProcAttr() *syscall.SysProcAttr {
	// Pdeathsig: if the test binary dies without calling Stop, the kernel
	// kills the child instead of leaving it behind holding a port.
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if u != nil {
		a.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	return a
}

func (u *osUser) chown(paths ...string) error {
	if u == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			return err
		}
	}
	return nil
}

// makeSearchable lets the server user reach dir: it adds the "others may
// search" bit to dir and every ancestor that would otherwise stop it.
// t.TempDir and os.MkdirTemp make 0700 directories owned by root, which the
// server user could not enter. Only the search bit is added, never read, so
// directory listings stay private.
func (u *osUser) makeSearchable(dir string) error {
	if u == nil {
		return nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if !u.canSearch(fi) {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("make %s searchable for user %s: %w", dir, u.name, err)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

func (u *osUser) canSearch(fi os.FileInfo) bool {
	mode := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return mode&0o001 != 0
	}
	switch {
	case int(st.Uid) == u.uid:
		return mode&0o100 != 0
	case int(st.Gid) == u.gid:
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}
