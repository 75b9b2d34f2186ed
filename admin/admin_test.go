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
