package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Failed startups are logged at most startupLogBurst times per
// startupLogWindow. Anyone who can open a TCP connection can fail a
// startup, so one log line each would let unauthenticated peers fill the
// disk (issue 14: 25,636 lines in one run). Every failure is still counted
// in phiguard_proxy_connections_refused_total; the lines left out are
// counted too and summed up in one line per window.
const (
	startupLogBurst  = 20
	startupLogWindow = 10 * time.Second
)

// logLimiter lets through a fixed number of lines per window and writes a
// summary of the rest when the window ends.
type logLimiter struct {
	log        *zap.Logger
	summary    string             // the summary line's message
	suppressed prometheus.Counter // lines left out; may be nil
	burst      int
	window     time.Duration

	mu      sync.Mutex
	start   time.Time   // of the current window
	used    int         // lines let through in it
	dropped int         // lines left out since the last summary
	timer   *time.Timer // pending summary, nil when none
	stopped bool
}

func newLogLimiter(log *zap.Logger, summary string, suppressed prometheus.Counter, burst int, window time.Duration) *logLimiter {
	return &logLimiter{log: log, summary: summary, suppressed: suppressed, burst: burst, window: window}
}

// write logs the line when the window still has room, and otherwise
// counts it for the summary. A level the logger drops costs nothing.
func (l *logLimiter) write(log *zap.Logger, level zapcore.Level, msg string, fields ...zap.Field) {
	ce := log.Check(level, msg)
	if ce == nil {
		return
	}
	if l.allow() {
		ce.Write(fields...)
	}
}

func (l *logLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) >= l.window {
		l.start, l.used = now, 0
	}
	if l.used < l.burst {
		l.used++
		return true
	}
	l.dropped++
	if l.suppressed != nil {
		l.suppressed.Inc()
	}
	if l.timer == nil && !l.stopped {
		l.timer = time.AfterFunc(l.start.Add(l.window).Sub(now), l.summarize)
	}
	return false
}

// summarize writes one line for the lines left out.
func (l *logLimiter) summarize() {
	l.mu.Lock()
	n := l.dropped
	l.dropped, l.timer = 0, nil
	l.mu.Unlock()
	if n > 0 {
		l.log.Info(l.summary, zap.Int("suppressed", n), zap.Duration("interval", l.window))
	}
}

// stop writes the pending summary now, so a shutdown does not lose it,
// and schedules no more.
func (l *logLimiter) stop() {
	l.mu.Lock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.summarize()
}
