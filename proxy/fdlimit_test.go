//go:build linux

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/config"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// TestOutOfFileDescriptorsIsSurvived reproduces finding 1 of issue 14 for
// real: a phiguard process whose descriptor limit (64 here, 20,000 in the
// report) is smaller than the idle connections opened against it. Accept
// fails with EMFILE; the process must keep running and, once the idle
// connections are gone, serve a login. Before the fix it exited with
// "accept4: too many open files". The limit is set on a child process
// (this test binary, run again) so this process keeps its own.
func TestOutOfFileDescriptorsIsSurvived(t *testing.T) {
	if os.Getenv("PHIGUARD_FD_CHILD") != "" {
		t.Skip("the child runs TestFDChild")
	}
	cmd := exec.Command("sh", "-c", `ulimit -n 64 && exec "$0" -test.run='^TestFDChild$' -test.count=1`, os.Args[0])
	cmd.Env = append(os.Environ(), "PHIGUARD_FD_CHILD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	exited := make(chan error, 1)
	var emfile string // the child's accept_errors_total{reason="emfile"}, told at its end
	go func() {
		out := bufio.NewScanner(stdout)
		for out.Scan() {
			if a, ok := strings.CutPrefix(out.Text(), "listening "); ok {
				addrs <- a
			}
			if n, ok := strings.CutPrefix(out.Text(), "emfile "); ok {
				emfile = n
			}
		}
		exited <- cmd.Wait()
	}()
	var waited bool
	defer func() {
		if !waited {
			stdin.Close()
			<-exited
		}
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-exited:
		t.Fatalf("child exited: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not start")
	}

	idle := make([]net.Conn, 0, 200)
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break
		}
		idle = append(idle, c)
	}
	time.Sleep(2 * time.Second) // the child is out of descriptors now
	for _, c := range idle {
		c.Close()
	}
	select {
	case err := <-exited:
		t.Fatalf("phiguard exited while out of file descriptors: %v\n%s", err, stderr.String())
	default:
	}
	c := dialStartup(t, addr)
	if e, err := awaitError(c, 20*time.Second); e != nil || err != nil {
		t.Fatalf("login after the descriptors came back: %+v %v\n%s", e, err, stderr.String())
	}
	c.Close()
	stdin.Close()
	waited = true
	if err := <-exited; err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if emfile == "" || emfile == "0" {
		t.Errorf("the child never ran out of descriptors (emfile accept errors: %q)", emfile)
	}
	t.Logf("accept errors with EMFILE survived: %s", emfile)
}

// TestFDChild is the child of TestOutOfFileDescriptorsIsSurvived: phiguard
// in front of a fake backend, serving until its stdin closes; it exits 3
// if Serve returns, 0 when stdin closes.
func TestFDChild(t *testing.T) {
	if os.Getenv("PHIGUARD_FD_CHILD") == "" {
		t.Skip("run by TestOutOfFileDescriptorsIsSurvived")
	}
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 7, []byte{1, 2, 3, 4})
		io.Copy(io.Discard, c)
	})
	cfg := config.Default()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", ""
	cfg.Backend.Port = fb.port()
	cfg.Limits.StartupTimeout = config.Duration(time.Second)
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	go func() {
		err := srv.Serve(ln)
		fmt.Fprintf(os.Stderr, "Serve returned: %v\n", err)
		os.Exit(3)
	}()
	io.Copy(io.Discard, os.Stdin)
	fmt.Printf("emfile %v\n", gathered(t, reg, "phiguard_proxy_accept_errors_total", "reason", "emfile"))
	os.Exit(0) // no cleanup: the parent may still hold sessions open
}
