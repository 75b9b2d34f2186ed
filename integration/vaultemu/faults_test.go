package vaultemu

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestSealed(t *testing.T) {
	emu, srv := start(t)
	emu.Seal()
	code, resp := call(t, srv, "root", "GET", "secret/data/a", ``)
	if code != 503 || errorsOf(resp)[0] != "Vault is sealed" {
		t.Errorf("sealed: %d %v", code, resp)
	}
	if code, resp := call(t, srv, "", "GET", "sys/health", ``); code != 503 || resp["sealed"] != true {
		t.Errorf("health sealed: %d %v", code, resp)
	}
	if code, resp := call(t, srv, "", "GET", "sys/health?sealedcode=299", ``); code != 299 || resp["sealed"] != true {
		t.Errorf("health sealedcode: %d %v", code, resp)
	}
	emu.Unseal()
	if code, _ := call(t, srv, "root", "GET", "secret/data/a", ``); code != 404 {
		t.Errorf("unsealed: %d", code)
	}
}

func TestFailNext(t *testing.T) {
	emu, srv := start(t)
	emu.FailNext(2, 502)
	for i := 0; i < 2; i++ {
		if code, resp := call(t, srv, "root", "GET", "secret/data/a", ``); code != 502 || len(errorsOf(resp)) != 1 {
			t.Errorf("injected %d: %d %v", i, code, resp)
		}
	}
	if code, _ := call(t, srv, "root", "GET", "secret/data/a", ``); code != 404 {
		t.Errorf("after faults: %d", code)
	}
	if got := emu.Requests()["kv/read"]; got != 3 {
		t.Errorf("counted %d kv reads", got)
	}
}

func TestLatency(t *testing.T) {
	emu, srv := start(t)
	emu.SetLatency(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/sys/health", nil)
	_, err := srv.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow answer: %v", err)
	}
	emu.SetLatency(0)
	if code, _ := call(t, srv, "", "GET", "sys/health", ``); code != 200 {
		t.Errorf("after latency: %d", code)
	}
}
