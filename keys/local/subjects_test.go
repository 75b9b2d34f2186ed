package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/keys/subjecttest"
)

func TestSubjectStore(t *testing.T) {
	p, path, _ := newProvider(t)
	subjecttest.Run(t, p)

	// The directory holds tags and tombstones, never a subject id, and
	// nothing is readable by others.
	dir := SubjectDir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group and others", e.Name(), st.Mode().Perm())
		}
	}
}
