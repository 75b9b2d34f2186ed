package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/audit"
)

// TestServeRefusesAuditChainInUse is issue 14's finding 4 end to end: a
// second `phiguard serve` on the audit directory of a running one used to
// start, and the two interleaved their records until verify called the
// chain broken. It must refuse to start, naming the holder, and the first
// must go on serving.
func TestServeRefusesAuditChainInUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := startServed(t, ctx, killSwitchSchema, killSwitchPolicy)
	second := first.twin(t)
	err := second.start(t, ctx)
	if err == nil {
		// What it did before the lock: write through both, then verify.
		for i, s := range []*served{first, second, first, second} {
			mustExec(t, ctx, s.connect(t, ctx), "INSERT INTO people (id, ssn, first) VALUES ($1, '078-05-1120', 'Ann')", 10+i)
		}
		second.shutdown(t)
		first.shutdown(t)
		var out, errOut bytes.Buffer
		code := dispatch([]string{"audit", "verify", "--config", first.configFile, first.auditDir()}, &out, &errOut)
		t.Fatalf("a second serve started on the same audit directory; verify: exit %d %s%s", code, out.String(), errOut.String())
	}
	if !errors.Is(err, audit.ErrChainInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("want ErrChainInUse naming pid %d, got %v", os.Getpid(), err)
	}
	t.Logf("second instance: %v", err)
	mustExec(t, ctx, first.connect(t, ctx), "INSERT INTO people (id, ssn, first) VALUES (1, '078-05-1120', 'Ann')")
	first.shutdown(t)

	// The lock goes with the first instance.
	if err := first.twin(t).start(t, ctx); err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
}

// twin is a second `phiguard serve` on s's configuration (database, keys,
// audit directory) with an admin listener of its own.
func (s *served) twin(t *testing.T) *served {
	t.Helper()
	raw, err := os.ReadFile(s.configFile)
	if err != nil {
		t.Fatal(err)
	}
	tw := &served{pg: s.pg, dir: s.dir, policyFile: s.policyFile, admin: freeAddr(t), done: make(chan error, 1)}
	tw.configFile = s.configFile + fmt.Sprintf(".twin-%d", time.Now().UnixNano())
	cfg := strings.Replace(string(raw), "admin: "+s.admin, "admin: "+tw.admin, 1)
	if err := os.WriteFile(tw.configFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return tw
}
