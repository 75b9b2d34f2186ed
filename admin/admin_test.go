package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "phiguard_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Inc()
	var readyErr error
	srv := httptest.NewServer(Handler(reg, func(context.Context) error { return readyErr }, zap.NewNop(), false))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "phiguard_test_total 1") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz while ready: %d", code)
	}
	readyErr = errors.New("dial backend 10.0.0.1:5432: refused")
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while not ready: %d", code)
	}
	if strings.Contains(body, "10.0.0.1") {
		t.Errorf("/readyz leaked the backend address: %q", body)
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		srv := httptest.NewServer(Handler(prometheus.NewRegistry(), func(context.Context) error { return nil }, zap.NewNop(), enabled))
		resp, err := http.Get(srv.URL + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if want := map[bool]int{false: 404, true: 200}[enabled]; resp.StatusCode != want {
			t.Errorf("pprof enabled=%v: status %d, want %d", enabled, resp.StatusCode, want)
		}
	}
}

// TestReadinessMetrics: every check, by /readyz or by a scrape, sets
// phiguard_ready and phiguard_not_ready{reason} and counts itself in
// phiguard_readiness_checks_total{result}; the reason is in the body.
func TestReadinessMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var readyErr error
	r, err := NewReadiness(func(context.Context) error { return readyErr }, reg, "backend unreachable", "audit trail unavailable")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(reg, r.Check, zap.NewNop(), false))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	expectMetrics := func(want ...string) {
		t.Helper()
		_, body := get("/metrics")
		for _, w := range want {
			if !strings.Contains(body, w+"\n") {
				t.Errorf("/metrics lacks %q", w)
			}
		}
	}
	// A scrape alone runs a check: ready, and every declared reason at 0.
	expectMetrics("phiguard_ready 1", `phiguard_not_ready{reason="backend unreachable"} 0`,
		`phiguard_not_ready{reason="audit trail unavailable"} 0`, `phiguard_readiness_checks_total{result="ready"} 1`)

	readyErr = &NotReady{Reason: "audit trail unavailable", Err: errors.New("write /var/audit: no space left on device")}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != "not ready: audit trail unavailable\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	expectMetrics("phiguard_ready 0", `phiguard_not_ready{reason="audit trail unavailable"} 1`,
		`phiguard_not_ready{reason="backend unreachable"} 0`, `phiguard_readiness_checks_total{result="audit trail unavailable"} 2`)

	readyErr = &NotReady{Reason: "backend unreachable", Err: errors.New("dial 10.0.0.1:5432: refused")}
	expectMetrics(`phiguard_not_ready{reason="audit trail unavailable"} 0`, `phiguard_not_ready{reason="backend unreachable"} 1`)
	readyErr = errors.New("no reason given")
	expectMetrics(`phiguard_not_ready{reason="unknown"} 1`, `phiguard_not_ready{reason="backend unreachable"} 0`)
	readyErr = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	expectMetrics("phiguard_ready 1", `phiguard_not_ready{reason="unknown"} 0`)
}
