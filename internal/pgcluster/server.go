package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"github.com/phiguard/phiguard/internal/pgerr"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// server is one running postmaster.
type server struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
}

// startServer runs postgres as a direct child. The start and the wait
// happen on one goroutine locked to its OS thread because Linux sends the
// parent-death signal when the creating *thread* exits, not the process;
// were the Go runtime to retire that thread, a healthy server would be
// killed under a running test (https://go.dev/issue/27505).
func startServer(binDir, dataDir string, u *osUser, log io.Writer) (*server, error) {
	cmd := exec.Command(filepath.Join(binDir, "postgres"), "-D", dataDir)
	cmd.Dir = dataDir
	cmd.Env = childEnv(binDir)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = u.sysProcAttr()

	s := &server{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.done)
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	return s, nil
}

// stop asks for a fast shutdown (SIGINT: roll back open transactions,
// disconnect clients, checkpoint) and kills the server if that takes
// longer than grace.
func (s *server) stop(grace time.Duration) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("signal postgres: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(grace):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return fmt.Errorf("postgres did not shut down within %s; killed it", grace)
}

// errExited reports that the postmaster died before accepting connections.
var errExited = errors.New("postgres exited during start-up")

// waitReady polls until the server answers on its Unix socket. Any answer
// from the server itself, even an authentication failure under a
// caller-supplied pg_hba.conf, means it is ready; only "the database system
// is starting up" (57P03) and connection errors mean keep waiting.
func (s *server) waitReady(ctx context.Context, socketDir string, port int, superuser, password string) error {
	dsn := fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=postgres sslmode=disable connect_timeout=2",
		dsnQuote(socketDir), port, dsnQuote(superuser), dsnQuote(password))
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("readiness check: %w", err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		conn, err := pgconn.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn.Close(ctx)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgerr.Code(pgErr.Code) != pgerr.CannotConnectNow {
			return nil
		}
		last = err
		select {
		case <-s.done:
			return fmt.Errorf("%w (%v)", errExited, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w (last attempt: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// dsnQuote quotes a value for a keyword/value connection string.
func dsnQuote(v string) string {
	out := []byte{'\''}
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' || v[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, v[i])
	}
	return string(append(out, '\''))
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before postgres binds it, which is why Start retries on a
// conflict.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, p, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
