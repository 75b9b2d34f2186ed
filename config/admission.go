package config

// validateAdmission checks the keys that bound who may connect and for how
// long a connection may stay unauthenticated. An unauthenticated peer must
// never be able to hold an unbounded number of connections, so the
// startup caps and deadlines have no "off" value; max_connections keeps 0
// for "no cap" (sessions are authenticated, and PostgreSQL has its own).
func (c Config) validateAdmission(add func(string, string, ...any)) {
	l := c.Limits
	if l.MaxConnections < 0 {
		add("limits.max_connections", "must not be negative")
	}
	if l.MaxStartupConnections < 1 {
		add("limits.max_startup_connections", "must be at least 1, got %d", l.MaxStartupConnections)
	}
	if l.MaxStartupPerSource < 1 {
		add("limits.max_startup_per_source", "must be at least 1, got %d", l.MaxStartupPerSource)
	} else if l.MaxStartupPerSource > l.MaxStartupConnections && l.MaxStartupConnections >= 1 {
		add("limits.max_startup_per_source", "must not exceed limits.max_startup_connections (%d), got %d",
			l.MaxStartupConnections, l.MaxStartupPerSource)
	}
	if l.StartupTimeout <= 0 {
		add("limits.startup_timeout", "must be positive")
	}
	if c.Backend.AuthTimeout <= 0 {
		add("backend.auth_timeout", "must be positive")
	}
}
