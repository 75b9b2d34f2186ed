package main

import (
	"context"
	"errors"

	"github.com/phiguard/phiguard/admin"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/proxy"
)

// The reasons /readyz gives (503 "not ready: <reason>") and the metrics
// label (phiguard_not_ready{reason}). Each says a client connecting now
// would not be served as it should be.
const (
	reasonShuttingDown       = "shutting down"                     // SIGTERM: new clients get 57P03
	reasonListenerDown       = "listener down"                     // the accept loop stopped or Accept fails
	reasonAtCapacity         = "connection limit reached"          // limits.max_connections: new clients get 53300
	reasonKeysWithdrawn      = "keys withdrawn"                    // the kill switch (keys/keywatch): PHI refused with 58000
	reasonAuditUnavailable   = "audit trail unavailable"           // PHI refused with 58030
	reasonBackendUnreachable = "backend unreachable"               // no TCP/TLS, or no answer to a StartupMessage
	reasonBackendStarting    = "backend not accepting connections" // 57P03: starting up, shutting down, in recovery
	reasonBackendFull        = "backend too many connections"      // 53300
	reasonBackendRefusing    = "backend refusing connections"      // any other error before authentication
)

var readinessReasons = []string{reasonShuttingDown, reasonListenerDown, reasonAtCapacity, reasonKeysWithdrawn,
	reasonAuditUnavailable, reasonBackendUnreachable, reasonBackendStarting, reasonBackendFull, reasonBackendRefusing}

// readiness is what /readyz asks, cheapest first: the proxy accepts
// clients; the keys are not withdrawn (serving from memory during a key
// service outage is still ready); the audit trail accepts records; the
// backend would start a session (proxy.Server.CheckBackend: a
// StartupMessage answered by an authentication request).
func readiness(srv *proxy.Server, prot *protection) admin.ReadyCheck {
	return func(ctx context.Context) error {
		if err := srv.CheckListener(); err != nil {
			return &admin.NotReady{Reason: listenerReason(err), Err: err}
		}
		if prot != nil {
			if err := prot.keys.Ready(ctx); err != nil {
				return &admin.NotReady{Reason: reasonKeysWithdrawn, Err: err}
			}
			if a := prot.auditor; a != nil {
				if err := a.Healthy(); err != nil {
					return &admin.NotReady{Reason: reasonAuditUnavailable, Err: err}
				}
			}
		}
		if err := srv.CheckBackend(ctx); err != nil {
			return &admin.NotReady{Reason: backendReason(err), Err: err}
		}
		return nil
	}
}

func listenerReason(err error) string {
	switch {
	case errors.Is(err, proxy.ErrShuttingDown):
		return reasonShuttingDown
	case errors.Is(err, proxy.ErrAtCapacity):
		return reasonAtCapacity
	}
	return reasonListenerDown
}

func backendReason(err error) string {
	var r *proxy.BackendRefusal
	if !errors.As(err, &r) {
		return reasonBackendUnreachable
	}
	switch pgerr.Code(r.Code) {
	case pgerr.CannotConnectNow:
		return reasonBackendStarting
	case pgerr.TooManyConnections:
		return reasonBackendFull
	}
	return reasonBackendRefusing
}
