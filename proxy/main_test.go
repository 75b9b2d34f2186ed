package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test — the fuzz targets' seed runs
// included — leaves a goroutine behind: a session that never ended is a
// leaked goroutine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
