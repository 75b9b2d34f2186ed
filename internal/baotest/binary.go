package baotest

import (
	"os"
	"path/filepath"
)

// fallbackBinary is where the shared tools live on the project's machines.
const fallbackBinary = "/work/shared/bin/bao"

// Binary says which bao binary Start runs and whether it is there: the
// PHIGUARD_BAO environment variable if set (even when it names nothing, so
// that a wrong setting shows instead of being papered over), else
// ../shared/bin/bao beside the module's root, else /work/shared/bin/bao.
func Binary() (string, bool) {
	if p := os.Getenv("PHIGUARD_BAO"); p != "" {
		return p, isExecutable(p)
	}
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(filepath.Dir(root), "shared", "bin", "bao")
		if isExecutable(p) {
			return p, true
		}
	}
	return fallbackBinary, isExecutable(fallbackBinary)
}

// Available says whether Start can run a server rather than skip.
func Available() bool {
	_, ok := Binary()
	return ok
}

// moduleRoot walks up from the working directory (a package directory under
// go test) to the directory that holds go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
