//go:build unix

package proxy

import (
	"syscall"

	"go.uber.org/zap"
)

// warnFileLimit says at start when the process may run out of file
// descriptors before the admission caps are reached: then the caps cannot
// keep Accept from failing with EMFILE (which Serve survives, but new
// clients are not served meanwhile). Go has already raised the soft limit
// to the hard one.
func (srv *Server) warnFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	l := srv.cfg.Limits
	// Two per session and per connection in startup (client and backend),
	// one per connection waiting for a startup slot, and a margin for the
	// listeners, the audit files and the key service.
	need := uint64(2*l.MaxConnections + (2+waitingPerSlot)*l.MaxStartupConnections + 64)
	if l.MaxConnections > 0 && rl.Cur < need {
		srv.log.Warn("the file descriptor limit is below what the connection caps allow; raise it (ulimit -n, LimitNOFILE) or lower limits.max_connections",
			zap.Uint64("limit", uint64(rl.Cur)), zap.Uint64("needed", need))
	}
}
