package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test — the fuzz targets' seed runs
// included — leaves a goroutine behind: a session that never ended is a
// leaked goroutine. The PostgreSQL the access tests start is stopped
// first.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(stopAfter{m})
}

type stopAfter struct{ m *testing.M }

func (s stopAfter) Run() int {
	code := s.m.Run()
	stopAccessPG()
	return code
}
