package local

import (
	"context"
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

// TestSubjectBatchCreate: a batch creates every key it can, reports the
// tags that exist already, leaves those untouched and no temporary file.
func TestSubjectBatchCreate(t *testing.T) {
	p, path, _ := newProvider(t)
	ctx := context.Background()
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 32)
	if err := p.CreateSubjectKey(ctx, a, []byte("first")); err != nil {
		t.Fatal(err)
	}
	conflicts, err := p.CreateSubjectKeys(ctx, map[string][]byte{a: []byte("second"), b: []byte("bee")})
	if err != nil || len(conflicts) != 1 || conflicts[0] != a {
		t.Fatalf("conflicts %v, err %v", conflicts, err)
	}
	if w, err := p.GetSubjectKey(ctx, a); err != nil || string(w) != "first" {
		t.Errorf("existing key changed: %q %v", w, err)
	}
	if w, err := p.GetSubjectKey(ctx, b); err != nil || string(w) != "bee" {
		t.Errorf("batch key: %q %v", w, err)
	}
	if _, err := p.CreateSubjectKeys(ctx, map[string][]byte{"../x": nil}); err == nil {
		t.Error("a batch accepted a tag that is not one")
	}
	// One pack and the lock file, both for the owner only.
	entries, _ := os.ReadDir(SubjectDir(path))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if st, err := os.Stat(filepath.Join(SubjectDir(path), e.Name())); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", e.Name(), st.Mode(), err)
		}
	}
	if strings.Join(names, " ") != ".lock pack-000001" {
		t.Errorf("subject directory holds %v, want .lock and pack-000001", names)
	}
}
