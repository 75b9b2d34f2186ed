// Package keywatch is phiguard's kill switch: it keeps the serving proxy's
// keyring in step with what the key service still allows, so that
// revoking phiguard's access in Vault (or removing its local master key)
// stops decryption within a bounded time, without a restart.
//
// A Watcher asks the provider again on an interval (keys.vault.recheck or
// keys.local.recheck, default 30s; SIGHUP asks at once) with a function
// that loads every data key afresh (keysconfig.Revalidator). What it
// learns moves it between three states:
//
//	serving   the last recheck succeeded. A keyring that differs from the
//	          one in use (a version added or retired, a record replaced)
//	          is swapped in.
//	offline   the service did not answer (unreachable, sealed, timeout:
//	          keys.ErrUnavailable and anything not definite). The keys in
//	          memory stay in use for the offline grace (keys.vault.
//	          offline_grace, default 15m; 0: not at all), counted and
//	          warned about; past it the keys are withdrawn.
//	withdrawn the service definitely refused (keys.Definite: a revoked or
//	          expired token, a deleted or disabled transit key, a removed
//	          key record, a local keyring that no longer opens), or the
//	          grace ran out. The holder gets keys.Withdrawn(reason): every
//	          use of a key fails with keys.ErrWithdrawn naming the key id,
//	          which the proxy answers with SQLSTATE 58000.
//
// Any successful recheck, from offline or withdrawn, swaps the fresh
// keyring in: recovery needs no restart. Every change of state is logged,
// counted (phiguard_keys_state, phiguard_keys_rechecks_total,
// phiguard_keys_withdrawals_total), reported to Options.Event (serve
// writes it to the audit trail as a key event) and visible to /readyz
// through Ready.
//
// The bound: a revocation is seen at the next recheck, so no statement
// starting later than one interval (plus the recheck's own duration,
// bounded by Options.Timeout) after it decrypts; an outage is tolerated
// for the grace, then fails closed the same way.
package keywatch
