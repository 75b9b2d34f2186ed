package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/fsfault"
	"github.com/prometheus/client_golang/prometheus"
)

// TestUnwritableDirectoryRefusedAtStart is issue 14's finding 7: phiguard
// started on an audit directory it could not write, then refused every
// PHI statement. New must fail instead, saying which directory.
func TestUnwritableDirectoryRefusedAtStart(t *testing.T) {
	t.Run("read-only", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "audit")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		fsfault.Unwritable(t, dir)
		expectRefused(t, dir)
		fsfault.Writable(t, dir)
		closeA(t, openFile(t, dir, testKey(t), 1<<20, nil))
	})
	t.Run("full", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "audit")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		disk := fsfault.Mount(t, dir, 64<<10)
		closeA(t, openFile(t, dir, testKey(t), 1<<20, nil)) // the lock file exists from now on
		disk.Fill(t)
		expectRefused(t, dir)
		disk.Free(t)
		closeA(t, openFile(t, dir, testKey(t), 1<<20, nil))
	})
}

func expectRefused(t *testing.T, dir string) {
	t.Helper()
	a, err := New(Options{Instance: "test", Key: testKey(t), Registerer: prometheus.NewRegistry(),
		Sink: NewFileSink(FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 1 << 20})})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		a.Close(ctx) // fails: what it queued cannot be written
		t.Fatalf("the auditor started on %s, which it cannot write", dir)
	}
	if !strings.Contains(err.Error(), "the directory "+dir+" is not writable") {
		t.Errorf("error: %v", err)
	}
	t.Logf("refused: %v", err)
}
