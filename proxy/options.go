package proxy

import (
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/guard"
)

// Option configures a Server beyond its config file.
type Option func(*Server)

// WithProtection makes the server encrypt and decrypt per p.
func WithProtection(p *guard.Protection) Option {
	return func(s *Server) { s.protect = p }
}

// WithAuditor makes the server record every session and statement in a,
// and refuse statements on protected tables while a cannot record them.
func WithAuditor(a *audit.Auditor) Option {
	return func(s *Server) { s.auditor = a }
}

// ReloadPolicyFile reloads the policy from path (guard.Shared's
// ReloadPolicyFile). It returns the problems of a rejected file; the
// policy in force is then unchanged.
func (srv *Server) ReloadPolicyFile(path string) error { return srv.guard.ReloadPolicyFile(path) }
