package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/phiguard/phiguard/keys"
)

// Sentinels for conditions specific to Vault. Each Error also matches the
// provider-neutral sentinel of package keys that says what to do about it:
// ErrSealed and ErrTimeout match keys.ErrUnavailable; a 403 matches
// keys.ErrPermissionDenied; a check-and-set mismatch keys.ErrConflict.
var (
	ErrSealed  = errors.New("vault is sealed")
	ErrTimeout = errors.New("vault did not answer in time")
)

// Error is a failed Vault request. Its message names the operation, the
// path and the status, never a token, a secret id or key material.
type Error struct {
	Op     string  // "kv read", "transit decrypt", ...
	Path   string  // the Vault path, below /v1/
	Status int     // HTTP status, 0 if none was received
	Detail string  // Vault's error messages, or the transport error
	kinds  []error // sentinels matched by errors.Is
}

func (e *Error) Error() string {
	var summary string
	switch {
	case errors.Is(e, ErrSealed):
		summary = "vault is sealed"
	case errors.Is(e, ErrTimeout):
		summary = "no answer in time"
	case errors.Is(e, keys.ErrPermissionDenied):
		summary = "permission denied"
	case e.Status == 0:
		summary = "unreachable"
	default:
		summary = strings.ToLower(http.StatusText(e.Status))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vault: %s %s: %s", e.Op, e.Path, summary)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Detail != "" && !strings.EqualFold(e.Detail, summary) {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Unwrap lets errors.Is match ErrSealed, ErrTimeout and keys' sentinels.
func (e *Error) Unwrap() []error { return e.kinds }

// classify turns an error from the Vault client into an *Error.
func classify(op, path string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Path: path}
	var re *vaultapi.ResponseError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		e.Status = re.StatusCode
		e.Detail = strings.Join(re.Errors, "; ")
		switch {
		case re.StatusCode == http.StatusForbidden:
			e.kinds = []error{keys.ErrPermissionDenied}
		case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(e.Detail), "sealed"):
			e.kinds = []error{ErrSealed, keys.ErrUnavailable}
		case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
			e.kinds = []error{keys.ErrUnavailable}
		case re.StatusCode == http.StatusBadRequest && strings.Contains(e.Detail, "check-and-set"):
			e.kinds = []error{keys.ErrConflict}
		case re.StatusCode == http.StatusBadRequest && refusalOps[op]:
			// Transit refusing to unwrap (its key deleted, or its
			// min_decryption_version raised past the stored key's) or
			// AppRole refusing a destroyed secret id: definite.
			e.kinds = []error{keys.ErrRevoked}
		}
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		e.kinds = []error{ErrTimeout, keys.ErrUnavailable, context.DeadlineExceeded}
	case errors.Is(err, context.Canceled):
		e.Detail = "canceled"
		e.kinds = []error{context.Canceled}
	default:
		// Transport errors: drop the *url.Error wrapper, whose text repeats
		// the URL, and keep the cause (connection refused, TLS, DNS ...).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e.Detail = err.Error()
		e.kinds = []error{keys.ErrUnavailable}
	}
	return e
}

// refusalOps are the operations whose 400 answer is Vault refusing
// phiguard its keys rather than phiguard sending a malformed request.
var refusalOps = map[string]bool{"transit decrypt": true, "AppRole login": true}

func isConflict(err error) bool { return errors.Is(err, keys.ErrConflict) }
