package integration

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	"github.com/phiguard/phiguard/internal/ehrdemo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Every phiguard started by the harness also logs, at debug level, into
// proxyLogs; after the whole package has run, TestMain checks that no PHI
// value the tests sent appears in any of it.
var proxyLogs logBuffer

type logBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) Sync() error { return nil }

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// teeToProxyLogs adds the package-wide debug log to a test's logger.
func teeToProxyLogs(log *zap.Logger) *zap.Logger {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &proxyLogs, zapcore.DebugLevel)
	return zap.New(zapcore.NewTee(log.Core(), core))
}

// testPHI are the protected values the encryption tests write, plus every
// SSN, passport and name of the Synthea sample.
func testPHI() []string {
	values := []string{"999-49-3983", "123-45-6789", "Alice368", "O'Brien", "555-12-3456", "321-54-9876",
		"111-11-1111", "222-22-2222", "078-05-1120", "Hilda", "1984-02-29", "999-00-1234", "O'Thon", "400-00-0001"}
	data, _ := ehrdemo.CSV("patients")
	records, _ := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if len(records) > 1 {
		for _, r := range records[1:] {
			values = append(values, r[3], r[7], r[8]) // SSN, FIRST, LAST
		}
	}
	return values
}

// checkLogsForPHI reports the PHI values found in the proxies' logs.
func checkLogsForPHI() error {
	logs := proxyLogs.String()
	if logs == "" {
		return fmt.Errorf("no proxy log was captured: the privacy check would prove nothing")
	}
	var found []string
	for _, v := range testPHI() {
		if v != "" && strings.Contains(logs, v) {
			found = append(found, fmt.Sprintf("%q", v))
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("PHI values in phiguard's logs: %s", strings.Join(found, ", "))
	}
	return nil
}

// writeTemp writes b to a file in a test directory and returns its path.
func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit-00000000000000000001.jsonl")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
