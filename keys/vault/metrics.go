package vault

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Operation label values of phiguard_keys_vault_requests_total.
const (
	opLogin          = "approle_login"
	opKVList         = "kv_list"
	opKVRead         = "kv_read"
	opKVWrite        = "kv_write"
	opKVDestroy      = "kv_destroy"
	opTransitCreate  = "transit_create_key"
	opTransitEncrypt = "transit_encrypt"
	opTransitDecrypt = "transit_decrypt"
	opHealth         = "health"
)

// newRequestsCounter returns the counter, registered on reg if reg is not
// nil; a second provider on the same registry shares the first's counter.
func newRequestsCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phiguard_keys_vault_requests_total",
		Help: "Requests phiguard sent to Vault, by operation; it grows with keys loaded, not with rows.",
	}, []string{"operation"})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return c, nil
}
