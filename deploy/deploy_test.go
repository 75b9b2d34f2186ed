// Package deploy holds the Prometheus rules and Grafana dashboard; its
// test checks them against the metrics phiguard registers.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/phiguard/phiguard/admin"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// registered returns the metric names (with histogram series) phiguard exposes.
func registered(t *testing.T) map[string]bool {
	reg := prometheus.NewRegistry()
	guard.NewMetrics(reg)
	if _, err := admin.NewReadiness(func(context.Context) error { return nil }, reg); err != nil {
		t.Fatal(err)
	}
	a, err := audit.New(audit.Options{Key: audit.MACKey{Secret: keys.NewSecret(make([]byte, 32))}, Sink: audit.NewWriterSink(nopWriter{}), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(t.Context())
	a.Record(&audit.ConnectionOpen{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
	}
	// Vectors with no series yet are not gathered.
	for _, n := range []string{"phiguard_proxy_errors_total", "phiguard_proxy_connections_refused_total", "phiguard_proxy_accept_errors_total", "phiguard_proxy_statements_total", "phiguard_audit_records_total"} {
		names[n] = true
	}
	return names
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

var metricName = regexp.MustCompile(`\b(phiguard_[a-z_]+|up)\b`)

func checkNames(t *testing.T, where, expr string, names map[string]bool) {
	for _, n := range metricName.FindAllString(expr, -1) {
		if !names[n] {
			t.Errorf("%s: %s is not a metric phiguard exposes", where, n)
		}
	}
}

func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile("prometheus/phiguard-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	names := registered(t)
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q in %s lacks alert, expr, severity or summary", r.Alert, g.Name)
			}
			checkNames(t, r.Alert, r.Expr, names)
		}
	}
	if n < 10 {
		t.Errorf("only %d rules", n)
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		out, err := exec.Command(p, "check", "rules", "prometheus/phiguard-rules.yml").CombinedOutput()
		if err != nil {
			t.Errorf("promtool: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed; parsed the rules as YAML only")
	}
}

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/phiguard-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	names := registered(t)
	graphs := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkNames(t, p.Title, q.Expr, names)
		}
	}
	if graphs < 8 {
		t.Errorf("only %d panels", graphs)
	}
}
