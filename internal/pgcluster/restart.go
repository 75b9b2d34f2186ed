package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrStopped is returned by Restart after Stop.
var ErrStopped = errors.New("pgcluster: the cluster was stopped")

// Restart stops the server as Stop does (fast shutdown: open transactions
// roll back, clients get FATAL 57P01, a checkpoint is written) and starts
// it again on the same data directory, port and settings, waiting until it
// accepts connections. Data committed before it is still there; sessions
// open before it are gone. This is what an operator's `pg_ctl restart
// -m fast` does, for tests of what a client or a proxy sees meanwhile.
//
// It does not remove the directory and may be called any number of times;
// after Stop it returns ErrStopped. A Stop called during a Restart waits
// for it and then stops the new server. If the port was taken by another
// process in between, Restart fails with the server log's tail and the
// cluster is left stopped (Stop still cleans up).
func (c *Cluster) Restart(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return ErrStopped
	}
	if c.srv != nil {
		if err := c.srv.stop(stopGrace); err != nil {
			return err
		}
	}
	logStart, _ := c.log.Seek(0, io.SeekEnd)
	srv, err := startServer(c.binDir, c.DataDir, c.user, c.logw)
	if err != nil {
		return err
	}
	c.srv = srv
	if err := srv.waitReady(ctx, c.SocketDir, c.Port, c.Superuser, c.Password); err != nil {
		srv.stop(stopGrace)
		return fmt.Errorf("restart: %v; server log:\n%s", err, tail([]byte(c.readLog(logStart)), 20))
	}
	return nil
}

// Pid is the process id of the running postmaster (0 if none), for tests
// that watch it.
func (c *Cluster) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return 0
	}
	select {
	case <-c.srv.done:
		return 0
	default:
	}
	return c.srv.cmd.Process.Pid
}
